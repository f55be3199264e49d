#!/usr/bin/env bash
# Runs the OAuth client interoperability tests against the built debug binary.
# Assumes `cargo build` has already run.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

venv="target/interop-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt

export GATEHOUSE_BIN="$repo_root/target/debug/gatehouse"
if [ ! -x "$GATEHOUSE_BIN" ]; then
    echo "run.sh: $GATEHOUSE_BIN is missing; run 'cargo build' first" >&2
    exit 1
fi

# -p no:cacheprovider: leave no .pytest_cache behind in the repo root.
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/interop "$@"
