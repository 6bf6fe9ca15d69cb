"""Stores: the contract, one shared SQL implementation, and two dialects.

Modules
-------
:mod:`~locator.stores.contract`
    The store contract, written once: :class:`~locator.stores.contract.Store` (=
    ``FacilityStore`` + ``PartnerStore`` + ``AccountStore`` + ``CheckedBatchStore`` +
    ``ReportStore``), its value types and semantics. Services are typed with ``Store``.
:mod:`~locator.stores.sql`
    :class:`~locator.stores.sql.SQLStore`: the whole contract in shared SQL (``?``
    placeholders), over a small dialect interface (sessions and transactions, value
    encodings, ``IN``/containment clauses, unique-violation detection, the migration
    transaction).
:mod:`~locator.stores.sqlite`, :mod:`~locator.stores.postgis`
    Only what really differs: connections (per-thread SQLite connections vs a psycopg
    pool), write serialisation (``BEGIN IMMEDIATE`` vs the revision row lock), value
    types (JSON text vs ``text[]``/``timestamptz``); PostGIS alone has the
    geography/GiST KNN ``store_nearest``, binary ``COPY`` imports, the
    ``LISTEN``/``NOTIFY`` revision listener and advisory-lock migrations.
:mod:`~locator.stores.migrations`
    The schema as numbered ``.sql`` files per dialect and their loader.

How to extend
-------------
* **A schema change** is one new file per dialect, with the next number in each folder:
  ``migrations/sqlite/NNNN_<name>.sql`` and ``migrations/postgis/NNNN_<name>.sql``,
  first line ``-- <title>``. Nothing else registers it; ``init_schema`` applies it once.
  Never edit a released file (``tests/test_migrations.py`` holds the released texts).
* **A new table's operations** are written once, as methods of ``SQLStore`` in
  ``sql.py`` (declare them abstract in ``contract.py`` first, so both stores must have
  them and the conformance suite can test them). Use ``self._read()`` /
  ``self._transaction()`` (or ``self._write()`` for a facility change that takes a
  revision), ``?`` placeholders, and the value hooks (``_instant``, ``_array``,
  ``_json``, ``_in``...) for anything whose column type differs between the dialects.
  Only a statement that cannot be written in shared SQL belongs in a dialect module.
"""

from __future__ import annotations

from typing import Any

from locator.stores.contract import Store


def open_store(url: str, **options: Any) -> Store:
    """Open the store named by a database URL.

    Parameters
    ----------
    url : str
        ``sqlite:///path`` or ``postgresql://…``.
    **options
        Backend options (PostGIS: ``pool_min``, ``pool_max``, ``timeout_s``).

    Raises
    ------
    ValueError
        For an unsupported URL scheme.
    StoreUnavailableError
        If the database cannot be reached.
    """
    if url.startswith("sqlite:///"):
        from locator.stores.sqlite import SQLiteStore, path_from_url

        return SQLiteStore(path_from_url(url))
    if url.startswith(("postgresql://", "postgres://")):
        from locator.stores.postgis import PostGISStore  # type: ignore[import-not-found,unused-ignore]

        return PostGISStore(url, **options)  # type: ignore[no-any-return,unused-ignore]
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r}")
