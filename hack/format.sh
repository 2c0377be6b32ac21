#!/usr/bin/env bash
# Formats every TypeScript and JavaScript file of the tree with the project's prettier settings
# (.prettierrc.json; `make lint` checks the same set). After a merge: run it, then commit the result alone.
set -euo pipefail
cd "$(dirname "$0")/.."
node_modules/.bin/prettier --log-level warn --write '**/*.{ts,js}'
git diff --stat | tail -1
