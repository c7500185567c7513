#!/usr/bin/env bash
# Runs e2e.mjs with the official openai npm client against `ponder serve`.
# Usage: run.sh PONDER_BIN SHARED_DIR WORK_DIR. Installs the locked packages into WORK_DIR
# once (npm ci, again only when the lockfile changes). Exit 77 (skipped) if node is absent.
set -euo pipefail
bin=$1 shared=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIPPED: node/npm not installed (scripts/setup.sh installs them)"
  exit 77
fi
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/e2e.mjs" "$work/"
if ! cmp -s "$here/package-lock.json" "$work/.installed-lock" || [ ! -d "$work/node_modules/openai" ]; then
  (cd "$work" && npm ci --no-audit --no-fund --prefer-offline)
  cp "$here/package-lock.json" "$work/.installed-lock"
fi
cd "$work"
PONDER_BIN=$bin PONDER_SHARED=$shared exec node e2e.mjs
