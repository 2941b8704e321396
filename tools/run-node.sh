#!/usr/bin/env bash
# Command 1 of the README: install everything, then start the node.
# With no argument it runs on its embedded defaults (loopback listeners, SQLite in the data
# directory, generated secrets); any arguments are passed to `alertnode serve` (e.g. --config FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh runtime
exec .venv/bin/alertnode serve "$@"
