"""Shared fixtures: apps over a temporary SQLite store, the demo layer, PostGIS, helpers."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import port_for
import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from psycopg.conninfo import conninfo_to_dict
from pytest_postgresql import factories
from pytest_postgresql.janitor import DatabaseJanitor

from locator import create_app
from locator.core.geo import Datum
from locator.formats.readers import read_records
from locator.services.facilities import LocatorService
from locator.stores.contract import FacilityStore
from locator.stores.postgis import PostGISStore
from locator.stores.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
#: The tests' demo layer: the named places of the shipped demo layer (3,908 facilities,
#: ``scripts/build_demo_layer.py --named-only``), so that every test app starts fast. The
#: shipped layer (25,470, Beijing's real size) is checked by test_geodata.py and used by
#: the benchmarks and ``load-demo``.
DEMO_LAYER = DATA / "beijing_demo_named.geojson"
IN_CI = os.environ.get("CI", "").lower() == "true"


#: The project's source data (``shared/data`` beside the checkout; ``LOCATOR_SHARED_DATA``
#: points elsewhere). It exists on development and CI machines only, never in a user's clone.
SHARED_DATA = Path(os.environ.get("LOCATOR_SHARED_DATA") or ROOT.parent / "shared" / "data")


def require_shared_data() -> Path:
    """The source data folder, for the checks that rebuild shipped layers from it.

    A user's clone has no source data (only what the repository ships), so there these
    checks skip, saying where the folder was looked for and how to point to it. CI machines
    have it, so under ``CI=true`` its absence is a failure (:func:`skip_or_fail`).
    """
    if not SHARED_DATA.is_dir():
        skip_or_fail(
            f"source data folder {SHARED_DATA} is absent (it exists on development and CI machines "
            "only; set LOCATOR_SHARED_DATA to its path to run this reproducibility check)"
        )
    return SHARED_DATA


def skip_or_fail(reason: str) -> None:
    """Skip locally; under CI=true a missing dependency is a failure, not a skip."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must run in CI)")
    pytest.skip(reason)


def make_app(db_path: Path, **config: object) -> Flask:
    cfg: dict[str, object] = {
        "TESTING": True,
        "LOCATOR_DATABASE_URL": f"sqlite:///{db_path}",
        "LOCATOR_SECRET_KEY": "test-secret-key-0123456789",
        # Index snapshots next to the test's store, not in the checkout's instance/.
        "LOCATOR_INDEX_DIR": str(db_path.parent / "index"),
    }
    cfg.update(config)
    return create_app(cfg)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the demo layer loaded once per session (copied per test)."""
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    app = make_app(path)
    svc: LocatorService = app.extensions["locator"]
    svc.import_records(read_records(DEMO_LAYER), Datum.WGS84, demo=True)
    svc.store.close()
    return path


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """An app over an empty SQLite store."""
    application = make_app(tmp_path / "test.sqlite3")
    yield application
    application.extensions["locator"].store.close()


@pytest.fixture
def demo_app(tmp_path: Path, demo_db: Path) -> Iterator[Flask]:
    """An app over a copy of the demo-layer store."""
    path = tmp_path / "demo.sqlite3"
    shutil.copy(demo_db, path)
    application = make_app(path)
    yield application
    application.extensions["locator"].store.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def demo_client(demo_app: Flask) -> FlaskClient:
    return demo_app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


# --- live server and headless Chromium ----------------------------------------------

CHROMIUM = os.environ.get("LOCATOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


class LiveServer:
    """A Flask app served by werkzeug on 127.0.0.1 in a background thread."""

    def __init__(self, app: Flask, port: int = 0) -> None:
        import threading

        from werkzeug.serving import make_server

        self.app = app
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def live_server(demo_app: Flask) -> Iterator[LiveServer]:
    server = LiveServer(demo_app)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium():  # type: ignore[no-untyped-def]
    """Debian's Chromium driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - requirements-dev installs it
        skip_or_fail("playwright is not installed")
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()
    pw.stop()


class PageWatch:
    """Collects console errors, page errors and every request a page makes."""

    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.console_errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def foreign_requests(self) -> list[str]:
        """Requests to any host but 127.0.0.1 (data: and blob: URLs are local)."""
        from urllib.parse import urlsplit

        return [
            u
            for u in self.requests
            if not u.startswith(("data:", "blob:")) and urlsplit(u).hostname != "127.0.0.1"
        ]


PHONE = {
    "viewport": {"width": 412, "height": 915},
    "device_scale_factor": 2.625,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
    "geolocation": {"longitude": 116.3376, "latitude": 39.9925},  # Wudaokou, WGS-84
    "permissions": ["geolocation"],
}


@pytest.fixture
def phone(chromium):  # type: ignore[no-untyped-def]
    """A phone-sized browser context (zh-CN, touch, geolocation granted in Beijing).

    Requests to any host but 127.0.0.1 are aborted (tiles included) and recorded.
    """
    context = chromium.new_context(**PHONE)
    blocked: list[str] = []

    def _route(route) -> None:  # type: ignore[no-untyped-def]
        from urllib.parse import urlsplit

        if urlsplit(route.request.url).hostname in {"127.0.0.1"}:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", _route)
    context.blocked = blocked
    yield context
    context.close()


# --- PostGIS -------------------------------------------------------------------------
#
# Three ways to get a PostGIS server, in this order:
# 1. LOCATOR_TEST_DATABASE_URL names one (CI: Debian's cluster started by .ci/run):
#    pytest-postgresql attaches to it ("noproc").
# 2. Not root, and Debian's PostgreSQL 15 + PostGIS are installed: pytest-postgresql
#    starts a throwaway server with their pg_ctl.
# 3. Otherwise the PostGIS tests skip with the reason (a failure under CI=true).
# Either way the schema is migrated once into a template database; every test gets a
# fresh database cloned from it (CREATE DATABASE … TEMPLATE, ~0.1 s).

PG_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
PG_TEST_URL = os.environ.get("LOCATOR_TEST_DATABASE_URL", "")
_PG_TEST = conninfo_to_dict(PG_TEST_URL) if PG_TEST_URL else {}
_PG_DBNAME = f"locator_test_{os.getpid()}"


def pg_url(host: str, port: int | str, user: str, password: str | None, dbname: str) -> str:
    """A libpq URI (TCP) for the test servers."""
    auth = quote(user) + (":" + quote(password) if password else "")
    return f"postgresql://{auth}@{host}:{port}/{quote(dbname)}"


def load_postgis_template(
    host: str, port: int | str, user: str, dbname: str, password: str | None = None, **_: object
) -> None:
    """pytest-postgresql loader: PostGIS and the migrated schema, once, in the template."""
    url = pg_url(host, port, user, password, dbname)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    store = PostGISStore(url, pool_min=1, pool_max=2)
    try:
        store.init_schema()
    finally:
        store.close()


pg_attached_server = factories.postgresql_noproc(
    host=str(_PG_TEST.get("host") or "127.0.0.1"),
    port=str(_PG_TEST.get("port") or 5432),
    user=str(_PG_TEST.get("user") or "postgres"),
    password=str(_PG_TEST["password"]) if _PG_TEST.get("password") else None,
    dbname=_PG_DBNAME,
    maintenance_dbname=str(_PG_TEST.get("dbname") or "postgres"),
    load=[load_postgis_template],
)
pg_spawned_server = factories.postgresql_proc(
    executable=str(PG_BIN / "pg_ctl"), port=None, dbname=_PG_DBNAME, load=[load_postgis_template]
)


def postgis_installed() -> bool:
    """True when Debian's PostgreSQL 15 binaries and the PostGIS extension are present."""
    return (PG_BIN / "pg_ctl").exists() and POSTGIS_CONTROL.exists()


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> Any:
    """The PostGIS server for this session (an executor with host, port, user...)."""
    if PG_TEST_URL:
        return request.getfixturevalue("pg_attached_server")
    if not postgis_installed():
        skip_or_fail(
            "PostGIS tests need a server: set LOCATOR_TEST_DATABASE_URL, or install postgresql-15-postgis-3"
        )
    if os.geteuid() == 0:
        skip_or_fail(
            "PostGIS tests: PostgreSQL refuses to run as root; set LOCATOR_TEST_DATABASE_URL "
            "(see .ci/run) or run the tests as a normal user"
        )
    return request.getfixturevalue("pg_spawned_server")


@contextmanager
def fresh_database(server: Any, template: str | None = None) -> Iterator[str]:
    """A new database cloned from ``template`` (default: the migrated, empty template).

    Dropped afterwards. Yields its URL.
    """
    dbname = f"locator_t_{uuid.uuid4().hex[:12]}"
    janitor = DatabaseJanitor(
        user=server.user,
        host=server.host,
        port=server.port,
        dbname=dbname,
        template_dbname=template or server.template_dbname,
        maintenance_dbname=server.maintenance_dbname,
        password=server.password,
    )
    with janitor:
        yield pg_url(server.host, server.port, server.user, server.password, dbname)


@pytest.fixture
def postgis_url(pg_server: Any) -> Iterator[str]:
    """URL of a fresh, migrated, empty PostGIS database for one test."""
    with fresh_database(pg_server) as url:
        yield url


def open_like(store: FacilityStore) -> FacilityStore:
    """Open a second store instance on the same database (another worker's view)."""
    if isinstance(store, PostGISStore):
        return PostGISStore(store.url, pool_min=1, pool_max=4, timeout_s=store.timeout_s)
    assert isinstance(store, SQLiteStore)
    return SQLiteStore(store.path)


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FacilityStore]:
    """An empty store with its schema, once per backend (the conformance suite's subject)."""
    s: FacilityStore
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "store.sqlite3")
    else:
        s = PostGISStore(request.getfixturevalue("postgis_url"), pool_min=1, pool_max=4, timeout_s=5)
    s.init_schema()
    yield s
    s.close()


def make_pg_app(url: str, **config: object) -> Flask:
    """An app over the PostGIS database at ``url``."""
    cfg: dict[str, object] = {
        "TESTING": True,
        "LOCATOR_DATABASE_URL": url,
        "LOCATOR_SECRET_KEY": "test-secret-key-0123456789",
        "LOCATOR_DB_POOL_MIN": 1,
        "LOCATOR_DB_POOL_MAX": 4,
        "LOCATOR_INDEX_DIR": str(Path(tempfile.gettempdir()) / f"locator-test-index-{os.getpid()}"),
    }
    cfg.update(config)
    return create_app(cfg)


@pytest.fixture(scope="session")
def postgis_demo_url(pg_server: Any) -> Iterator[str]:
    """A PostGIS database with the demo layer loaded once per session (read-only use)."""
    with fresh_database(pg_server) as url:
        app = make_pg_app(url)
        svc: LocatorService = app.extensions["locator"]
        svc.import_records(read_records(DEMO_LAYER), Datum.WGS84, demo=True)
        svc.store.close()
        yield url


@pytest.fixture(scope="session")
def postgis_demo_template(pg_server: Any) -> Iterator[str]:
    """The name of a database holding the demo layer, only ever used as a template.

    Nothing stays connected to it, so ``CREATE DATABASE … TEMPLATE`` can copy it (a file
    copy: much faster than importing the layer for every test).
    """
    with fresh_database(pg_server) as url:
        app = make_pg_app(url)
        svc: LocatorService = app.extensions["locator"]
        svc.import_records(read_records(DEMO_LAYER), Datum.WGS84, demo=True)
        svc.store.close()
        yield conninfo_to_dict(url)["dbname"]


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def demo_app_factory(
    request: pytest.FixtureRequest, tmp_path: Path, demo_db: Path
) -> Iterator[Callable[..., Flask]]:
    """``make(**config) -> Flask``: an app over a private, writable copy of the demo layer.

    Once per backend: a copy of the session's SQLite demo file, or a PostGIS database
    cloned from :func:`postgis_demo_template`. Every app made is closed afterwards.
    """
    made: list[Flask] = []
    with ExitStack() as stack:
        url: str | None = None
        if request.param == "postgis":
            template = request.getfixturevalue("postgis_demo_template")
            url = stack.enter_context(fresh_database(request.getfixturevalue("pg_server"), template))
        else:
            shutil.copy(demo_db, tmp_path / "demo-copy.sqlite3")

        def make(**config: object) -> Flask:
            app = (
                make_pg_app(url, **config)
                if url is not None
                else make_app(tmp_path / "demo-copy.sqlite3", **config)
            )
            made.append(app)
            return app

        yield make
        for app in made:  # before the database is dropped
            app.extensions["locator"].store.close()


class ThrowawayCluster:
    """A private PostgreSQL cluster (initdb + pg_ctl) that a test may stop and start.

    As root, every PostgreSQL command runs as the ``postgres`` user via ``runuser``,
    in a directory that user owns. The cluster trusts local connections (tests only).
    """

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        self.base = Path(tempfile.mkdtemp(prefix="locator-pg-"))
        if self.as_root:
            shutil.chown(self.base, "postgres", "postgres")
        self.datadir = self.base / "data"
        self.port = port_for.select_random()
        self.url = pg_url("127.0.0.1", self.port, "locator", None, "locator")

    def _run(self, *args: str) -> None:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stdout}{proc.stderr}")

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.datadir), "-U", "locator", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        self.start()
        admin = pg_url("127.0.0.1", self.port, "locator", None, "postgres")
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute("CREATE DATABASE locator")
        with psycopg.connect(self.url, autocommit=True) as c:
            c.execute("CREATE EXTENSION postgis")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.base / "log")
        self._run("pg_ctl", "-D", str(self.datadir), "-o", opts, "-l", log, "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except RuntimeError:
            pass
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def throwaway_cluster() -> Iterator[ThrowawayCluster]:
    """A private PostGIS cluster on a random port, for tests that stop the database."""
    if not postgis_installed() or not (PG_BIN / "initdb").exists():
        skip_or_fail("the restart test needs PostgreSQL 15 + PostGIS (postgresql-15-postgis-3)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            skip_or_fail("the restart test runs PostgreSQL as the 'postgres' user, which does not exist")
    cluster = ThrowawayCluster()
    try:
        cluster.init()
        yield cluster
    finally:
        cluster.destroy()


def add_problem_report(
    store: Any, facility_id: str, reason: str, text: str = "", at: datetime | None = None
) -> Any:
    """File a rider's problem report the way riders do (feedback) and return its queue view."""
    from locator.core.domain import Feedback

    fb = store.add_feedback(
        Feedback(facility_id, "problem", at or datetime.now(UTC), reason=reason, comment=text)
    )
    return store.get_report(fb.id)


def wait_for_js(page, expression: str, timeout_ms: float = 10_000) -> None:  # type: ignore[no-untyped-def]
    """Poll a JavaScript expression until it is truthy.

    Playwright's ``wait_for_function`` compiles its predicate inside the page, which the
    pages' CSP (no ``'unsafe-eval'``) forbids; ``page.evaluate`` is not subject to it.
    """
    import time

    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expression!r} still false after {timeout_ms:g} ms")
        page.wait_for_timeout(50)
