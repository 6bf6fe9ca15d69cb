"""Schema migrations: numbered ``.sql`` files, one folder per SQL dialect.

Layout::

    locator/stores/migrations/sqlite/0001_facilities.sql
    locator/stores/migrations/sqlite/0002_partners.sql
    ...
    locator/stores/migrations/postgis/0001_facilities.sql
    ...

A file is named ``NNNN_<name>.sql``; ``NNNN`` is its version (numbers run 1, 2, 3, …
without gaps) and its first line is ``-- <title>``, a one-line description (PostGIS
records it in ``schema_migrations.name``). The rest is the DDL, run once, in version
order, inside the transaction of :meth:`locator.stores.sql.SQLStore.init_schema`, which
records each applied version in ``schema_migrations``.

Rules: a released file is never edited (databases already recorded its version; the
tests compare released files with the texts they were released with) — a schema change
is a new file with the next number, in **both** dialect folders. The two dialects
number independently (SQLite's 2 is partners, PostGIS's 2 is feedback, as released).

The files are package data, read with :mod:`importlib.resources` relative to this
package, so they are found from a source checkout and from an installed wheel.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import NamedTuple

#: The dialect folders.
DIALECTS = ("sqlite", "postgis")

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class Migration(NamedTuple):
    """One schema step.

    Attributes
    ----------
    version : int
        From 1, in application order.
    name : str
        The file's title line (without ``-- ``).
    script : str
        The whole file: SQL statements separated by ``;`` (comments allowed).
    """

    version: int
    name: str
    script: str


def load(dialect: str, root: Traversable | None = None) -> list[Migration]:
    """Read the migrations of one dialect, in version order.

    Parameters
    ----------
    dialect : str
        ``sqlite`` or ``postgis``.
    root : Traversable or Path, optional
        The folder holding the dialect folders (default: this package).

    Returns
    -------
    list of Migration
        Versions 1..n.

    Raises
    ------
    ValueError
        For an unknown dialect, a misnamed file, a missing title line, or versions that
        do not run 1, 2, 3, … (a gap or a duplicate).
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}")
    found: list[Migration] = []
    for entry in (files(__name__) if root is None else root).joinpath(dialect).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_RE.match(entry.name)
        if match is None:
            raise ValueError(f"migration {dialect}/{entry.name}: name it NNNN_<name>.sql")
        script = entry.read_text(encoding="utf-8")
        first = script.split("\n", 1)[0]
        if not first.startswith("-- ") or not first[3:].strip():
            raise ValueError(f"migration {dialect}/{entry.name}: the first line must be '-- <title>'")
        found.append(Migration(int(match.group(1)), first[3:].strip(), script))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"{dialect} migrations must be numbered 1, 2, 3, … without gaps: {versions}")
    return found
