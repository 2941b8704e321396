"""Tests of the Python client (node/client)."""
