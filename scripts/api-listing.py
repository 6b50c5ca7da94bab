#!/usr/bin/env python3
"""Prints a crate's public API, one sorted line per item, from rustdoc's JSON (scripts/api-check)."""
import json
import sys

doc = json.load(open(sys.argv[1]))
index = doc["index"]
crate = doc["index"][str(doc["root"])]["name"] if str(doc["root"]) in index else "crate"


def ty(t):
    """A type, written as Rust."""
    if t is None:
        return "()"
    (kind, v), = t.items()
    if kind == "resolved_path":
        return v["path"] + args(v.get("args"))
    if kind == "primitive":
        return v
    if kind == "generic":
        return v
    if kind == "borrowed_ref":
        return "&" + ("mut " if v["is_mutable"] else "") + ty(v["type"])
    if kind == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ")"
    if kind == "slice":
        return "[" + ty(v) + "]"
    if kind == "array":
        return "[" + ty(v["type"]) + "; " + str(v["len"]) + "]"
    if kind == "impl_trait":
        return "impl " + " + ".join(bound(b) for b in v)
    if kind == "dyn_trait":
        return "dyn " + " + ".join(p["trait"]["path"] + args(p["trait"].get("args")) for p in v["traits"])
    if kind == "qualified_path":
        return "<" + ty(v["self_type"]) + ">::" + v["name"]
    if kind == "raw_pointer":
        return "*" + ("mut " if v["is_mutable"] else "const ") + ty(v["type"])
    if kind == "function_pointer":
        return "fn(" + ", ".join(ty(x[1]) for x in v["sig"]["inputs"]) + ") -> " + ty(v["sig"]["output"])
    return kind


def args(a):
    if not a:
        return ""
    if "angle_bracketed" in a:
        parts = []
        for x in a["angle_bracketed"]["args"]:
            if "type" in x:
                parts.append(ty(x["type"]))
            elif "lifetime" in x:
                parts.append(x["lifetime"])
            else:
                parts.append(json.dumps(x, sort_keys=True))
        for c in a["angle_bracketed"].get("constraints", []):
            b = c.get("binding") or {}
            if "equality" in b and "type" in b["equality"]:
                parts.append(c["name"] + " = " + ty(b["equality"]["type"]))
            elif "constraint" in b:
                parts.append(c["name"] + ": " + " + ".join(bound(x) for x in b["constraint"]))
            else:
                parts.append(c["name"] + " = " + json.dumps(b, sort_keys=True))
        return "<" + ", ".join(parts) + ">" if parts else ""
    if "parenthesized" in a:
        p = a["parenthesized"]
        return "(" + ", ".join(ty(x) for x in p["inputs"]) + ")" + (" -> " + ty(p["output"]) if p.get("output") else "")
    return ""


def bound(b):
    if "trait_bound" in b:
        return b["trait_bound"]["trait"]["path"] + args(b["trait_bound"]["trait"].get("args"))
    if "outlives" in b:
        return b["outlives"]
    return json.dumps(b, sort_keys=True)


def generics(g):
    params = []
    for p in g["params"]:
        if "type" in p["kind"]:
            bounds = p["kind"]["type"]["bounds"]
            params.append(p["name"] + (": " + " + ".join(bound(b) for b in bounds) if bounds else ""))
        elif "const" in p["kind"]:
            params.append("const " + p["name"])
    return "<" + ", ".join(params) + ">" if params else ""


def sig(f):
    s = f["sig"]
    header = f.get("header", {})
    prefix = "async " if header.get("is_async") else ""
    def param(n, t):
        if n != "self":
            return n + ": " + ty(t)
        return {"Self": "self", "&Self": "&self", "&mut Self": "&mut self"}.get(ty(t), "self: " + ty(t))

    ins = ", ".join(param(n, t) for n, t in s["inputs"])
    out = " -> " + ty(s["output"]) if s["output"] is not None else ""
    return prefix + "fn" + generics(f["generics"]) + "(" + ins + ")" + out


lines = set()


def public(item):
    return item["visibility"] == "public"


def walk(module_id, path):
    module = index[str(module_id)]
    for child_id in module["inner"]["module"]["items"]:
        item = index.get(str(child_id))
        if item is None:
            continue
        (kind, v), = item["inner"].items()
        if kind == "use":
            if not public(item):
                continue
            target = index.get(str(v["id"])) if v.get("id") is not None else None
            name = v["name"]
            if v["is_glob"]:
                lines.add(f"{path}::* = {v['source']}")
            elif target is not None and target["crate_id"] == 0:
                describe(target, f"{path}::{name}")
            else:
                lines.add(f"pub use {path}::{name} = {v['source']}")
            continue
        if not public(item):
            continue
        describe(item, f"{path}::{item['name']}")


def describe(item, path):
    (kind, v), = item["inner"].items()
    if kind == "module":
        lines.add(f"mod {path}")
        walk(item["id"], path)
    elif kind == "function":
        lines.add(f"{path}: {sig(v)}")
    elif kind == "struct":
        lines.add(f"struct {path}{generics(v['generics'])}")
        k = v["kind"]
        fields = k.get("plain", {}).get("fields", []) if isinstance(k, dict) else []
        if isinstance(k, dict) and "tuple" in k:
            fields = [f for f in k["tuple"] if f is not None]
        for fid in fields:
            f = index[str(fid)]
            if public(f):
                lines.add(f"{path}.{f['name']}: {ty(f['inner']['struct_field'])}")
        impls(v["impls"], path)
    elif kind == "enum":
        lines.add(f"enum {path}{generics(v['generics'])}")
        for vid in v["variants"]:
            var = index[str(vid)]
            vk = var["inner"]["variant"]["kind"]
            shape = ""
            if isinstance(vk, dict) and "struct" in vk:
                shape = " { " + ", ".join(
                    index[str(f)]["name"] + ": " + ty(index[str(f)]["inner"]["struct_field"]) for f in vk["struct"]["fields"]
                ) + " }"
            elif isinstance(vk, dict) and "tuple" in vk:
                shape = "(" + ", ".join(ty(index[str(f)]["inner"]["struct_field"]) for f in vk["tuple"] if f is not None) + ")"
            lines.add(f"{path}::{var['name']}{shape}")
        impls(v["impls"], path)
    elif kind == "trait":
        lines.add(f"trait {path}{generics(v['generics'])}")
        for iid in v["items"]:
            it = index[str(iid)]
            (ik, iv), = it["inner"].items()
            if ik == "function":
                lines.add(f"{path}::{it['name']}: {sig(iv)}" + (" (provided)" if iv.get("has_body") else ""))
            else:
                lines.add(f"{path}::{it['name']} ({ik})")
    elif kind == "constant":
        lines.add(f"const {path}: {ty(v['type'])}")
    elif kind == "static":
        lines.add(f"static {path}: {ty(v['type'])}")
    elif kind == "type_alias":
        lines.add(f"type {path} = {ty(v['type'])}")
    else:
        lines.add(f"{kind} {path}")


def impls(ids, path):
    for iid in ids:
        imp = index[str(iid)]["inner"]["impl"]
        if imp["is_synthetic"] or imp["blanket_impl"] is not None:
            continue
        if imp["trait"] is not None:
            lines.add(f"impl {imp['trait']['path']}{args(imp['trait'].get('args'))} for {path}")
            continue
        for mid in imp["items"]:
            m = index[str(mid)]
            if not public(m):
                continue
            (mk, mv), = m["inner"].items()
            if mk == "function":
                lines.add(f"{path}::{m['name']}: {sig(mv)}")
            elif mk == "constant":
                lines.add(f"const {path}::{m['name']}: {ty(mv['type'])}")


walk(doc["root"], index[str(doc["root"])]["name"])
print(f"# The public API of {crate}, from rustdoc's JSON (scripts/api-check). Sorted; one item per line.")
for line in sorted(lines):
    print(line)
