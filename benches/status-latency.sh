#!/usr/bin/env bash
# `bluegreen status` on the local emulator (moto), against one API round trip and against the guide's boto3
# script asking the same question (benches/guide_status.py). Medians of RUNS (default 30) runs each, after a
# warm-up; prints a Markdown table for docs/performance.md.
# Reproduce: benches/status-latency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BLUEGREEN_TEST_AWS_ENDPOINT:-}" ]; then
  exec scripts/with-moto "$0" "$@"
fi
bin="${BLUEGREEN_BIN:-}"
if [ -z "$bin" ]; then cargo build --quiet --release -p bluegreen-cli; bin="$PWD/target/release/bluegreen"; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$BLUEGREEN_TEST_PYTHON" bluegreen-aws/tests/fixtures/seed_env.py "$BLUEGREEN_TEST_AWS_ENDPOINT" lat web >/dev/null
export AWS_ENDPOINT_URL="$BLUEGREEN_TEST_AWS_ENDPOINT" BLUEGREEN_ENDPOINT_URL="$BLUEGREEN_TEST_AWS_ENDPOINT"
export BLUEGREEN_ENVIRONMENT=lat BLUEGREEN_APPLICATION=web BLUEGREEN_PROVIDER=aws BLUEGREEN_STATE_DIR="$work/state"
"$bin" adopt >/dev/null
"$BLUEGREEN_TEST_PYTHON" - "$bin" "${RUNS:-30}" <<'PY'
import os, statistics, subprocess, sys, time
import boto3
bin, runs = sys.argv[1], int(sys.argv[2])
def median_ms(f, n=runs, warm=3):
    for _ in range(warm):
        f()
    samples = []
    for _ in range(n):
        t = time.perf_counter(); f(); samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)
elb = boto3.client("elbv2", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
arn = elb.describe_load_balancers(Names=["lat-web-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
listener = elb.describe_listeners(LoadBalancerArn=arn)["Listeners"][0]["ListenerArn"]
rtt = median_ms(lambda: elb.describe_listeners(ListenerArns=[listener]), n=runs * 3)
run = lambda *cmd: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
status = median_ms(lambda: run(bin, "status"))
guide = median_ms(lambda: run(sys.executable, "benches/guide_status.py", "lat", "web"))
print("| measure | median | vs one round trip |")
print("|---|---|---|")
print(f"| one API round trip (DescribeListeners, warm boto3 client, in process) | {rtt:.1f} ms | 1.0x |")
print(f"| `bluegreen status` (whole process) | {status:.1f} ms | {status / rtt:.1f}x |")
print(f"| the guide's boto3 script, same question (whole process) | {guide:.1f} ms | {guide / rtt:.1f}x |")
print(f"\n`bluegreen status` is {guide / status:.1f}x faster than the guide's script.")
PY
