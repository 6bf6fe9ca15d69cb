"""Configuration: defaults, then ``LOCATOR_*`` environment variables, validated at start-up.

Every setting is read once, in :func:`load_config`, and a bad value stops the app at
start-up with a message naming the variable (never a failure on the first request).

==============================  ===================================================
``LOCATOR_DATABASE_URL``        ``sqlite:///path`` (default: ``instance/locator.sqlite3``)
                                or ``postgresql://…`` (PostGIS; a libpq multi-host URL
                                with ``target_session_attrs=read-write`` follows a
                                failover)
``LOCATOR_DATABASE_READ_URL``   PostGIS only, optional: where the index thread reads
                                (a standby: ``target_session_attrs=prefer-standby``);
                                it polls the revision there every
                                ``LOCATOR_INDEX_CHECK_S`` (no NOTIFY on a standby)
``LOCATOR_SERVICE_AREA``        GeoJSON polygon file, or ``none``
                                (default: the Beijing boundary in ``geodata/``)
``LOCATOR_SECRET_KEY``          session signing key (default: generated once into
                                ``instance/secret_key``)
``LOCATOR_TILES``               ``osm`` (WGS-84), ``amap`` (GCJ-02), ``none``, or
                                ``custom`` with ``LOCATOR_TILE_URL``,
                                ``LOCATOR_TILE_DATUM``, ``LOCATOR_TILE_ATTRIBUTION``
``LOCATOR_INDEX_CHECK_S``       seconds between a worker's background checks of the
                                store revision (default 0: 0.05 s; at least 0.01 s)
``LOCATOR_INDEX_DIR``           where index snapshots are kept, shared by the workers
                                of one machine (default ``instance/index``; ``none``:
                                build the index from the rows at every start)
``LOCATOR_DB_POOL_MIN/MAX``     PostGIS connection pool size (default 1/10)
``LOCATOR_DB_TIMEOUT_S``        PostGIS connect/statement timeout (default 5)
``LOCATOR_FEEDBACK_RATE_LIMIT`` rider feedback per client (default
                                ``10 per minute;100 per day``)
``LOCATOR_HTTPS``               ``true`` when served over HTTPS (behind a TLS proxy):
                                session cookies get ``Secure`` (default false)
``LOCATOR_LOGIN_RATE``          login attempts allowed per client address and per
                                user name (default ``10 per minute``)
``LOCATOR_STALE_DAYS``          days after which a facility counts as not verified
                                recently (default 90)
``LOCATOR_MAX_JSON_BYTES``      request-body caps (bytes): JSON API (default 64 KiB),
``LOCATOR_MAX_FORM_BYTES``      HTML forms (256 KiB), bulk uploads (16 MiB); a larger
``LOCATOR_MAX_UPLOAD_BYTES``    body gets 413 (see :mod:`locator.http.bodies`)
``LOCATOR_IMPORT_MAX_ROWS``     the most rows one ``flask locator import`` takes
                                (default 2,000,000; a larger file is refused)
``LOCATOR_UPLOAD_DIR``          where bulk uploads wait between dry run and apply
                                (default ``instance/uploads``; shared storage when
                                several app nodes serve ``/manage``)
==============================  ===================================================

Partners and the public API (see ``docs/partners.md``):

* ``LOCATOR_RATELIMIT_STORAGE_URI``: where request counters live (default
  ``memory://``, per process; with several workers use ``redis://…`` or
  ``memcached://…`` so that they share one count).
* ``LOCATOR_RATELIMIT_KEYLESS``: public API allowance per client IP without a key
  (default ``600 per minute``, counted per worker; see ``docs/partners.md``).
* ``LOCATOR_RATELIMIT_SAME_ORIGIN``: the allowance of this site's own pages per client
  IP (``Sec-Fetch-Site: same-origin``; default ``6000 per minute``, per worker).
* ``LOCATOR_RATELIMIT_BURST``: burst rate per API key, on top of its daily quota
  (default ``20 per second``).
* ``LOCATOR_PUBLIC_URL``: this site's address as users see it, ``scheme://host[:port]``:
  the only source of absolute URLs (embed snippets, OGC API and change-feed links); when
  set, requests for any other host (but ``localhost``/``127.0.0.1``) get 400. Unset:
  links are site-relative and the CLI's snippets use ``http://127.0.0.1:5000``.
* ``LOCATOR_METRICS_TOKEN``: a bearer token (16+ characters) for ``/metrics`` from
  elsewhere than the machine itself (default: none; loopback only).
* ``LOCATOR_READY_MAX_LAG_S``: ``/readyz`` answers 503 when the index thread has not
  reached an answering store for this long (default 10 s).
* ``LOCATOR_TRUSTED_PROXIES``: how many reverse proxies in front of the app set
  ``X-Forwarded-For``/``X-Forwarded-Proto`` (default 0: none is trusted). With 1 behind
  nginx, the client's address (rate limits, pseudonyms) comes from the proxy's
  ``X-Forwarded-For`` (werkzeug's ``ProxyFix``).
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many

from locator.core.areas import CITY_BOUNDARY_FILE


class ConfigError(RuntimeError):
    """A configuration value is invalid; the message names the variable."""


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {raw!r}")
    return value


def _secret_key(instance_path: Path) -> str:
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def load_config(instance_path: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the app configuration from ``env`` (default: ``os.environ``).

    Returns
    -------
    dict
        Flask config keys (``SECRET_KEY``, ``LOCATOR_*``).

    Raises
    ------
    ConfigError
        On any invalid value, naming the variable.
    """
    env = os.environ if env is None else env
    cfg: dict[str, Any] = {}
    url = env.get("LOCATOR_DATABASE_URL") or f"sqlite:///{instance_path / 'locator.sqlite3'}"
    if not (url.startswith("sqlite:///") or url.startswith(("postgresql://", "postgres://"))):
        raise ConfigError(
            f"LOCATOR_DATABASE_URL must start with sqlite:/// or postgresql://, got {url.split(':', 1)[0]!r}"
        )
    cfg["LOCATOR_DATABASE_URL"] = url
    read_url = (env.get("LOCATOR_DATABASE_READ_URL") or "").strip()
    if read_url and (url.startswith("sqlite") or not read_url.startswith(("postgresql://", "postgres://"))):
        raise ConfigError(
            "LOCATOR_DATABASE_READ_URL needs a postgresql:// URL, and LOCATOR_DATABASE_URL on PostGIS"
        )
    cfg["LOCATOR_DATABASE_READ_URL"] = read_url or None

    area = env.get("LOCATOR_SERVICE_AREA", "")
    if area.strip().lower() == "none":
        cfg["LOCATOR_SERVICE_AREA"] = None
    else:
        path = Path(area) if area else CITY_BOUNDARY_FILE
        if not path.is_file():
            raise ConfigError(f"LOCATOR_SERVICE_AREA: no such file {str(path)!r}")
        cfg["LOCATOR_SERVICE_AREA"] = path

    cfg["SECRET_KEY"] = env.get("LOCATOR_SECRET_KEY") or _secret_key(instance_path)
    if len(cfg["SECRET_KEY"]) < 16:
        raise ConfigError("LOCATOR_SECRET_KEY must be at least 16 characters")

    tiles = (env.get("LOCATOR_TILES") or "osm").strip().lower()
    if tiles not in {"osm", "amap", "none", "custom"}:
        raise ConfigError(f"LOCATOR_TILES must be osm, amap, none or custom, got {tiles!r}")
    cfg["LOCATOR_TILES"] = tiles
    if tiles == "custom":
        tile_url = env.get("LOCATOR_TILE_URL", "")
        if not tile_url.startswith(("https://", "http://")) or "{z}" not in tile_url:
            raise ConfigError("LOCATOR_TILE_URL must be an http(s) URL template with {x}, {y}, {z}")
        datum = (env.get("LOCATOR_TILE_DATUM") or "").strip().lower()
        if datum not in {"wgs84", "gcj02", "bd09"}:
            raise ConfigError("LOCATOR_TILE_DATUM must be wgs84, gcj02 or bd09")
        cfg["LOCATOR_TILE_URL"] = tile_url
        cfg["LOCATOR_TILE_DATUM"] = datum
        cfg["LOCATOR_TILE_ATTRIBUTION"] = env.get("LOCATOR_TILE_ATTRIBUTION", "")

    cfg["LOCATOR_INDEX_CHECK_S"] = _float(env, "LOCATOR_INDEX_CHECK_S", 0.0, 0.0, 60.0)
    index_dir = (env.get("LOCATOR_INDEX_DIR") or "").strip()
    if index_dir.lower() == "none":
        cfg["LOCATOR_INDEX_DIR"] = None
    else:
        cfg["LOCATOR_INDEX_DIR"] = Path(index_dir) if index_dir else instance_path / "index"
    cfg["LOCATOR_DB_POOL_MIN"] = int(_float(env, "LOCATOR_DB_POOL_MIN", 1, 0, 100))
    cfg["LOCATOR_DB_POOL_MAX"] = int(_float(env, "LOCATOR_DB_POOL_MAX", 10, 1, 500))
    if cfg["LOCATOR_DB_POOL_MAX"] < cfg["LOCATOR_DB_POOL_MIN"]:
        raise ConfigError("LOCATOR_DB_POOL_MAX must be >= LOCATOR_DB_POOL_MIN")
    cfg["LOCATOR_DB_TIMEOUT_S"] = _float(env, "LOCATOR_DB_TIMEOUT_S", 5.0, 0.1, 120.0)
    # Request-body caps per kind of route (locator.http.bodies), bytes.
    cfg["LOCATOR_MAX_JSON_BYTES"] = int(_float(env, "LOCATOR_MAX_JSON_BYTES", 64 * 1024, 1024, 2**30))
    cfg["LOCATOR_MAX_FORM_BYTES"] = int(_float(env, "LOCATOR_MAX_FORM_BYTES", 256 * 1024, 1024, 2**30))
    cfg["LOCATOR_MAX_UPLOAD_BYTES"] = int(_float(env, "LOCATOR_MAX_UPLOAD_BYTES", 16 * 2**20, 1024, 2**31))
    cfg["LOCATOR_IMPORT_MAX_ROWS"] = int(_float(env, "LOCATOR_IMPORT_MAX_ROWS", 2_000_000, 1, 1e9))
    cfg.update(_rate_config(env))
    cfg.update(_management_config(env))
    return cfg


def _rate_config(env: Mapping[str, str]) -> dict[str, Any]:
    """Rate limits (:mod:`locator.http.limits`, :mod:`locator.http.access`) and the public URL."""
    cfg: dict[str, Any] = {}
    uri = (env.get("LOCATOR_RATELIMIT_STORAGE_URI") or "memory://").strip()
    # The schemes of the `limits` storages we support (their drivers are not bundled:
    # install redis or pymemcache next to the app to use them).
    schemes = {"memory", "redis", "rediss", "redis+cluster", "redis+sentinel", "memcached"}
    if uri.split("://", 1)[0] not in schemes or "://" not in uri:
        raise ConfigError("LOCATOR_RATELIMIT_STORAGE_URI must be memory://, redis://… or memcached://…")
    cfg["LOCATOR_RATELIMIT_STORAGE_URI"] = uri
    for name, default in (
        ("LOCATOR_RATELIMIT_KEYLESS", "600 per minute"),
        ("LOCATOR_RATELIMIT_SAME_ORIGIN", "6000 per minute"),
        ("LOCATOR_RATELIMIT_BURST", "20 per second"),
        ("LOCATOR_FEEDBACK_RATE_LIMIT", "10 per minute;100 per day"),
        ("LOCATOR_LOGIN_RATE", "10 per minute"),
    ):
        value = (env.get(name) or default).strip()
        try:
            parse_many(value)
        except ValueError:
            raise ConfigError(f"{name} must be a rate such as '60 per minute', got {value!r}") from None
        cfg[name] = value
    public = (env.get("LOCATOR_PUBLIC_URL") or "").strip().rstrip("/")
    parts = urlsplit(public)
    if public and (parts.scheme not in {"http", "https"} or not parts.hostname or parts.path or parts.query):
        raise ConfigError("LOCATOR_PUBLIC_URL must be scheme://host[:port] (http or https, no path)")
    cfg["LOCATOR_PUBLIC_URL"] = public
    cfg["LOCATOR_TRUSTED_PROXIES"] = int(_float(env, "LOCATOR_TRUSTED_PROXIES", 0, 0, 10))
    token = (env.get("LOCATOR_METRICS_TOKEN") or "").strip()
    if token and len(token) < 16:
        raise ConfigError("LOCATOR_METRICS_TOKEN must be at least 16 characters")
    cfg["LOCATOR_METRICS_TOKEN"] = token
    cfg["LOCATOR_READY_MAX_LAG_S"] = _float(env, "LOCATOR_READY_MAX_LAG_S", 10.0, 0.1, 3600.0)
    return cfg


def _management_config(env: Mapping[str, str]) -> dict[str, Any]:
    """Accounts and cookies (see the table in the module docstring)."""
    cfg: dict[str, Any] = {}
    https = (env.get("LOCATOR_HTTPS") or "false").strip().lower()
    if https not in {"true", "false", "1", "0", "yes", "no"}:
        raise ConfigError(f"LOCATOR_HTTPS must be true or false, got {https!r}")
    cfg["LOCATOR_HTTPS"] = https in {"true", "1", "yes"}
    cfg["LOCATOR_STALE_DAYS"] = int(_float(env, "LOCATOR_STALE_DAYS", 90, 1, 3650))
    upload_dir = (env.get("LOCATOR_UPLOAD_DIR") or "").strip()
    cfg["LOCATOR_UPLOAD_DIR"] = Path(upload_dir) if upload_dir else None
    return cfg
