//! The crate's modules form no import cycle (discovery and the router both depend on `action`, not on each
//! other). Edges come from `crate::module` paths and from names the crate root re-exports.

use std::collections::{BTreeMap, BTreeSet};

fn modules() -> BTreeMap<String, String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// `pub use module::{A, B}` in lib.rs: which module each root name comes from.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in lib.lines().filter_map(|l| l.strip_prefix("pub use ")) {
        let Some((module, names)) = line.trim_end_matches(';').split_once("::") else {
            continue;
        };
        for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
            out.insert(name.trim().to_string(), module.to_string());
        }
    }
    out
}

fn edges(
    source: &str,
    names: &BTreeMap<String, String>,
    mods: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let code: String = source
        .split("#[cfg(test)]")
        .next()
        .unwrap_or(source)
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| {
                c.is_alphanumeric()
                    || *c == '_'
                    || *c == '{'
                    || *c == ','
                    || *c == ' '
                    || *c == '\n'
            })
            .collect();
        for word in path.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if mods.contains(word) {
                out.insert(word.to_string());
                break;
            }
            if let Some(m) = names.get(word) {
                out.insert(m.clone());
            }
        }
    }
    out
}

#[test]
fn the_modules_form_no_cycle() {
    let mods = modules();
    let names = reexports(&mods["lib"]);
    let set: BTreeSet<String> = mods.keys().filter(|m| *m != "lib").cloned().collect();
    let graph: BTreeMap<String, BTreeSet<String>> = set
        .iter()
        .map(|m| {
            let mut e = edges(&mods[m], &names, &set);
            e.remove(m);
            (m.clone(), e)
        })
        .collect();
    assert!(
        graph["discovery"].contains("action") && graph["router"].contains("action"),
        "{graph:?}"
    );
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!("import cycle: {:?} -> {m}", &path[at..]);
        }
        path.push(m.to_string());
        for next in &graph[m] {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}
