#!/usr/bin/env bash
# bluegreen against the AWS CLI on the same local emulator (moto): the same questions and the same changes,
# timed with hyperfine (Debian package) using the AWS CLI from PyPI. Prints medians and ratios as Markdown.
# Reproduce: benches/vs-awscli.sh   (needs hyperfine; installs awscli into target/awscli-venv)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BLUEGREEN_TEST_AWS_ENDPOINT:-}" ]; then
  exec scripts/with-moto "$0" "$@"
fi
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install hyperfine" >&2; exit 2; }
awsvenv="${BLUEGREEN_AWSCLI_VENV:-$PWD/target/awscli-venv}"
[ -x "$awsvenv/bin/aws" ] || { python3 -m venv "$awsvenv" && "$awsvenv/bin/pip" install --quiet awscli; }
bin="${BLUEGREEN_BIN:-}"
if [ -z "$bin" ]; then cargo build --quiet --release -p bluegreen-cli; bin="$PWD/target/release/bluegreen"; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fixture=$("$BLUEGREEN_TEST_PYTHON" bluegreen-aws/tests/fixtures/seed_env.py "$BLUEGREEN_TEST_AWS_ENDPOINT" cmp web)
field() { "$BLUEGREEN_TEST_PYTHON" -c "import json,sys; d=json.loads(sys.argv[1]); print(eval('d'+sys.argv[2]))" "$fixture" "$1"; }
L=$(field '["listener"]'); B=$(field '["target_groups"]["blue"]'); G=$(field '["target_groups"]["green"]')
export AWS_ENDPOINT_URL="$BLUEGREEN_TEST_AWS_ENDPOINT" BLUEGREEN_ENDPOINT_URL="$BLUEGREEN_TEST_AWS_ENDPOINT" AWS_DEFAULT_REGION=us-east-1
export BLUEGREEN_ENVIRONMENT=cmp BLUEGREEN_APPLICATION=web BLUEGREEN_PROVIDER=aws BLUEGREEN_STATE_DIR="$work/state"
aws="$awsvenv/bin/aws"
"$bin" adopt >/dev/null
weights() { printf '[{"Type":"forward","ForwardConfig":{"TargetGroups":[{"TargetGroupArn":"%s","Weight":%s},{"TargetGroupArn":"%s","Weight":%s}]}}]' "$B" "$1" "$G" "$2"; }

run() { # name, prepare, aws command, bluegreen command
  hyperfine --style none --warmup 2 --runs "${RUNS:-15}" --prepare "$2" --export-json "$work/$1.json" \
    -n awscli "$3" -n bluegreen "$4" >/dev/null
  "$BLUEGREEN_TEST_PYTHON" - "$work/$1.json" "$1" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
a, b = r["awscli"]["median"], r["bluegreen"]["median"]
print(f"| {sys.argv[2]} | {a*1000:.0f} ms | {b*1000:.0f} ms | {a/b:.1f}x |")
PY
}

echo "| task | AWS CLI (median) | bluegreen (median) | bluegreen faster by |"
echo "|---|---|---|---|"
run "split + target health of both colors" "true" \
  "$aws elbv2 describe-listeners --listener-arns $L --output json >/dev/null && $aws elbv2 describe-target-health --target-group-arn $B --output json >/dev/null && $aws elbv2 describe-target-health --target-group-arn $G --output json >/dev/null" \
  "$bin status >/dev/null"
run "10 % shift" "$aws elbv2 modify-listener --listener-arn $L --default-actions '$(weights 100 0)' >/dev/null" \
  "$aws elbv2 modify-listener --listener-arn $L --default-actions '$(weights 90 10)' >/dev/null" \
  "$bin shift --target green --percentage 10 >/dev/null"
run "emergency rollback" "$aws elbv2 modify-listener --listener-arn $L --default-actions '$(weights 90 10)' >/dev/null" \
  "$aws elbv2 modify-listener --listener-arn $L --default-actions '$(weights 100 0)' >/dev/null" \
  "$bin rollback --to blue >/dev/null"
