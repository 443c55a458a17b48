#!/usr/bin/env bash
# Bourse against `wasmtime serve` on the same components (tests/src/bin/http_bench.rs).
# Installs what the comparison needs when it is missing: wrk (Debian) and wasmtime-cli 48.0.8
# (the Wasmtime Bourse links; crates.io, about 20 minutes to compile on two cores). Then builds
# the components, the hello fixture and the release binary, and runs the bench with "$@".
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  echo "== installing wrk"
  if command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk
  else
    echo "scripts/http-bench.sh: wrk is missing; install it (Debian/Ubuntu: apt-get install wrk)" >&2
    exit 1
  fi
fi

wasmtime_version="48.0.8"
wasmtime="${WASMTIME:-$(command -v wasmtime || echo "$HOME/.cargo/bin/wasmtime")}"
if ! "$wasmtime" --version 2>/dev/null | grep -q "$wasmtime_version"; then
  echo "== installing wasmtime-cli $wasmtime_version (cargo install; this takes a while)"
  cargo install wasmtime-cli --version "$wasmtime_version" --locked
  wasmtime="$HOME/.cargo/bin/wasmtime"
fi

echo "== building components, the hello fixture and the release binary"
cargo run -q -p bourse -- build
cargo build -q --target wasm32-wasip2 --release -p hello-fixture
cargo build -q --release -p bourse -p bourse-tests --bin bourse --bin http-bench

echo "== http-bench"
exec target/release/http-bench --wasmtime "$wasmtime" "$@"
