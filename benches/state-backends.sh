#!/usr/bin/env bash
# The local state directory against the shared DynamoDB backend on the emulator (moto): the same deployment
# (gradual 50 → 100 %, 3 s bakes polled every 500 ms, traffic only) with each, and what the shared backend
# adds: DynamoDB calls per record entry and per poll, wall time per deployment. Prints Markdown.
# Reproduce: benches/state-backends.sh   (RUNS=3 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BLUEGREEN_TEST_AWS_ENDPOINT:-}" ]; then
  exec scripts/with-moto "$0" "$@"
fi
bin="${BLUEGREEN_BIN:-}"
if [ -z "$bin" ]; then cargo build --quiet --release -p bluegreen-cli; bin="$PWD/target/release/bluegreen"; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$BLUEGREEN_TEST_PYTHON" bluegreen-aws/tests/fixtures/seed_env.py "$BLUEGREEN_TEST_AWS_ENDPOINT" st web >/dev/null
"$BLUEGREEN_TEST_PYTHON" - "$BLUEGREEN_TEST_AWS_ENDPOINT" <<'PY'
import sys, boto3
c = boto3.client("dynamodb", endpoint_url=sys.argv[1], region_name="us-east-1")
c.create_table(TableName="bench-state", BillingMode="PAY_PER_REQUEST",
  AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
  KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
PY
cat > "$work/bluegreen.toml" <<TOML
environment = "st"
application = "web"
provider = "aws"
[aws]
region = "us-east-1"
endpoint_url = "$BLUEGREEN_TEST_AWS_ENDPOINT"
[gates]
interval = "500ms"
min_requests = 1
no_data = "pass"
min_minutes = 0
TOML
cd "$work"
"$bin" adopt >/dev/null
"$BLUEGREEN_TEST_PYTHON" - "$bin" "${RUNS:-3}" <<'PY'
import json, subprocess, sys, time, statistics
bin, runs = sys.argv[1], int(sys.argv[2])
deploy = [bin, "--output", "json", "deploy", "--steps", "50,100", "--bake", "3s", "--type", "traffic-only"]
backends = {"file": [], "dynamodb": ["--state-backend", "dynamodb", "--state-table", "bench-state"]}
rows = {}
for name, flags in backends.items():
    walls, dyn, entries, polls = [], [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run(deploy[:3] + flags + deploy[3:], capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        assert out.returncode == 0, out.stdout + out.stderr
        lines = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
        events = [l["data"]["event"]["type"] for l in lines if l["type"] == "event"]
        summary = [l for l in lines if l["type"] == "summary"][-1]["data"]
        calls = summary["api_calls"]
        dyn.append(sum(v for k, v in calls.items() if k in ("GetItem", "PutItem", "DeleteItem", "Query", "TransactWriteItems")))
        entries.append(len(events)); polls.append(events.count("polled"))
        subprocess.run([bin, "rollback", "--to", "blue"] + flags, capture_output=True)
        if name == "dynamodb":
            tw = calls.get("TransactWriteItems", 0)
    rows[name] = (statistics.median(walls), statistics.median(dyn), statistics.median(entries), statistics.median(polls))
f, d = rows["file"], rows["dynamodb"]
print("| backend | wall time (median) | record entries | polls | DynamoDB calls | calls per entry |")
print("|---|---|---|---|---|---|")
print(f"| state directory | {f[0]:.2f} s | {f[2]:.0f} | {f[3]:.0f} | 0 | 0 |")
print(f"| DynamoDB (shared) | {d[0]:.2f} s | {d[2]:.0f} | {d[3]:.0f} | {d[1]:.0f} | {d[1]/d[2]:.2f} |")
print(f"\nThe shared backend adds {d[0]-f[0]:+.2f} s to a deployment of {d[2]:.0f} entries ({(d[0]-f[0])/d[2]*1000:+.1f} ms per entry); "
      f"TransactWriteItems per entry: {tw/d[2]:.2f}.")
PY
