"""Facility stores: the contract (:mod:`.base`) and its backends."""

from __future__ import annotations

from typing import Any

from locator.stores.contract import FacilityStore


def open_store(url: str, **options: Any) -> FacilityStore:
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
