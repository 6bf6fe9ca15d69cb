"""Accounts: argon2 hashes, login/logout with CSRF, ``next``, throttling, cookies, CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask

from locator.errors import ConflictError, UnauthorizedError, ValidationError
from locator.http.auth import safe_next
from locator.services.accounts import LOGIN_FAILED, token_hash

from .manage_support import HAIDIAN, PASSWORD, accounts, csrf_from, login, make_user, manage_app, page_csrf


@pytest.fixture
def app(tmp_path: Path):  # type: ignore[no-untyped-def]
    application = manage_app(tmp_path / "test.sqlite3")
    yield application
    application.extensions["locator"].store.close()


# --- the account service --------------------------------------------------------------


def test_passwords_are_argon2id_hashes_never_plain(app: Flask) -> None:
    user = make_user(app, "ann", "admin")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert accounts(app).authenticate("ann", PASSWORD).name == "ann"


def test_unknown_user_and_wrong_password_fail_the_same_way(app: Flask) -> None:
    make_user(app, "ann", "admin")
    svc = accounts(app)
    messages = []
    for name, password in [("ann", "wrong password!"), ("nobody", PASSWORD), ("", ""), ("ann", "x" * 5000)]:
        with pytest.raises(UnauthorizedError) as info:
            svc.authenticate(name, password)
        messages.append(info.value.detail)
    assert set(messages) == {LOGIN_FAILED}


def test_inactive_user_cannot_log_in(app: Flask) -> None:
    from dataclasses import replace

    user = make_user(app, "ann", "admin")
    accounts(app).store.update_user(replace(user, active=False))
    with pytest.raises(UnauthorizedError, match="Unknown user name or wrong password"):
        accounts(app).authenticate("ann", PASSWORD)


def test_old_hash_parameters_are_upgraded_at_login(app: Flask) -> None:
    from dataclasses import replace

    svc = accounts(app)
    user = make_user(app, "ann", "admin")
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    svc.store.update_user(replace(user, password_hash=weak))
    svc.authenticate("ann", PASSWORD)
    upgraded = svc.store.get_user("ann").password_hash
    assert upgraded != weak and not svc.hasher.check_needs_rehash(upgraded)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"name": "has space", "role": "admin"}, "name"),
        ({"name": "x" * 65, "role": "admin"}, "name"),
        ({"name": "ann", "role": "root"}, "role"),
        ({"name": "ann", "role": "admin", "password": "short"}, "password"),
        ({"name": "ann", "role": "district_manager"}, "district"),
        ({"name": "ann", "role": "district_manager", "districts": ["12345"]}, "district"),
        ({"name": "ann", "role": "station_manager"}, "facility"),
        ({"name": "ann", "role": "admin", "districts": [HAIDIAN]}, "district"),
        (
            {"name": "ann", "role": "district_manager", "districts": [HAIDIAN], "facilities": ["a"]},
            "facility",
        ),
    ],
)
def test_create_user_validates(app: Flask, kwargs: dict, param: str) -> None:
    kwargs = {"password": PASSWORD, **kwargs}
    with pytest.raises(ValidationError) as info:
        accounts(app).create_user(kwargs.pop("name"), kwargs.pop("password"), kwargs.pop("role"), **kwargs)
    assert info.value.param == param
    assert accounts(app).store.list_users() == []


def test_duplicate_user_name_is_refused(app: Flask) -> None:
    make_user(app, "ann", "admin")
    with pytest.raises(ConflictError):
        make_user(app, "ann", "admin")


def test_tokens_store_only_a_hash_and_can_be_revoked(app: Flask) -> None:
    svc = accounts(app)
    make_user(app, "ann", "admin")
    record, secret = svc.create_token("ann", "sync job")
    assert secret.startswith("wsl_") and len(secret) > 40
    assert record.token_hash == token_hash(secret) and secret not in record.token_hash
    assert svc.authenticate_token(secret).name == "ann"
    for bad in ("", "wsl_nope", secret + "x", "Bearer " + secret):
        with pytest.raises(UnauthorizedError):
            svc.authenticate_token(bad)
    svc.store.revoke_token(record.id)
    with pytest.raises(UnauthorizedError):
        svc.authenticate_token(secret)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/manage/f/x/edit?y=1", "/manage/f/x/edit?y=1"),
        ("/", "/"),
        (None, "/manage"),
        ("", "/manage"),
        ("//evil.example/x", "/manage"),
        ("/\\evil.example", "/manage"),
        ("https://evil.example/", "/manage"),
        ("javascript:alert(1)", "/manage"),
        ("manage", "/manage"),
        ("/ok\r\nSet-Cookie: x=1", "/manage"),
        ("/a\\b", "/manage"),
    ],
)
def test_next_must_be_a_same_site_path(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


# --- login and logout over HTTP -------------------------------------------------------


def test_login_logout_round_trip(app: Flask) -> None:
    make_user(app, "ann", "admin")
    client = app.test_client()
    assert client.get("/manage").status_code == 302  # → login
    resp = login(client, "ann")
    assert resp.status_code == 303 and resp.headers["Location"] == "/manage"
    assert client.get("/manage").status_code == 200
    token = page_csrf(client)
    assert client.get("/logout").status_code == 405  # logout is POST only
    assert client.post("/logout").status_code == 400  # without the CSRF token
    assert client.get("/manage").status_code == 200  # still logged in
    resp = client.post("/logout", data={"csrf_token": token})
    assert resp.status_code == 303
    assert client.get("/manage").status_code == 302


def test_login_redirects_to_a_checked_next(app: Flask) -> None:
    make_user(app, "ann", "admin")
    client = app.test_client()
    resp = client.get("/manage?x=1")
    assert resp.status_code == 302 and "/login?next=" in resp.headers["Location"]
    assert login(client, "ann", next_="/manage?x=1").headers["Location"] == "/manage?x=1"
    client2 = app.test_client()
    assert login(client2, "ann", next_="//evil.example/").headers["Location"] == "/manage"
    client3 = app.test_client()
    assert login(client3, "ann", next_="https://evil.example/").headers["Location"] == "/manage"


def test_login_page_gives_one_message_for_unknown_user_and_wrong_password(app: Flask) -> None:
    make_user(app, "ann", "admin")
    client = app.test_client()
    wrong = login(client, "ann", "not the password")
    unknown = login(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 200
    for resp in (wrong, unknown):
        assert "用户名不存在或密码错误。" in resp.get_data(as_text=True)

    def strip(resp) -> str:  # type: ignore[no-untyped-def]
        html = resp.get_data(as_text=True).replace('value="ann"', "").replace('value="nobody"', "")
        return re.sub(r'(csrf_token" value=|csrf-token" content=)"[^"]+"', "", html)

    assert strip(wrong) == strip(unknown)


def test_login_without_csrf_token_is_refused(app: Flask) -> None:
    make_user(app, "ann", "admin")
    client = app.test_client()
    resp = client.post("/login", data={"username": "ann", "password": PASSWORD})
    assert resp.status_code == 400
    assert "CSRF" in resp.get_data(as_text=True)
    assert client.get("/manage").status_code == 302


def test_session_cookie_is_httponly_and_samesite_lax(app: Flask) -> None:
    make_user(app, "ann", "admin")
    client = app.test_client()
    resp = login(client, "ann")
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_over_https(tmp_path: Path) -> None:
    app = manage_app(tmp_path / "db.sqlite3", LOCATOR_HTTPS="true")
    make_user(app, "ann", "admin")
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost")
    resp = client.post(
        "/login",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "username": "ann", "password": PASSWORD},
    )
    assert resp.status_code == 303
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    app.extensions["locator"].store.close()


def test_login_is_throttled_per_address(tmp_path: Path) -> None:
    app = manage_app(tmp_path / "db.sqlite3", LOCATOR_LOGIN_RATE="3 per minute")
    make_user(app, "ann", "admin")
    client = app.test_client()
    for _ in range(3):
        assert login(client, "ann", "wrong password!").status_code == 200
    blocked = login(client, "ann")  # even the right password now waits
    assert blocked.status_code == 429
    assert client.get("/manage").status_code == 302
    # Another address is not blocked for another user name.
    make_user(app, "bea", "admin")
    other = app.test_client()
    page = other.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    resp = other.post(
        "/login",
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "username": "bea", "password": PASSWORD},
    )
    assert resp.status_code == 303
    app.extensions["locator"].store.close()


def test_login_is_throttled_per_user_name_across_addresses(tmp_path: Path) -> None:
    app = manage_app(tmp_path / "db.sqlite3", LOCATOR_LOGIN_RATE="3 per minute")
    make_user(app, "ann", "admin")
    statuses = []
    for i in range(4):
        client = app.test_client()
        env = {"REMOTE_ADDR": f"10.0.1.{i}"}
        page = client.get("/login", environ_base=env)
        resp = client.post(
            "/login",
            environ_base=env,
            data={
                "csrf_token": csrf_from(page.get_data(as_text=True)),
                "username": "ann",
                "password": "nope nope",
            },
        )
        statuses.append(resp.status_code)
    assert statuses == [200, 200, 200, 429]
    app.extensions["locator"].store.close()


def test_successful_logins_are_not_counted(tmp_path: Path) -> None:
    app = manage_app(tmp_path / "db.sqlite3", LOCATOR_LOGIN_RATE="2 per minute")
    make_user(app, "ann", "admin")
    for _ in range(4):
        assert login(app.test_client(), "ann").status_code == 303
    app.extensions["locator"].store.close()


def test_password_change_ends_existing_sessions(app: Flask) -> None:
    make_user(app, "ann", "admin")
    client = app.test_client()
    login(client, "ann")
    assert client.get("/manage").status_code == 200
    accounts(app).set_password("ann", "another long password")
    assert client.get("/manage").status_code == 302


# --- CLI ------------------------------------------------------------------------------


def test_cli_create_user_reads_password_from_stdin(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "locator",
            "create-user",
            "haidian",
            "--role",
            "district_manager",
            "--district",
            HAIDIAN,
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "district_manager haidian" in result.output and "海淀区" in result.output
    assert PASSWORD not in result.output
    assert accounts(app).authenticate("haidian", PASSWORD).districts == frozenset({HAIDIAN})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--role", "district_manager", "--district", "999999"], "unknown district"),
        (["x", "--role", "station_manager", "--facility", "no-such-id"], "unknown facility"),
        (["x", "--role", "district_manager"], "at least one --district"),
        (["x", "--role", "wizard"], "Invalid value"),
    ],
)
def test_cli_create_user_refuses_bad_input(app: Flask, args: list[str], message: str) -> None:
    result = app.test_cli_runner().invoke(
        args=["locator", "create-user", *args, "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code != 0
    assert message in result.output
    assert accounts(app).store.list_users() == []


def test_cli_create_user_short_password(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["locator", "create-user", "x", "--role", "admin", "--password-stdin"], input="short\n"
    )
    assert result.exit_code == 1 and "at least 10 characters" in result.output


def test_cli_create_token_prints_it_once_and_stores_its_hash(app: Flask) -> None:
    make_user(app, "ann", "admin")
    result = app.test_cli_runner().invoke(args=["locator", "create-token", "ann", "--label", "sync"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("wsl_")
    (record,) = accounts(app).store.list_tokens("ann")
    assert record.token_hash == token_hash(secret) and record.label == "sync"
    assert accounts(app).authenticate_token(secret).name == "ann"
    revoked = app.test_cli_runner().invoke(args=["locator", "revoke-token", record.id])
    assert revoked.exit_code == 0
    with pytest.raises(UnauthorizedError):
        accounts(app).authenticate_token(secret)


def test_cli_create_token_for_unknown_user(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["locator", "create-token", "ghost"])
    assert result.exit_code == 1 and "no user" in result.output
