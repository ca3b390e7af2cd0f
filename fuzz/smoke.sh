#!/usr/bin/env bash
# A short run of every fuzz target (the README's test command calls it):
# FUZZ_SECS seconds each (default 10), from the committed seeds, seed 1.
# A longer run: FUZZ_SECS=600 fuzz/smoke.sh (docs/reliability.md has the
# figures). Needs the nightly toolchain (cargo fuzz builds with sanitizers);
# cargo-fuzz is installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECS:-10}

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz (a few minutes once)"
    cargo install --quiet cargo-fuzz --locked
fi

run() {
    local dir=$1 target=$2
    # New inputs go to a scratch corpus; the committed seeds are read only.
    local scratch
    scratch=$(mktemp -d)
    cargo +nightly fuzz run --fuzz-dir "$dir" "$target" "$scratch" "$dir/seeds/$target" -- \
        -seed=1 -max_total_time="$secs" -print_final_stats=1 2>&1 |
        grep -E '^(stat::number_of_executed_units|==[0-9]+==|SUMMARY|.*panicked|.*ERROR)' |
        sed "s/^/fuzz $target: /"
    local rc=${PIPESTATUS[0]}
    rm -rf "$scratch"
    return "$rc"
}

status=0
for t in responses operations text; do run fuzz "$t" || status=1; done
for t in flows serve; do run crates/integrator/fuzz "$t" || status=1; done
exit $status
