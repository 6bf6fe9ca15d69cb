"""Password policy (zxcvbn) and the account CLI: passwd, deactivate-user, activate-user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from locator.errors import ValidationError
from locator.services.accounts import check_password

from .manage_support import PASSWORD, accounts, login, make_user, manage_app

#: Refused although long enough: trivial, common, keyboard walks, built from the name.
WEAK = [
    "aaaaaaaaaa",
    "1234567890",
    "password123",
    "qwertyuiop",
    "abcdefghij",
    "haidian2026",
    "haidianunion",
    "warmstation",
    "admin12345",
]
#: Accepted.
STRONG = [PASSWORD, "a long passphrase", "Tr0ub4dor&3x-mule", "暖心驿站管理员的长密码"]


@pytest.mark.parametrize("password", WEAK)
def test_common_and_trivial_passwords_are_refused(password: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_password(password, "haidian-union")
    assert caught.value.param == "password"
    assert "too easy to guess" in caught.value.detail


@pytest.mark.parametrize("password", STRONG)
def test_strong_passwords_are_accepted(password: str) -> None:
    check_password(password, "haidian-union")


@pytest.mark.parametrize(("password", "why"), [("short", "at least 10"), ("x" * 1025, "at most 1024")])
def test_length_limits(password: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        check_password(password)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    application = manage_app(tmp_path / "a.sqlite3")
    make_user(application, "ann", "admin")
    yield application
    application.extensions["locator"].store.close()


def test_create_user_refuses_a_weak_password(app: Flask) -> None:
    with pytest.raises(ValidationError, match="too easy to guess"):
        accounts(app).create_user("bob", "1234567890", "admin")


def test_cli_passwd_changes_the_password_and_ends_sessions(app: Flask) -> None:
    client = app.test_client()
    assert login(client, "ann").status_code == 303
    assert client.get("/manage").status_code == 200
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["locator", "passwd", "ann", "--password-stdin"], input="1234567890\n")
    assert weak.exit_code == 1 and "too easy to guess" in weak.output
    ok = runner.invoke(args=["locator", "passwd", "ann", "--password-stdin"], input="a long passphrase\n")
    assert ok.exit_code == 0, ok.output
    assert client.get("/manage").status_code == 302  # the old session no longer works
    assert accounts(app).authenticate("ann", "a long passphrase").name == "ann"


def test_cli_deactivate_ends_sessions_and_tokens_activate_allows_login(app: Flask) -> None:
    _, token = accounts(app).create_token("ann")
    client = app.test_client()
    login(client, "ann")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["locator", "deactivate-user", "ann"]).exit_code == 0
    assert client.get("/manage").status_code == 302
    assert (
        app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )
    assert login(app.test_client(), "ann").status_code != 303
    assert runner.invoke(args=["locator", "activate-user", "ann"]).exit_code == 0
    assert login(app.test_client(), "ann").status_code == 303
    unknown = runner.invoke(args=["locator", "deactivate-user", "nobody"])
    assert unknown.exit_code == 1 and "no user" in unknown.output
