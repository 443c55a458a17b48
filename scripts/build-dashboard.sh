#!/usr/bin/env bash
# Builds the web dashboard: the front end (dashboard/, Vite) into dashboard/dist, then the
# dashboard component, which compiles dist into its .wasm (components/dashboard/build.rs).
# `bourse build` runs this as the dashboard's build command. With --assets-only it stops after
# the front end (CI, before linting the component).
set -euo pipefail
cd "$(dirname "$0")/.."

assets_only=false
case "${1:-}" in
  "") ;;
  --assets-only) assets_only=true ;;
  *) echo "usage: scripts/build-dashboard.sh [--assets-only]" >&2; exit 2 ;;
esac

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "build-dashboard: $tool is not installed; the dashboard needs Node.js 18 or newer with npm" \
         "(Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
done

(
  cd dashboard
  # npm ci only when the installed tree is missing or older than the lock file.
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
  npm run build
)

if [ "$assets_only" = false ]; then
  cargo build --target wasm32-wasip2 --release -p dashboard
fi
