#!/usr/bin/env bash
# Builds the connector component (profile `component`: LTO, stripped, cold crates
# built for size; see Cargo.toml) and packages it with its descriptor as
# twitter-connector-<version>.zip.
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

# The WSO2-style package: the descriptor (pointing at the component beside
# it) and the component. Python's zipfile CLI is everywhere python3 is; zip(1)
# is the fallback.
version=$(sed -n 's/.*<component name="twitter"[^>]* version="\([^"]*\)".*/\1/p' connector.xml)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
sed 's|wasm="dist/twitter-connector.wasm"|wasm="twitter-connector.wasm"|' connector.xml > "$stage/connector.xml"
cp dist/twitter-connector.wasm "$stage/"
zip_path="$PWD/dist/twitter-connector-$version.zip"
rm -f "$zip_path"
if command -v python3 >/dev/null 2>&1; then
    (cd "$stage" && python3 -m zipfile -c "$zip_path" connector.xml twitter-connector.wasm)
else
    (cd "$stage" && zip -q "$zip_path" connector.xml twitter-connector.wasm)
fi
echo "packaged dist/twitter-connector-$version.zip"
