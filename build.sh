#!/usr/bin/env bash
# Builds the connector component (release: size-optimized, LTO, stripped) and
# packages it with its descriptor as twitter-connector-<version>.zip.
set -euo pipefail
cd "$(dirname "$0")"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

cargo build --quiet --target wasm32-wasip2 --profile component -p twitter-connector
wasm=target/wasm32-wasip2/component/twitter_connector.wasm
mkdir -p dist
cp "$wasm" dist/twitter-connector.wasm
size=$(wc -c < dist/twitter-connector.wasm)
echo "built dist/twitter-connector.wasm: $size bytes ($((size / 1024)) KiB)"
