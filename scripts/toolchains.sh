#!/usr/bin/env bash
# Installs the pinned toolchains of `bourse new`'s Python and TypeScript templates and the
# OpenAPI validator the tests use, and prints the PATH that finds them (eval "$(scripts/toolchains.sh)"):
#   - componentize-py 0.25.1 (PyPI), in its own virtual environment under
#     ${BOURSE_TOOLS:-~/.cache/bourse-tools}/py: Python components;
#   - openapi-spec-validator 0.9.0 (PyPI), in the same environment: the test that checks
#     /api/openapi.json against the OpenAPI 3.1 schema;
#   - Node.js 18+ and npm (Debian's nodejs and npm): TypeScript components, whose build installs
#     jco 1.35.0 into the component's folder from its package-lock.json.
# Progress goes to stderr; only the export line goes to stdout. Nothing is installed twice.
set -euo pipefail

tools="${BOURSE_TOOLS:-$HOME/.cache/bourse-tools}"
componentize_py=0.25.1
spec_validator=0.9.0

if ! "$tools/py/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $componentize_py"; then
  echo "toolchains: componentize-py $componentize_py into $tools/py" >&2
  if ! python3 -m venv "$tools/py" >&2; then
    echo "toolchains: python3 -m venv failed: install Python 3.10+ with venv (apt-get install python3-venv)" >&2
    exit 1
  fi
  "$tools/py/bin/pip" install -q "componentize-py==$componentize_py" >&2
fi

# Read whole before matching: grep -q stopping early would fail pip with SIGPIPE (pipefail).
installed="$("$tools/py/bin/pip" show openapi-spec-validator 2>/dev/null || true)"
if ! grep -qx "Version: $spec_validator" <<<"$installed"; then
  echo "toolchains: openapi-spec-validator $spec_validator into $tools/py" >&2
  "$tools/py/bin/pip" install -q "openapi-spec-validator==$spec_validator" >&2
fi

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "toolchains: $tool is missing: install Node.js 18+ and npm (apt-get install nodejs npm)" >&2
    exit 1
  fi
done

echo "export PATH=\"$tools/py/bin:\$PATH\""
