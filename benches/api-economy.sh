#!/usr/bin/env bash
# AWS API calls per operation, per step and per poll for each strategy, against a local moto.
# Reproduce: benches/api-economy.sh   (prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/with-moto cargo run -q -p bluegreen-aws --example api_economy
