#!/usr/bin/env bash
# Command 1 of the README: install everything, then start the node.
# With no argument it runs on its embedded defaults (loopback listeners, SQLite in the data directory,
# generated secrets) and, with no channel configured, in sandbox mode: SMS, e-mail and calls go to peers the
# node runs on 127.0.0.1 (nothing leaves the machine), and it prints the API key (at the first start) and the
# address of the sandbox phone page. Any arguments are passed to `alertnode serve` (e.g. --config FILE,
# --sandbox to try a configured node against the sandbox, --no-sandbox).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh runtime
exec .venv/bin/alertnode serve "$@"
