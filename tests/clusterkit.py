"""Start and stop a whole cluster on 127.0.0.1 for the drill in ``tests/test_cluster.py``.

etcd, two PostgreSQL nodes under Patroni (synchronous mode, ``remote_apply``), Redis,
two gunicorn app nodes and nginx in front of them, every one on free loopback ports,
in one temporary directory, each in a process group of its own so that
:meth:`Cluster.stop` can end it (SIGTERM, then SIGKILL), also after a failure.
PostgreSQL (and so Patroni) runs as the ``postgres`` user when we are root.

Also usable by hand (``python -m tests.clusterkit``: starts everything, prints the
addresses, stops on Enter), which is how ``docs/operations.md``'s figures were checked.
"""

from __future__ import annotations

import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
TOOLS = {
    "etcd": "etcd-server",
    "patroni": "patroni",
    "redis-server": "redis-server",
    "nginx": "nginx",
}
DB_PASSWORD = "drill-locator-pw"
SU_PASSWORD = "drill-superuser-pw"
REPL_PASSWORD = "drill-replication-pw"


def missing_tools() -> list[str]:
    """Debian packages the drill needs that are not installed."""
    missing = [
        pkg
        for tool, pkg in TOOLS.items()
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()
    ]
    if not (PG_BIN / "postgres").exists():
        missing.append("postgresql-15")
    return missing


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 60.0, every_s: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; raise after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = exc
        time.sleep(every_s)
    raise TimeoutError(f"{what}: not within {timeout_s:g} s (last error: {last!r})")


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class Proc:
    """One started process (a process group of its own) and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the group, then SIGKILL it if it has not exited within ``timeout_s``."""
        if self.alive():
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                pass
        self.signal_group(signal.SIGKILL)
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants (a postmaster and its backends)."""
    for child in _children(pid):
        kill_tree(child)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class PgNode:
    name: str
    port: int
    rest_port: int
    data_dir: Path
    proc: Proc | None = None

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def patroni(self) -> dict[str, Any]:
        r = requests.get(f"http://127.0.0.1:{self.rest_port}/patroni", timeout=3)
        return dict(r.json())


@dataclass
class AppNode:
    name: str
    port: int
    env: dict[str, str]
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    """The drill's cluster (see the module docstring); :meth:`start`, then :meth:`stop`."""

    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="locator-cluster-")))
    procs: list[Proc] = field(default_factory=list)
    pg: list[PgNode] = field(default_factory=list)
    apps: list[AppNode] = field(default_factory=list)
    etcd_port: int = 0
    redis_port: int = 0
    nginx_port: int = 0
    redis: Proc | None = None
    nginx: Proc | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    # -- processes -------------------------------------------------------------------------

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Proc:
        log = self.base / f"{name}.log"
        fh = log.open("ab")
        popen = subprocess.Popen(  # noqa: S603 - fixed programs
            argv,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env if env is not None else os.environ.copy(),
            cwd=str(cwd or self.base),
            start_new_session=True,
        )
        fh.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def logs(self, n: int = 25) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.tail(n)}" for p in self.procs)

    # -- start -----------------------------------------------------------------------------

    def start(self, facilities_file: Path) -> None:
        """Start everything, in the documented order (deploy/README.md)."""
        self.base.chmod(0o755)
        self.start_etcd()
        self.start_patroni()
        self.create_database()
        self.start_redis()
        self.prepare_data(facilities_file)
        self.start_apps()
        self.start_nginx()

    def start_etcd(self) -> None:
        self.etcd_port, peer = free_port(), free_port()
        data = self.base / "etcd"
        self.spawn(
            "etcd",
            [
                "etcd",
                "--name=drill",
                f"--data-dir={data}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=drill=http://127.0.0.1:{peer}",
                "--initial-cluster-state=new",
            ],
            # etcd 3.4 refuses to start on arm64 unless told it may.
            env={**os.environ, "ETCD_UNSUPPORTED_ARCH": "arm64"} if platform.machine() == "aarch64" else None,
        )
        wait_for(
            "etcd",
            lambda: (
                requests.get(f"http://127.0.0.1:{self.etcd_port}/health", timeout=2).json().get("health")
                == "true"
            ),
        )

    def _patroni_config(self, node: PgNode, peers: str) -> str:
        cfg = {
            "scope": "locator-drill",
            "name": node.name,
            "log": {"level": "INFO"},
            "restapi": {
                "listen": f"127.0.0.1:{node.rest_port}",
                "connect_address": f"127.0.0.1:{node.rest_port}",
            },
            "etcd3": {"hosts": f"127.0.0.1:{self.etcd_port}"},
            "bootstrap": {
                "dcs": {
                    "ttl": 10,
                    "loop_wait": 1,
                    "retry_timeout": 4,
                    "maximum_lag_on_failover": 1048576,
                    "synchronous_mode": True,
                    "postgresql": {
                        "use_pg_rewind": False,
                        "parameters": {
                            "synchronous_commit": "remote_apply",
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            "wal_keep_size": "128MB",
                            "max_connections": 80,
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}],
                "pg_hba": [
                    "local all all trust",
                    "host replication replicator 127.0.0.1/32 scram-sha-256",
                    "host all all 127.0.0.1/32 scram-sha-256",
                ],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{node.port}",
                "connect_address": f"127.0.0.1:{node.port}",
                "data_dir": str(node.data_dir),
                "bin_dir": str(PG_BIN),
                "pgpass": str(self.base / f"pgpass-{node.name}"),
                "authentication": {
                    "replication": {"username": "replicator", "password": REPL_PASSWORD},
                    "superuser": {"username": "postgres", "password": SU_PASSWORD},
                },
                "parameters": {
                    "unix_socket_directories": str(self.base / f"sock-{node.name}"),
                    "shared_buffers": "32MB",
                    "fsync": "off",  # a throwaway test cluster: no crash safety needed
                },
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
        }
        del peers
        return json.dumps(cfg)  # YAML is a superset of JSON

    def start_patroni(self) -> None:
        pg_user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        for i in (1, 2):
            node = PgNode(f"pg{i}", free_port(), free_port(), self.base / f"pg{i}")
            sock = self.base / f"sock-{node.name}"
            sock.mkdir()
            if pg_user is not None:
                os.chown(sock, pg_user.pw_uid, pg_user.pw_gid)
                os.chown(self.base, pg_user.pw_uid, pg_user.pw_gid)
            self.pg.append(node)
        for node in self.pg:
            conf = self.base / f"patroni-{node.name}.yml"
            conf.write_text(self._patroni_config(node, ""))
            if pg_user is not None:
                os.chown(conf, pg_user.pw_uid, pg_user.pw_gid)
            node.proc = self.spawn(f"patroni-{node.name}", [*_as_postgres(), "patroni", str(conf)])
            if node is self.pg[0]:  # let pg1 bootstrap, so that it is the first leader
                wait_for("pg1 primary", lambda n=node: n.patroni().get("role") == "master", timeout_s=90)
        wait_for("a synchronous standby", self.sync_standby, timeout_s=90)

    def roles(self) -> dict[str, str]:
        out = {}
        for node in self.pg:
            try:
                out[node.name] = str(node.patroni().get("role"))
            except Exception:  # noqa: BLE001 - down
                out[node.name] = "down"
        return out

    def primary(self) -> PgNode | None:
        for node in self.pg:
            try:
                if node.patroni().get("role") == "master":
                    return node
            except Exception:  # noqa: BLE001 - down
                continue
        return None

    def sync_standby(self) -> str | None:
        """The name of the synchronous standby, once it is streaming."""
        r = requests.get(f"http://127.0.0.1:{self.pg[0].rest_port}/cluster", timeout=3)
        for m in r.json().get("members", []):
            if m.get("role") == "sync_standby" and m.get("state") in {"running", "streaming"}:
                return str(m["name"])
        return None

    def psql(self, node: PgNode, sql: str, db: str = "postgres") -> str:
        out = subprocess.run(  # noqa: S603
            [
                *_as_postgres(),
                str(PG_BIN / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(node.port),
                "-U",
                "postgres",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtc",
                sql,
            ],
            env={**os.environ, "PGPASSWORD": SU_PASSWORD},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return out.stdout.strip()

    def create_database(self) -> None:
        primary = self.pg[0]
        self.psql(primary, f"CREATE ROLE locator LOGIN PASSWORD '{DB_PASSWORD}'")
        self.psql(primary, "CREATE DATABASE locator OWNER locator")
        self.psql(primary, "CREATE EXTENSION postgis", db="locator")

    def db_url(self, attrs: str = "read-write") -> str:
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.pg)
        return f"postgresql://locator:{DB_PASSWORD}@{hosts}/locator?target_session_attrs={attrs}"

    def start_redis(self) -> None:
        """Start Redis (again on the same port after :meth:`Proc.stop`)."""
        self.redis_port = self.redis_port or free_port()
        self.redis = self.spawn(
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.base),
            ],
        )
        wait_for("redis", lambda: socket.create_connection(("127.0.0.1", self.redis_port), 1).close() or True)

    def app_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCATOR_", "PROMETHEUS_"))}
        env.update(
            {
                "LOCATOR_DATABASE_URL": self.db_url(),
                "LOCATOR_SECRET_KEY": "drill-secret-key-0123456789abcdef",
                "LOCATOR_RATELIMIT_STORAGE_URI": (
                    f"redis://127.0.0.1:{self.redis_port}/0?socket_connect_timeout=0.5&socket_timeout=0.5"
                ),
                "LOCATOR_TRUSTED_PROXIES": "1",
                "LOCATOR_RATELIMIT_KEYLESS": "100000 per minute",
                "LOCATOR_FEEDBACK_RATE_LIMIT": "3 per minute",
                "LOCATOR_DB_TIMEOUT_S": "2",
                "LOCATOR_INDEX_CHECK_S": "0.05",
                "LOCATOR_SERVICE_AREA": "none",
                "LOCATOR_UPLOAD_DIR": str(self.base / "uploads"),
                "FLASK_APP": "app",
            }
        )
        env.update(extra)
        return env

    def flask(self, *args: str, stdin: str | None = None, **env_extra: str) -> str:
        env = self.app_env(LOCATOR_INDEX_DIR="none", **env_extra)
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "flask", "--app", "app", "locator", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if out.returncode:
            raise RuntimeError(f"flask locator {' '.join(args)}: {out.stderr}")
        return out.stdout

    def prepare_data(self, facilities_file: Path) -> None:
        self.flask("init-db")
        self.flask("import", str(facilities_file), "--datum", "wgs84")
        self.flask(
            "create-user",
            "drill-admin",
            "--role",
            "admin",
            "--password-stdin",
            stdin="drill passphrase long enough 2026\n",
        )
        self.token = self.flask("create-token", "drill-admin", "--label", "drill").strip().splitlines()[-1]

    def start_apps(self) -> None:
        for name, read in (("A", False), ("B", True)):
            port = free_port()
            extra = {
                "PORT": str(port),
                "WORKERS": "1",
                "ACCESS_LOG": "",
                "LOCATOR_INDEX_DIR": str(self.base / f"index-{name}"),
            }
            if read:  # B's index follows the standby
                extra["LOCATOR_DATABASE_READ_URL"] = self.db_url("prefer-standby")
            node = AppNode(name, port, self.app_env(**extra))
            node.proc = self.spawn(
                f"app-{name}",
                [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
                env=node.env,
                cwd=ROOT,
            )
            self.apps.append(node)
        for node in self.apps:
            wait_for(
                f"app {node.name}",
                lambda n=node: requests.get(n.url + "/readyz", timeout=3).ok,
                timeout_s=120,
            )

    def nginx_conf(self) -> str:
        tpl = (ROOT / "deploy" / "nginx" / "locator.conf").read_text()
        upstreams = "\n".join(
            f"    server 127.0.0.1:{n.port} max_fails=2 fail_timeout=5s;" for n in self.apps
        )
        site = re.sub(
            r"(?m)^    server 127\.0\.0\.1:800\d .*\n(    server 127\.0\.0\.1:800\d .*\n)*",
            upstreams + "\n",
            tpl,
        )
        site = site.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{self.nginx_port};")
        site = site.replace("/var/log/nginx/locator.log", str(self.base / "nginx" / "access.log"))
        tmp = self.base / "nginx"
        return (
            "worker_processes 1;\n"
            f"pid {tmp}/nginx.pid;\n"
            f"error_log {tmp}/error.log warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            "  include /etc/nginx/mime.types;\n"
            f"  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;\n"
            f"  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;\n"
            f"{site}\n"
            "}\n"
        )

    def start_nginx(self) -> None:
        self.nginx_port = free_port()
        (self.base / "nginx").mkdir()
        conf = self.base / "nginx" / "nginx.conf"
        conf.write_text(self.nginx_conf())
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.nginx = self.spawn(
            "nginx", [nginx, "-p", str(self.base / "nginx"), "-c", str(conf), "-g", "daemon off;"]
        )
        wait_for("nginx", lambda: requests.get(self.front + "/healthz", timeout=3).ok)

    @property
    def front(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    # -- faults ----------------------------------------------------------------------------

    def kill_node(self, node: PgNode) -> None:
        """Simulate the loss of a database host: SIGKILL its Patroni and its postmaster tree."""
        pid = node.postmaster_pid()
        if node.proc is not None:
            node.proc.signal_group(signal.SIGKILL)
        if pid is not None:
            kill_tree(pid)

    # -- stop ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop everything this cluster started (also after a failure); remove its files."""
        for proc in reversed(self.procs):
            proc.stop()
        for node in self.pg:  # a postmaster left by a killed Patroni
            pid = node.postmaster_pid()
            if pid is not None and Path(f"/proc/{pid}").exists():
                kill_tree(pid)
        shutil.rmtree(self.base, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover - manual use
    from tests.test_cluster import write_facilities

    c = Cluster()
    try:
        c.start(write_facilities(c.base / "facilities.geojson"))
        print("front", c.front, "apps", [a.url for a in c.apps], "pg", [n.port for n in c.pg], "base", c.base)
        input("Enter to stop ")
    finally:
        c.stop()
