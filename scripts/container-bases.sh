#!/usr/bin/env bash
# Makes the base images the Dockerfile names, from Debian's packages, on a machine that
# reaches no image registry (podman pulls nothing when the names are already local):
#
#   docker.io/library/debian:bookworm-slim     debootstrap --variant=minbase bookworm
#   docker.io/library/rust:1.95-slim-bookworm  the same plus gcc, libc6-dev, ca-certificates,
#                                              and this machine's Rust 1.95.0 toolchain (with
#                                              wasm32-wasip2) under /usr/local/{rustup,cargo},
#                                              laid out as the official image lays it out
#
# An image that exists is kept (--force makes both again). Needs root, podman and debootstrap
# (apt-get install podman debootstrap).
set -euo pipefail

force=0
[ "${1:-}" = "--force" ] && force=1
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
debian=docker.io/library/debian:bookworm-slim
rust=docker.io/library/rust:1.95-slim-bookworm
toolchain="${RUSTUP_HOME:-$HOME/.rustup}/toolchains/1.95.0-x86_64-unknown-linux-gnu"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

have() { [ "$force" = 0 ] && podman image exists "$1"; }

bootstrap() { # dir, extra packages
  echo "== debootstrap bookworm into $1${2:+ (with $2)}"
  debootstrap --variant=minbase ${2:+--include="$2"} bookworm "$1" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  # What the official slim images leave out: package lists and caches.
  rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb
}

if have "$debian"; then
  echo "== $debian is there"
else
  bootstrap "$work/debian" ""
  tar -C "$work/debian" -c . | podman import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$debian" >/dev/null
  echo "== made $debian"
fi

if have "$rust"; then
  echo "== $rust is there"
else
  [ -d "$toolchain/lib/rustlib/wasm32-wasip2" ] || {
    echo "container-bases.sh: $toolchain with the wasm32-wasip2 target is needed (rustup target add wasm32-wasip2)" >&2
    exit 1
  }
  bootstrap "$work/rust" "gcc,libc6-dev,ca-certificates"
  # The build stage downloads crates and npm packages: it trusts what this machine trusts (a
  # registry proxy's own CA, say), as the official image trusts the public CAs.
  if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    cp /usr/local/share/ca-certificates/*.crt "$work/rust/usr/local/share/ca-certificates/"
    chroot "$work/rust" update-ca-certificates >/dev/null
  fi
  mkdir -p "$work/rust/usr/local/rustup/toolchains" "$work/rust/usr/local/cargo/bin"
  # The toolchain without its documentation (half its size).
  tar -C "$(readlink -f "$toolchain")" --exclude=./share/doc -c . \
    | (mkdir -p "$work/rust/usr/local/rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu" \
       && tar -C "$work/rust/usr/local/rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu" -x)
  cp "$(command -v rustup)" "$work/rust/usr/local/cargo/bin/rustup"
  for proxy in cargo rustc rustdoc cargo-fmt rustfmt cargo-clippy clippy-driver; do
    ln -s rustup "$work/rust/usr/local/cargo/bin/$proxy"
  done
  printf 'version = "12"\ndefault_toolchain = "1.95.0-x86_64-unknown-linux-gnu"\nprofile = "minimal"\n' \
    >"$work/rust/usr/local/rustup/settings.toml"
  tar -C "$work/rust" -c . | podman import \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV RUST_VERSION=1.95.0' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    - "$rust" >/dev/null
  echo "== made $rust"
fi
