#!/usr/bin/env bash
# Command 2 of the README: install everything (Debian peers and Python packages), check the code
# (ruff, mypy) and run the whole test suite against the real peers. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh test
echo "== ruff"; .venv/bin/ruff check node tests tools
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; exec .venv/bin/pytest -q "$@"
