"""Store contract for accounts (users, API tokens).

Every test takes the conformance suite's ``store`` fixture (conftest.py), parametrized
over SQLite and PostGIS.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from locator.errors import ConflictError, NotFoundError
from locator.stores.contract import AccountStore, ApiToken, FacilityStore, User


@pytest.fixture(autouse=True)
def _is_an_account_store(store: FacilityStore) -> None:
    assert isinstance(store, AccountStore)


def _user(name: str = "alice", **kw: object) -> User:
    base = {"role": "district_manager", "password_hash": "$argon2id$fake", "districts": frozenset({"110108"})}
    base.update(kw)
    return User(name, **base)  # type: ignore[arg-type]


def test_add_get_list_users(store) -> None:
    stored = store.add_user(_user("bob"))
    store.add_user(_user("alice", role="admin", districts=frozenset()))
    assert stored.created_at is not None and stored.created_at.tzinfo is not None
    got = store.get_user("bob")
    assert got == stored
    assert got.districts == frozenset({"110108"}) and got.facilities == frozenset() and got.active
    assert [u.name for u in store.list_users()] == ["alice", "bob"]


def test_duplicate_user_is_a_conflict_and_changes_nothing(store) -> None:
    store.add_user(_user("bob"))
    with pytest.raises(ConflictError):
        store.add_user(_user("bob", role="admin", districts=frozenset()))
    assert store.get_user("bob").role == "district_manager"


def test_unknown_user(store) -> None:
    with pytest.raises(NotFoundError):
        store.get_user("nobody")
    with pytest.raises(NotFoundError):
        store.update_user(_user("nobody"))


def test_update_user_replaces_scope_hash_and_active(store) -> None:
    u = store.add_user(
        _user("carol", role="station_manager", districts=frozenset(), facilities=frozenset({"a"}))
    )
    changed = store.update_user(
        replace(u, password_hash="$argon2id$new", facilities=frozenset({"a", "b"}), active=False)
    )
    assert changed.password_hash == "$argon2id$new"
    assert changed.facilities == frozenset({"a", "b"})
    assert not changed.active
    assert store.get_user("carol") == changed
    assert changed.created_at == u.created_at


def test_user_names_are_case_sensitive_and_unicode(store) -> None:
    store.add_user(_user("海淀工会"))
    store.add_user(_user("Bob"))
    store.add_user(_user("bob"))
    assert store.get_user("海淀工会").name == "海淀工会"
    assert {u.name for u in store.list_users()} == {"海淀工会", "Bob", "bob"}


def test_tokens_are_found_by_hash_listed_and_revoked(store) -> None:
    store.add_user(_user("dave"))
    t = store.add_token(ApiToken("tok_1", "dave", "a" * 64, label="sync"))
    store.add_token(ApiToken("tok_2", "dave", "b" * 64))
    assert t.created_at is not None and t.revoked_at is None
    assert store.find_token("a" * 64) == t
    assert store.find_token("c" * 64) is None
    assert [x.id for x in store.list_tokens("dave")] == ["tok_1", "tok_2"]
    assert [x.id for x in store.list_tokens()] == ["tok_1", "tok_2"]
    assert store.list_tokens("nobody") == []
    store.revoke_token("tok_1")
    revoked = store.find_token("a" * 64)
    assert revoked is not None and revoked.revoked_at is not None
    store.revoke_token("tok_1")  # idempotent
    assert store.find_token("a" * 64) == revoked
    with pytest.raises(NotFoundError):
        store.revoke_token("tok_nope")


def test_token_for_unknown_user_or_duplicate_hash_is_refused(store) -> None:
    with pytest.raises(NotFoundError):
        store.add_token(ApiToken("tok_1", "ghost", "a" * 64))
    store.add_user(_user("erin"))
    store.add_token(ApiToken("tok_1", "erin", "a" * 64))
    with pytest.raises(ConflictError):
        store.add_token(ApiToken("tok_2", "erin", "a" * 64))
    with pytest.raises(ConflictError):
        store.add_token(ApiToken("tok_1", "erin", "d" * 64))
    assert len(store.list_tokens()) == 1


def test_account_writes_do_not_touch_the_facility_revision(store) -> None:
    before = store.revision()
    u = store.add_user(_user("frank"))
    store.update_user(replace(u, active=False))
    store.add_token(ApiToken("tok_1", "frank", "e" * 64))
    store.revoke_token("tok_1")
    assert store.revision() == before


def test_schema_upgrade_is_idempotent(store) -> None:
    store.add_user(_user("gina"))
    store.init_schema()
    store.init_schema()
    assert store.get_user("gina").name == "gina"
