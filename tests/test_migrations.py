"""Schema migrations as numbered .sql files: the released DDL, unchanged; old databases stay valid.

``tests/legacy_migrations.py`` holds the migration texts exactly as released (Python strings
in the store modules before the stores shared one SQL base). These tests prove that

* the files carry the same DDL and (PostGIS) the same recorded names;
* a database built by the old code, with rows in the old code's encodings, is recognised
  as up to date (nothing re-applied, ``schema_migrations`` untouched), reads back
  correctly and takes new writes; and its schema is the schema the new code creates.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from locator.core.domain import Facility
from locator.core.hours import TZ
from locator.stores import migrations
from locator.stores import postgis as postgis_module
from locator.stores import sqlite as sqlite_module
from locator.stores.contract import Actor, ListFilter
from locator.stores.postgis import PostGISStore
from locator.stores.sql import SQLStore
from locator.stores.sqlite import SQLiteStore

from .conftest import fresh_database
from .legacy_migrations import (
    POSTGIS,
    POSTGIS_SCHEMA_MIGRATIONS,
    SQLITE,
    SQLITE_SCHEMA_MIGRATIONS,
)


def _sql_words(script: str) -> str:
    """The statements of a script without ``--`` comments, whitespace collapsed."""
    text = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    return " ".join(text.split())


def _norm(value: Any) -> Any:
    return " ".join(value.split()) if isinstance(value, str) else value


# --- the files ------------------------------------------------------------------------------


def test_released_sqlite_migrations_are_the_released_ddl() -> None:
    files = migrations.load("sqlite")
    assert len(files) >= len(SQLITE)
    for m, legacy in zip(files, SQLITE, strict=False):
        assert _sql_words(m.script) == _sql_words(legacy), f"sqlite migration {m.version} changed"


def test_released_postgis_migrations_are_the_released_ddl_and_names() -> None:
    files = migrations.load("postgis")
    assert len(files) >= len(POSTGIS)
    for m, (version, name, script) in zip(files, POSTGIS, strict=False):
        assert (m.version, m.name) == (version, name)
        assert _sql_words(m.script) == _sql_words(script), f"postgis migration {version} changed"


def test_the_stores_apply_the_files() -> None:
    assert sqlite_module.MIGRATIONS == migrations.load("sqlite")
    assert postgis_module.MIGRATIONS == migrations.load("postgis")
    # Every schema change comes as one file per dialect.
    assert len(sqlite_module.MIGRATIONS) == len(postgis_module.MIGRATIONS)
    for path in Path(migrations.__file__).parent.glob("*/*.sql"):
        assert re.fullmatch(r"\d{4}_[a-z0-9_]+\.sql", path.name), path


def _write_migrations(root: Path, files: dict[str, str]) -> Path:
    (root / "sqlite").mkdir(parents=True)
    for name, text in files.items():
        (root / "sqlite" / name).write_text(text, encoding="utf-8")
    return root


def test_loader_reads_versions_in_order_with_titles(tmp_path: Path) -> None:
    root = _write_migrations(
        tmp_path,
        {
            "0002_b.sql": "-- second step\nCREATE TABLE b (x int);\n",
            "0001_a.sql": "-- first step\nCREATE TABLE a (x int);\n",
            "README.txt": "not a migration",
        },
    )
    loaded = migrations.load("sqlite", root)
    assert [(m.version, m.name) for m in loaded] == [(1, "first step"), (2, "second step")]
    assert loaded[1].script == "-- second step\nCREATE TABLE b (x int);\n"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"0001_a.sql": "-- a\n", "0003_c.sql": "-- c\n"}, "without gaps"),
        ({"0001_a.sql": "-- a\n", "0001_b.sql": "-- b\n"}, "without gaps"),
        ({"0002_b.sql": "-- b\n"}, "without gaps"),
        ({"1_a.sql": "-- a\n"}, "NNNN_<name>.sql"),
        ({"0001_A.sql": "-- a\n"}, "NNNN_<name>.sql"),
        ({"0001_a.sql": "CREATE TABLE a (x int);\n"}, "first line"),
        ({"0001_a.sql": "--\nCREATE TABLE a (x int);\n"}, "first line"),
    ],
)
def test_loader_rejects_bad_numbering_names_and_titles(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        migrations.load("sqlite", _write_migrations(tmp_path, files))


def test_loader_rejects_an_unknown_dialect() -> None:
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        migrations.load("mysql")


# --- databases built by the old code -----------------------------------------------------------

#: What the old code had written into the legacy databases below.
OLD_FACILITY = Facility(
    id="old-1",
    kind="warm_station",
    name="旧驿站",
    address="海淀区学院路",
    lon=116.3376,
    lat=39.9925,
    amenities=frozenset({"toilet", "drinking_water"}),
    opening_hours="Mo-Su 08:00-20:00",
    status="open",
    district_adcode="110108",
    district_name="海淀区",
    verified_at=datetime(2025, 2, 28, 10, 0, tzinfo=TZ),
    updated_at=datetime(2025, 3, 1, 8, 0, tzinfo=UTC),
    version=1,
    source="legacy",
    demo=True,
)
APPLIED_AT = "2025-01-01T00:00:00+00:00"


def _check_reads_and_writes_of_old_rows(store: SQLStore[Any]) -> None:
    """The old rows read back as the old code wrote them, and new writes work on top."""
    assert store.revision() == 2
    got = store.get("old-1")
    assert got == OLD_FACILITY and got.verified_at == OLD_FACILITY.verified_at
    changes = store.changes_since(0)
    assert [f.id for f in changes.changed] == ["old-1"] and changes.deleted_ids == ["gone-1"]
    # modified_since compares instants with the old code's text (SQLite) as well.
    updated = OLD_FACILITY.updated_at
    assert updated is not None
    assert store.list(ListFilter(modified_since=updated)) == []
    assert [f.id for f in store.list(ListFilter(modified_since=updated - timedelta(seconds=1)))] == ["old-1"]
    assert store.count(ListFilter(amenities=frozenset({"toilet"}))) == 1
    [entry] = store.history("old-1")
    assert (entry.action, entry.actor, entry.at) == ("import", "import", updated)
    assert entry.changes["name"] == [None, "旧驿站"]
    partner = store.get_partner("acme")
    assert partner.origins == ("https://a.example", "https://b.example")
    assert partner.created_at == datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert store.partner_by_key_hash("b" * 64) == partner
    user = store.get_user("ann")
    assert user.facilities == frozenset({"old-1"}) and user.active
    token = store.find_token("a" * 64)
    assert token is not None and token.user_name == "ann" and token.revoked_at is None
    [report] = store.list_reports()
    assert (report.id, report.facility_id, report.status) == (1, "old-1", "open")
    assert [fb.id for fb in store.list_feedback("old-1", since=datetime(2025, 3, 1, 8, 59, tzinfo=UTC))] == [
        1
    ]

    stored = store.update(OLD_FACILITY.replace(name="新名字"), 1, Actor("ann", "renamed"))
    assert (stored.version, store.revision()) == (2, 3)
    assert [e.action for e in store.history("old-1")] == ["import", "update"]
    store.resolve_report(1, "resolved", "none", Actor("ann"))
    assert store.list_reports() == []
    store.revoke_token("tok_1")
    token = store.find_token("a" * 64)
    assert token is not None and token.revoked_at is not None


def _build_legacy_sqlite(path: Path) -> None:
    """A database made by the old SQLiteStore: its migrations, its bookkeeping, its encodings."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(SQLITE_SCHEMA_MIGRATIONS)
        for version, script in enumerate(SQLITE, start=1):
            for statement in sqlite_module._split_sql(script):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (version, APPLIED_AT)
            )
        # Rows as the old code encoded them: isoformat() text (no microseconds when they
        # are 0), verified_at in its own offset, JSON arrays, 0/1 booleans.
        conn.execute("UPDATE meta SET value = 2 WHERE key = 'revision'")
        conn.execute(
            "INSERT INTO facilities (id, kind, name, address, lon, lat, amenities, opening_hours, "
            "host_type, phone, status, status_until, status_reason, district_adcode, district_name, "
            "subdistrict, verified_at, updated_at, version, source, demo, revision) VALUES "
            "('old-1', 'warm_station', '旧驿站', '海淀区学院路', 116.3376, 39.9925, "
            "'[\"drinking_water\", \"toilet\"]', 'Mo-Su 08:00-20:00', '', '', 'open', NULL, '', "
            "'110108', '海淀区', NULL, '2025-02-28T10:00:00+08:00', '2025-03-01T08:00:00+00:00', "
            "1, 'legacy', 1, 1)"
        )
        conn.execute(
            "INSERT INTO facility_history (facility_id, revision, version, action, actor, reason, at, "
            "changes) VALUES ('old-1', 1, 1, 'import', 'import', '', '2025-03-01T08:00:00+00:00', "
            '\'{"name": [null, "旧驿站"]}\')'
        )
        conn.execute("INSERT INTO tombstones (id, revision) VALUES ('gone-1', 2)")
        conn.execute(
            "INSERT INTO partners VALUES ('acme', '[\"https://a.example\", \"https://b.example\"]', 100, "
            "'" + "b" * 64 + "', 'wsl_bbbbbb', '2025-01-02T03:04:05.123456+00:00', "
            "'2025-01-02T03:04:05.123456+00:00', NULL)"
        )
        conn.execute(
            "INSERT INTO users VALUES ('ann', 'admin', '$argon2id$x', '[]', '[\"old-1\"]', 1, "
            "'2025-01-02T03:04:05+00:00')"
        )
        conn.execute(
            "INSERT INTO api_tokens VALUES ('tok_1', 'ann', '"
            + "a" * 64
            + "', 'ci', '2025-01-02T03:04:06.5+00:00', NULL)"
        )
        conn.execute(
            "INSERT INTO feedback (facility_id, facility_version, verdict, reason, comment, client, "
            "locale, at) VALUES ('old-1', 1, 'problem', 'closed', '', 'c1', 'zh', "
            "'2025-03-01T09:00:00.000000+00:00')"
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def _sqlite_schema(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY 1, 2"
        ).fetchall()
    finally:
        conn.close()
    return [tuple(_norm(v) for v in r) for r in rows]


def test_a_sqlite_database_of_the_old_code_is_up_to_date_and_keeps_working(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.sqlite3"
    _build_legacy_sqlite(legacy)
    fresh = SQLiteStore(tmp_path / "fresh.sqlite3")
    fresh.init_schema()
    fresh.close()
    _apply_released_sqlite(tmp_path / "released.sqlite3")
    # The released files create exactly the old schema (tables, indexes, triggers, the view).
    assert _sqlite_schema(legacy) == _sqlite_schema(tmp_path / "released.sqlite3")

    def recorded() -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(legacy)
        try:
            return conn.execute("SELECT version, applied_at FROM schema_migrations ORDER BY 1").fetchall()
        finally:
            conn.close()

    before = recorded()
    assert before == [(v, APPLIED_AT) for v in range(1, len(SQLITE) + 1)]
    store = SQLiteStore(legacy)
    try:
        store.init_schema()
        store.init_schema()
        # Nothing re-applied (the DDL would fail on existing tables), nothing re-recorded.
        assert recorded()[: len(before)] == before
        assert [v for v, _ in recorded()] == [m.version for m in sqlite_module.MIGRATIONS]
        _check_reads_and_writes_of_old_rows(store)
    finally:
        store.close()
    # Upgraded by the later migrations, it has exactly a new database's schema.
    assert _sqlite_schema(legacy) == _sqlite_schema(tmp_path / "fresh.sqlite3")


def _apply_released_sqlite(path: Path) -> None:
    """The released migrations' files (the first ``len(SQLITE)``) applied to an empty file."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        for m in migrations.load("sqlite")[: len(SQLITE)]:
            conn.executescript(m.script)
        conn.commit()
    finally:
        conn.close()


def _pg_catalog(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything of the schema a migration creates, in a comparable form."""
    queries = {
        "columns": "SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default, "
        "collation_name, is_identity, is_generated, generation_expression FROM information_schema.columns "
        "WHERE table_schema = 'public' ORDER BY 1, 2",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "ORDER BY 1, 2",
        "triggers": "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger "
        "WHERE NOT tgisinternal ORDER BY 1, 2",
        "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' ORDER BY 1",
        "functions": "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
        "WHERE p.pronamespace = 'public'::regnamespace AND l.lanname = 'plpgsql' ORDER BY 1",
        "extensions": "SELECT extname FROM pg_extension ORDER BY 1",
    }
    with psycopg.connect(url) as conn:
        return {
            k: [tuple(_norm(v) for v in r) for r in conn.execute(q.encode()).fetchall()]
            for k, q in queries.items()
        }


def _build_legacy_postgis(url: str) -> None:
    """A database made by the old PostGISStore: its migrations, its bookkeeping, then data."""
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute(POSTGIS_SCHEMA_MIGRATIONS.encode())
            for version, name, script in POSTGIS:
                conn.execute(script.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (version, name, APPLIED_AT),
                )
        with conn.transaction():
            conn.execute("UPDATE store_revision SET value = 2")
            conn.execute(
                "INSERT INTO facilities (id, kind, name, address, lon, lat, amenities, opening_hours, "
                "status, district_adcode, district_name, verified_at, updated_at, version, source, demo, "
                "revision) VALUES ('old-1', 'warm_station', '旧驿站', '海淀区学院路', 116.3376, 39.9925, "
                "'{drinking_water,toilet}', 'Mo-Su 08:00-20:00', 'open', '110108', '海淀区', "
                "'2025-02-28T10:00:00+08:00', '2025-03-01T08:00:00+00:00', 1, 'legacy', true, 1)"
            )
            conn.execute(
                "INSERT INTO facility_history (facility_id, revision, version, action, actor, reason, at, "
                "changes) VALUES ('old-1', 1, 1, 'import', 'import', '', '2025-03-01T08:00:00+00:00', "
                '\'{"name": [null, "旧驿站"]}\')'
            )
            conn.execute("INSERT INTO tombstones (id, revision) VALUES ('gone-1', 2)")
            conn.execute(
                "INSERT INTO partners VALUES ('acme', '{https://a.example,https://b.example}', 100, %s, "
                "'wsl_bbbbbb', '2025-01-02T03:04:05.123456+00:00', '2025-01-02T03:04:05.123456+00:00', NULL)",
                ("b" * 64,),
            )
            conn.execute(
                "INSERT INTO users VALUES ('ann', 'admin', '$argon2id$x', '{}', '{old-1}', true, "
                "'2025-01-02T03:04:05+00:00')"
            )
            conn.execute(
                "INSERT INTO api_tokens VALUES "
                "('tok_1', 'ann', %s, 'ci', '2025-01-02T03:04:06.5+00:00', NULL)",
                ("a" * 64,),
            )
            conn.execute(
                "INSERT INTO feedback (facility_id, facility_version, verdict, reason, comment, client, "
                "locale, at) VALUES ('old-1', 1, 'problem', 'closed', '', 'c1', 'zh', "
                "'2025-03-01T09:00:00+00:00')"
            )


@pytest.mark.postgis
def test_a_postgis_database_of_the_old_code_is_up_to_date_and_keeps_working(
    pg_server: Any, postgis_url: str
) -> None:
    # postgis_url: an empty database migrated by the new code (the session template).
    with fresh_database(pg_server, "template0") as url, fresh_database(pg_server, "template0") as released:
        _build_legacy_postgis(url)
        with psycopg.connect(released, autocommit=True) as conn, conn.transaction():
            conn.execute(POSTGIS_SCHEMA_MIGRATIONS.encode())
            for m in migrations.load("postgis")[: len(POSTGIS)]:
                conn.execute(m.script.encode())
        # The released files create exactly the old schema.
        assert _pg_catalog(url) == _pg_catalog(released)

        def recorded(target: str) -> list[tuple[Any, ...]]:
            with psycopg.connect(target) as conn:
                return conn.execute(
                    "SELECT version, name, applied_at FROM schema_migrations ORDER BY 1"
                ).fetchall()

        before = recorded(url)
        assert [(v, n) for v, n, _ in before] == [(v, n) for v, n, _ in POSTGIS]
        # A new database records the same names as the old code did.
        assert [(v, n) for v, n, _ in recorded(postgis_url)] == [
            (m.version, m.name) for m in postgis_module.MIGRATIONS
        ]
        store = PostGISStore(url, pool_min=1, pool_max=2)
        try:
            store.init_schema()
            assert recorded(url)[: len(before)] == before
            _check_reads_and_writes_of_old_rows(store)
        finally:
            store.close()
        # Upgraded by the later migrations, it has exactly a new database's schema.
        assert _pg_catalog(url) == _pg_catalog(postgis_url)
