"""Accounts on a phone (issue 14): /manage/account and /manage/users, on both stores.

A manager changes their own password (current + new): their *other* sessions end and this
one stays. An administrator lists the accounts, deactivates and reactivates a user, sets a
new password, ends a user's sessions; each of these logs that user out everywhere. Nobody
else may, and an administrator does not act on their own account here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from .manage_support import HAIDIAN, PASSWORD, accounts, login, make_user, manage_demo_app, page_csrf

NEW_PASSWORD = "walnut lantern orbit"


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask]) -> Flask:
    application = manage_demo_app(demo_app_factory)
    make_user(application, "root", "admin")
    make_user(application, "hd", "district_manager", districts=[HAIDIAN])
    return application


def logged_in(app: Flask, name: str, password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    assert login(client, name, password).status_code == 303
    assert client.get("/manage").status_code == 200
    return client


def still_logged_in(client: FlaskClient) -> bool:
    status = client.get("/manage").status_code
    assert status in {200, 302}
    return status == 200


def can_log_in(app: Flask, name: str, password: str) -> bool:
    return login(app.test_client(), name, password).status_code == 303


def test_a_manager_changes_their_own_password_and_only_the_other_sessions_end(app: Flask) -> None:
    phone, computer = logged_in(app, "hd"), logged_in(app, "hd")
    page = phone.get("/manage/account")
    assert page.status_code == 200 and "修改我的密码" in page.get_data(as_text=True)
    csrf = page_csrf(phone, "/manage/account")

    def change(current: str, new: str, again: str | None = None):  # type: ignore[no-untyped-def]
        form = {"csrf_token": csrf, "current_password": current, "password": new, "password2": again or new}
        return phone.post("/manage/account", data=form)

    refused = [
        (change("wrong password here", NEW_PASSWORD), "当前密码不正确"),
        (change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x"), "两次输入的新密码不一致"),
        (change(PASSWORD, PASSWORD), "新密码与当前密码相同"),
        (change(PASSWORD, "1234567890"), 'id="account-error"'),  # too easy to guess
    ]
    for resp, words in refused:
        assert resp.status_code == 400 and words in resp.get_data(as_text=True)
    # Nothing changed: both sessions live, the old password works.
    assert still_logged_in(phone) and still_logged_in(computer) and can_log_in(app, "hd", PASSWORD)

    done = change(PASSWORD, NEW_PASSWORD)
    assert done.status_code == 303 and done.headers["Location"].endswith("/manage/account")
    assert "您在其他手机和电脑上的登录已退出" in phone.get("/manage/account").get_data(as_text=True)
    assert still_logged_in(phone)  # this session stays …
    assert not still_logged_in(computer)  # … the other one ended
    assert not can_log_in(app, "hd", PASSWORD) and can_log_in(app, "hd", NEW_PASSWORD)


def test_only_an_administrator_manages_accounts(app: Flask) -> None:
    hd = logged_in(app, "hd")
    csrf = page_csrf(hd)
    assert hd.get("/manage/users").status_code == 403
    for action in ("deactivate", "end-sessions", "reset-password"):
        form = {"csrf_token": csrf, "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
        assert hd.post(f"/manage/users/root/{action}", data=form).status_code == 403
    assert accounts(app).store.get_user("root").active and can_log_in(app, "root", PASSWORD)
    assert 'id="users-link"' not in hd.get("/manage").get_data(as_text=True)
    assert 'id="users-link"' in logged_in(app, "root").get("/manage").get_data(as_text=True)
    # Anonymous: to the login page, nothing done.
    anon = app.test_client().post("/manage/users/hd/deactivate", data={"csrf_token": csrf})
    assert anon.status_code in {302, 400} and accounts(app).store.get_user("hd").active


def test_an_administrator_deactivates_reactivates_resets_and_ends_sessions(app: Flask) -> None:
    root = logged_in(app, "root")
    csrf = page_csrf(root, "/manage/users")
    listing = root.get("/manage/users").get_data(as_text=True)
    assert 'id="user-hd"' in listing and 'id="user-root"' in listing and "海淀区" in listing

    def act(name: str, action: str, **form: str):  # type: ignore[no-untyped-def]
        resp = root.post(f"/manage/users/{name}/{action}", data={"csrf_token": csrf, **form})
        assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/manage/users#user-{name}")
        return root.get("/manage/users").get_data(as_text=True)

    # End sessions: logged out, can log in again; a token keeps working.
    hd = logged_in(app, "hd")
    _, secret = accounts(app).create_token("hd", "sync")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert app.test_client().get("/api/v1/me", headers=bearer).status_code == 200
    assert "hd 的所有会话已结束。" in act("hd", "end-sessions")
    assert not still_logged_in(hd) and can_log_in(app, "hd", PASSWORD)
    assert app.test_client().get("/api/v1/me", headers=bearer).status_code == 200

    # Deactivate: logged out, no login, no token; shown as deactivated.
    hd = logged_in(app, "hd")
    page = act("hd", "deactivate")
    assert "hd 已停用：所有登录已退出，令牌已失效。" in page and "已停用" in page.split('id="user-hd"')[1]
    assert not still_logged_in(hd) and not can_log_in(app, "hd", PASSWORD)
    assert app.test_client().get("/api/v1/me", headers=bearer).status_code == 401
    # Reactivate: may log in again (the old session stays ended).
    assert "hd 可以重新登录了。" in act("hd", "activate")
    assert not still_logged_in(hd) and can_log_in(app, "hd", PASSWORD)

    # A new password: the two must agree and pass the policy; then every session ends.
    hd = logged_in(app, "hd")
    page = act("hd", "reset-password", password=NEW_PASSWORD, password2=NEW_PASSWORD + "x")
    assert "两次输入的新密码不一致" in page and still_logged_in(hd) and can_log_in(app, "hd", PASSWORD)
    act("hd", "reset-password", password="1234567890", password2="1234567890")
    assert still_logged_in(hd) and can_log_in(app, "hd", PASSWORD)
    act("hd", "reset-password", password=NEW_PASSWORD, password2=NEW_PASSWORD)
    assert not still_logged_in(hd)
    assert not can_log_in(app, "hd", PASSWORD) and can_log_in(app, "hd", NEW_PASSWORD)

    # Not on one's own account (that is "My account"), nor on an unknown one.
    page = act("root", "deactivate")
    assert "您自己的账户请在“我的账户”中修改" in page
    assert still_logged_in(root) and accounts(app).store.get_user("root").active
    assert root.post("/manage/users/nobody/deactivate", data={"csrf_token": csrf}).status_code == 404
