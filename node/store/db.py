"""The store as the rest of the node opens it: :class:`Store` (the interface every user of the store types
against, from :mod:`alertnode.store.backend`) and :func:`open_store`, which picks the backend the
configuration names. SQLite (:mod:`alertnode.store.sqlite`) is the default; PostgreSQL
(:mod:`alertnode.store.postgres`) when ``[store] url`` is a ``postgresql://`` URL.
"""

from __future__ import annotations

from pathlib import Path

from alertnode.errors import StoreError
from alertnode.store.backend import Conn as Conn
from alertnode.store.backend import Store as Store
from alertnode.store.config import StoreSection
from alertnode.store.postgres import PostgresStore as PostgresStore
from alertnode.store.sqlite import SqliteStore as SqliteStore
from alertnode.store.sqlite import _split_sql as _split_sql
from alertnode.store.sqlite import inspect as inspect
from alertnode.store.sqlite import migrate as migrate
from alertnode.store.sqlite import migrations as migrations

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def open_store(section: StoreSection, data_dir: Path, *, application_name: str = "alertnode") -> Store:
    """The store ``section`` names (not opened yet): SQLite in ``data_dir`` when its url is empty."""
    url = section.url.strip()
    if not url:
        return SqliteStore(data_dir / "alertnode.db", writer_process=section.writer_process)
    if is_postgres(url):
        return PostgresStore(url, password=section.password.get_secret_value(), readers=section.pool_size,
                             connect_timeout_s=section.connect_timeout_s, application_name=application_name)
    raise StoreError(f"store.url: {url.split(':', 1)[0]!r} is not a store this node knows (empty or postgresql://)")
