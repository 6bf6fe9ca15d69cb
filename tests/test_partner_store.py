"""PartnerStore conformance: the contract in locator/stores/contract.py, run on every backend.

The ``partner_store`` fixture is the conformance suite's ``store`` (conftest.py),
parametrized over SQLite and PostGIS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from locator.errors import ConflictError, NotFoundError
from locator.services.partners import hash_key, key_id, new_key
from locator.stores.contract import FacilityStore, Partner, PartnerStore
from locator.stores.sqlite import SQLiteStore

T0 = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


@pytest.fixture
def partner_store(store: FacilityStore) -> PartnerStore:
    """The ``store`` fixture (every backend, closed by it), as a PartnerStore."""
    assert isinstance(store, PartnerStore)
    return store


def make_partner(
    name: str = "acme", origins: tuple[str, ...] = ("https://acme.example",), **kw: object
) -> Partner:
    key = new_key()
    values: dict[str, object] = {
        "name": name,
        "origins": origins,
        "daily_quota": 1000,
        "key_hash": hash_key(key),
        "key_prefix": key_id(key),
        "created_at": T0,
        "key_created_at": T0,
    }
    values.update(kw)
    return Partner(**values)  # type: ignore[arg-type]


def test_add_then_get_round_trips_every_field(partner_store: PartnerStore) -> None:
    p = make_partner(origins=("https://b.example", "http://127.0.0.1:8081"), daily_quota=5)
    stored = partner_store.add_partner(p)
    assert stored == p
    again = partner_store.get_partner("acme")
    assert again == p
    assert again.origins == ("https://b.example", "http://127.0.0.1:8081")  # order kept
    assert again.created_at == T0 and again.created_at.tzinfo is not None
    assert again.active


def test_duplicate_name_is_a_conflict(partner_store: PartnerStore) -> None:
    partner_store.add_partner(make_partner())
    with pytest.raises(ConflictError):
        partner_store.add_partner(make_partner())
    assert len(partner_store.list_partners()) == 1


def test_duplicate_key_hash_is_a_conflict(partner_store: PartnerStore) -> None:
    a = make_partner("a")
    partner_store.add_partner(a)
    with pytest.raises(ConflictError) as err:
        partner_store.add_partner(make_partner("b", key_hash=a.key_hash))
    assert err.value.param == "key"
    with pytest.raises(ConflictError) as err:
        partner_store.add_partner(make_partner("a"))
    assert err.value.param == "name"


def test_unknown_partner(partner_store: PartnerStore) -> None:
    with pytest.raises(NotFoundError):
        partner_store.get_partner("nobody")
    with pytest.raises(NotFoundError):
        partner_store.revoke_partner("nobody", T0)
    with pytest.raises(NotFoundError):
        partner_store.set_partner_key("nobody", "0" * 64, "wsl_x", T0)
    assert partner_store.partner_by_key_hash("0" * 64) is None


def test_lookup_by_key_hash(partner_store: PartnerStore) -> None:
    a, b = make_partner("a"), make_partner("b")
    partner_store.add_partner(a)
    partner_store.add_partner(b)
    found = partner_store.partner_by_key_hash(b.key_hash)
    assert found is not None and found.name == "b"


def test_list_in_name_order_with_revoked(partner_store: PartnerStore) -> None:
    for name in ("zeta", "alpha", "mid"):
        partner_store.add_partner(make_partner(name))
    partner_store.revoke_partner("mid", T0)
    assert [p.name for p in partner_store.list_partners()] == ["alpha", "mid", "zeta"]
    assert [p.active for p in partner_store.list_partners()] == [True, False, True]


def test_set_key_replaces_the_old_hash(partner_store: PartnerStore) -> None:
    old = partner_store.add_partner(make_partner())
    later = T0 + timedelta(days=3)
    updated = partner_store.set_partner_key("acme", "f" * 64, "wsl_ffffff", later)
    assert updated.key_hash == "f" * 64 and updated.key_prefix == "wsl_ffffff"
    assert updated.key_created_at == later and updated.created_at == T0
    assert partner_store.partner_by_key_hash(old.key_hash) is None
    found = partner_store.partner_by_key_hash("f" * 64)
    assert found is not None and found.name == "acme"


def test_revoke_keeps_the_first_time_and_blocks_new_keys(partner_store: PartnerStore) -> None:
    partner_store.add_partner(make_partner())
    first = partner_store.revoke_partner("acme", T0)
    second = partner_store.revoke_partner("acme", T0 + timedelta(hours=1))
    assert first.revoked_at == T0 == second.revoked_at
    assert not second.active
    with pytest.raises(ConflictError):
        partner_store.set_partner_key("acme", "e" * 64, "wsl_eeeeee", T0)


def test_partner_writes_do_not_move_the_facility_revision(partner_store: PartnerStore) -> None:
    facilities = partner_store
    before = facilities.revision()  # type: ignore[attr-defined]
    partner_store.add_partner(make_partner())
    partner_store.set_partner_key("acme", "d" * 64, "wsl_dddddd", T0)
    partner_store.revoke_partner("acme", T0)
    assert facilities.revision() == before  # type: ignore[attr-defined]


def test_sqlite_migration_is_additive(tmp_path: Path) -> None:
    # A database made before partners existed gains the table without losing data.
    import sqlite3

    from locator.stores import sqlite as sqlite_module

    path = tmp_path / "old.sqlite3"
    old = SQLiteStore(path)
    saved = list(sqlite_module.MIGRATIONS)
    try:
        sqlite_module.MIGRATIONS[:] = saved[:1]
        old.init_schema()
    finally:
        sqlite_module.MIGRATIONS[:] = saved
    old.close()
    store = SQLiteStore(path)
    store.init_schema()
    store.add_partner(make_partner())
    versions = [r[0] for r in sqlite3.connect(path).execute("SELECT version FROM schema_migrations")]
    assert versions == list(range(1, len(saved) + 1))
    store.close()
