#!/usr/bin/env bash
# Fails when src/gen is not exactly what `npm run proto` generates from proto/,
# and when the contract breaks buf's lint rules. Generates into a temporary
# directory, so the working tree is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
buf lint
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
buf generate -o "$tmp"
if ! diff -r src/gen "$tmp/src/gen"; then
  echo "src/gen is stale: run 'npm run proto' and commit the result." >&2
  exit 1
fi
echo "proto: src/gen is up to date"
