"""Tests of event routing and storm control (node/jobs/events*.py)."""
