"""Sessions that end server-side, and failed-login counts shared by every worker.

Logout, a password change, deactivation and an admin's ``end-sessions`` make an old
session cookie useless (per-user session epoch); failed logins are counted in the store
(or Redis), so two workers share one count and a restart forgets nothing.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from locator.services.throttle import LoginThrottle, StoreCounterStorage
from locator.stores.contract import Store

from .conftest import ROOT
from .manage_support import FAST_ARGON2, PASSWORD, accounts, csrf_from, login, make_user, manage_demo_app


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask]) -> Flask:
    application = manage_demo_app(demo_app_factory, LOCATOR_LOGIN_RATE="3 per minute")
    make_user(application, "ann", "admin")
    return application


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _with_cookie(app: Flask, value: str) -> FlaskClient:
    other = app.test_client()
    other.set_cookie("session", value)
    return other


def test_logout_ends_the_session_on_the_server(app: Flask) -> None:
    client = app.test_client()
    assert login(client, "ann").status_code == 303
    stolen = _cookie(client)
    token = csrf_from(client.get("/manage").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    replay = _with_cookie(app, stolen)
    assert replay.get("/manage").status_code == 302  # back to the login page
    assert replay.get("/api/v1/me").status_code == 401
    write = replay.post("/api/v1/facilities", json={"name": "x"}, headers={"X-CSRFToken": token})
    assert write.status_code in {400, 401}  # no session: neither the user nor its CSRF token


@pytest.mark.parametrize("how", ["end-sessions", "deactivate", "passwd"])
def test_an_admin_can_end_a_users_sessions(app: Flask, how: str) -> None:
    client = app.test_client()
    login(client, "ann")
    stolen = _cookie(client)
    _, bearer = accounts(app).create_token("ann")
    runner = app.test_cli_runner()
    if how == "passwd":
        result = runner.invoke(
            args=["locator", "passwd", "ann", "--password-stdin"], input="a long passphrase\n"
        )
    elif how == "deactivate":
        result = runner.invoke(args=["locator", "deactivate-user", "ann"])
    else:
        result = runner.invoke(args=["locator", "end-sessions", "ann"])
    assert result.exit_code == 0, result.output
    if how == "deactivate":
        assert runner.invoke(args=["locator", "activate-user", "ann"]).exit_code == 0
    assert _with_cookie(app, stolen).get("/manage").status_code == 302
    # Tokens are revoked on their own (revoke-token); ending sessions leaves them working.
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {bearer}"})
    assert me.status_code == 200


def test_a_new_login_after_logout_works(app: Flask) -> None:
    client = app.test_client()
    login(client, "ann")
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/manage").get_data(as_text=True))})
    assert login(client, "ann").status_code == 303
    assert client.get("/manage").status_code == 200


@pytest.mark.parametrize(
    ("path", "headers", "address"),
    [
        # Chromium's service-worker update check carries the browser's own User-Agent, not
        # the page's (a phone profile's, an embedding app's): seen in the phone tests.
        ("/sw.js", {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0"}, "127.0.0.1"),
        # A phone that moved from Wi-Fi to mobile data.
        ("/manage", {}, "10.20.30.40"),
    ],
)
def test_a_parallel_request_from_another_address_or_agent_keeps_the_posts_notice(
    app: Flask, path: str, headers: dict[str, str], address: str
) -> None:
    """A request that set off before a form's POST was answered must not write its older copy
    of the session over the POST's (which holds the "saved" notice).

    Flask-Login's "basic" session protection rewrote the cookie of every request whose address
    or User-Agent differed from the login's; the phone tests lost the notice after a pin move.
    """
    client = app.test_client()
    assert login(client, "ann").status_code == 303
    token = csrf_from(client.get("/manage").get_data(as_text=True))
    older = _cookie(client)
    facility = next(iter(app.extensions["locator.manage"].locator.index.facilities()))
    saved = client.post(f"/manage/f/{facility.id}/verify", data={"csrf_token": token})
    assert saved.status_code == 303
    parallel = _with_cookie(app, older).get(path, headers=headers, environ_base={"REMOTE_ADDR": address})
    assert parallel.status_code == 200
    assert parallel.headers.getlist("Set-Cookie") == []  # nothing to overwrite the POST's cookie with
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert re.search(r'<p class="flash success" role="status">', page), "the notice was lost"


# --- shared failed-login counts ----------------------------------------------------------


def _fail(app: Flask, address: str = "10.0.0.9") -> int:
    client = app.test_client()
    env = {"REMOTE_ADDR": address}
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
    return resp.status_code


def test_two_workers_share_one_count_and_a_restart_keeps_it(
    app: Flask, demo_app_factory: Callable[..., Flask]
) -> None:
    """Two apps on one store are two workers; a third made later is a restarted one."""
    second = demo_app_factory(ARGON2_PARAMETERS=FAST_ARGON2, LOCATOR_LOGIN_RATE="3 per minute")
    assert [_fail(app), _fail(second), _fail(app)] == [200, 200, 200]
    assert _fail(second) == 429
    restarted = demo_app_factory(ARGON2_PARAMETERS=FAST_ARGON2, LOCATOR_LOGIN_RATE="3 per minute")
    assert _fail(restarted) == 429
    blocked = restarted.test_client().post("/login", data={}, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert blocked.status_code in {400, 429}  # the CSRF check may answer first


def test_the_429_says_when_to_come_back(app: Flask) -> None:
    for _ in range(3):
        _fail(app)
    client = app.test_client()
    env = {"REMOTE_ADDR": "10.0.0.9"}
    page = client.get("/login", environ_base=env)
    resp = client.post(
        "/login",
        environ_base=env,
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "username": "ann", "password": PASSWORD},
    )
    assert resp.status_code == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


def test_counters_unreachable_means_logins_are_refused(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed: when the counters cannot be read, nobody logs in (503, never 500)."""
    from locator.errors import StoreUnavailableError

    store: Store = app.extensions["locator"].store

    def down(*_: object, **__: object) -> None:
        raise StoreUnavailableError("counters down")

    monkeypatch.setattr(store, "get_counter", down)
    client = app.test_client()
    page = client.get("/login")
    resp = client.post(
        "/login",
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "username": "ann", "password": PASSWORD},
    )
    assert resp.status_code == 503


def test_store_counters_expire_and_count_exactly(store: Store) -> None:
    assert store.get_counter("k") == (0, None)
    assert [store.incr_counter("k", 60) for _ in range(3)] == [1, 2, 3]
    value, expires = store.get_counter("k")
    assert value == 3 and expires is not None and expires > datetime.now(UTC)
    assert store.incr_counter("short", 0.01) == 1
    time.sleep(0.05)
    assert store.get_counter("short") == (0, None)
    assert store.incr_counter("short", 60) == 1  # an expired window restarts
    store.clear_counter("k")
    assert store.get_counter("k") == (0, None)


def test_store_counters_are_atomic_under_concurrency(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: store.incr_counter("race", 60), range(80)))
    assert store.get_counter("race")[0] == 80


def test_end_sessions_is_an_atomic_increment(store: Store) -> None:
    from locator.stores.contract import User

    store.add_user(User("bo", "admin", "$argon2id$x"))
    assert store.get_user("bo").session_epoch == 0
    assert store.end_sessions("bo").session_epoch == 1
    stale = store.get_user("bo")
    store.end_sessions("bo")
    store.update_user(stale)  # a write based on an older read …
    assert store.get_user("bo").session_epoch == 2  # … never brings ended sessions back


def test_login_throttle_over_the_store(store: Store) -> None:
    from locator.services.throttle import TooManyAttemptsError

    throttle = LoginThrottle(StoreCounterStorage(store), "2 per minute")
    keys = throttle.keys("10.1.1.1", "Ann")
    throttle.check(*keys)
    throttle.failed(*keys)
    throttle.failed(*keys)
    with pytest.raises(TooManyAttemptsError):
        throttle.check(*keys)
    with pytest.raises(TooManyAttemptsError):
        throttle.check(*throttle.keys("10.9.9.9", "ann"))  # the name's own count, any address


# --- two real gunicorn workers, restarted ---------------------------------------------------


@pytest.fixture
def gunicorn_app(tmp_path) -> Iterator[Callable[[], str]]:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "LOCATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}",
        "LOCATOR_SECRET_KEY": "test-secret-key-0123456789",
        "LOCATOR_LOGIN_RATE": "4 per minute",
    }
    cli = [sys.executable, "-m", "flask", "--app", "app", "locator"]
    subprocess.run([*cli, "init-db"], cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: S603
    subprocess.run(  # noqa: S603
        [*cli, "create-user", "ann", "--role", "admin", "--password-stdin"],
        cwd=ROOT,
        env=env,
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> str:
        """Start gunicorn (stopping the one before: a restart) and return its URL."""
        import port_for

        for old in procs:
            old.send_signal(signal.SIGTERM)
            old.wait(timeout=30)

        port = port_for.select_random()
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "app:app"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                requests.get(url + "/login", timeout=5)
                return url
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def _fail_over_http(url: str) -> int:
    with requests.Session() as s:  # a fresh connection each time: the two workers take turns
        page = s.get(url + "/login", timeout=5).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        return s.post(
            url + "/login",
            data={"csrf_token": token.group(1), "username": "ann", "password": "nope nope"},
            headers={"Referer": url + "/login"},
            timeout=5,
        ).status_code


def test_ten_failures_a_minute_means_ten_across_two_gunicorn_workers_and_a_restart(
    gunicorn_app: Callable[[], str],
) -> None:
    url = gunicorn_app()
    statuses = [_fail_over_http(url) for _ in range(6)]
    assert statuses == [200] * 4 + [429] * 2  # not 8: the workers share the count
    restarted = gunicorn_app()
    assert _fail_over_http(restarted) == 429  # and a restart does not reset it
