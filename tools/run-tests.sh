#!/usr/bin/env bash
# Command 2 of the README: install everything (Debian peers and Python packages), check the code
# (ruff, mypy) and run the whole test suite against the real peers. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh test
echo "== ruff"; .venv/bin/ruff check node tests tools
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/pytest -q "$@"
# node-level tests again with every node's store on PostgreSQL (a private cluster the tests start)
echo "== pytest, nodes on PostgreSQL"
ALERTNODE_TEST_STORE=postgresql exec .venv/bin/pytest -q tests/api/test_jobs.py tests/peers/test_sms_node.py \
    tests/peers/test_sms_restart.py tests/peers/test_alert_lifecycle_e2e.py tests/events/test_events_e2e.py \
    tests/events/test_storm_e2e.py tests/peers/test_escalation_e2e.py tests/peers/test_mail_node.py \
    tests/api/test_resource_api.py tests/api/test_links.py tests/console/test_console.py \
    tests/peers/test_sms_receipts_e2e.py tests/peers/test_mail_answers.py
