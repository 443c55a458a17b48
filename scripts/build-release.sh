#!/usr/bin/env bash
# Builds what the container ships, into DEST (default: dist/). The Dockerfile runs exactly
# this script, and CI runs it too, so the image's build steps are tested on machines without
# a Docker engine. Layout of DEST:
#   bin/bourse                         the host
#   spin.toml, wit/                    the manifest and the contracts it is checked against
#   target/wasm32-wasip2/release/*.wasm  the components, at the paths spin.toml names
#   data/artifacts/*.cwasm             components precompiled for this host binary
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-dist}"
case "$dest" in /*) ;; *) dest="$PWD/$dest" ;; esac

echo "build-release: host"
cargo build --release --locked -p bourse
bin="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/bourse"

echo "build-release: components"
"$bin" build

rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/target/wasm32-wasip2/release" "$dest/data"
cp "$bin" "$dest/bin/bourse"
cp spin.toml "$dest/spin.toml"
cp -r wit "$dest/wit"
# Every component source the manifest names, at the same relative path.
# Components, and the dependencies Spin composes into them (kept so the shipped manifest also
# runs with --spin-compat).
{
  sed -n 's/^source = "\(target\/wasm32-wasip2\/release\/[^"]*\.wasm\)"$/\1/p' spin.toml
  sed -n 's/.*path = "\(target\/wasm32-wasip2\/release\/[^"]*\.wasm\)".*/\1/p' spin.toml
} | sort -u | while read -r wasm; do
  cp "$wasm" "$dest/$wasm"
done

echo "build-release: precompiling components"
(cd "$dest" && BOURSE_DATA_DIR="$dest/data" ./bin/bourse precompile)
echo "build-release: done: $dest"
