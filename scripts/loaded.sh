#!/usr/bin/env bash
# The whole suite (`cargo test`) run RUNS times in a row (10 by default) while `stress-ng --cpu 2`
# loads both cores: the check of TESTING.md's "Flakiness". Start a mutation run beside it
# (scripts/mutants.sh) for the load of a busy build machine. One line per run: its time and
# result; each run's output in target/loaded/run-<n>.log. Exits non-zero if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-10}
if ! command -v stress-ng >/dev/null; then
    echo "stress-ng is needed: apt-get install stress-ng (Debian), or see its project's site" >&2
    exit 2
fi

# Built before the load starts: the runs measure the tests, not the compiler.
cargo test --no-run --quiet
mkdir -p target/loaded
# Bounded: the load stops by itself even if this script is killed.
stress-ng --cpu 2 --timeout "$((runs * 900))s" --quiet &
load=$!
trap 'kill "$load" 2>/dev/null || true' EXIT

failures=0
for n in $(seq 1 "$runs"); do
    start=$(date +%s)
    if cargo test >"target/loaded/run-$n.log" 2>&1; then
        result=passed
    else
        result=FAILED
        failures=$((failures + 1))
    fi
    echo "run $n of $runs at $(git rev-parse --short HEAD): $(($(date +%s) - start)) s, $result"
done
echo "$failures of $runs runs failed; their output is in target/loaded/"
[[ $failures == 0 ]]
