"""Absolute URLs come from ``LOCATOR_PUBLIC_URL`` only — never from the ``Host`` header.

Answers that carry links are publicly cacheable (OGC API, the change feed, the embed), so
a link built from a client's ``Host`` header could be served to everyone by a shared
cache. With ``LOCATOR_PUBLIC_URL`` set (``scheme://host[:port]``, the site's address as
users see it) links are absolute and requests for any other host are refused
(``TRUSTED_HOSTS``: that host, plus ``localhost``/``127.0.0.1`` for probes on the
machine). Without it, links are root-relative (``/ogc/collections``), which browsers,
OWSLib and GDAL resolve against the address they asked.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, url_for

#: Hosts always accepted besides ``LOCATOR_PUBLIC_URL``'s (health checks, local tools).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def public_base() -> str:
    """``LOCATOR_PUBLIC_URL`` without a trailing slash, or ``""`` when unset."""
    return str(current_app.config.get("LOCATOR_PUBLIC_URL") or "").rstrip("/")


def absolute(path: str) -> str:
    """``path`` (starting with ``/``) on the public site: absolute with ``LOCATOR_PUBLIC_URL``."""
    return public_base() + path


def link(endpoint: str, **values: Any) -> str:
    """:func:`flask.url_for` made :func:`absolute` (never ``_external`` from ``Host``)."""
    return absolute(url_for(endpoint, **values))


def trusted_hosts(public_url: str) -> list[str] | None:
    """``TRUSTED_HOSTS`` for a ``LOCATOR_PUBLIC_URL`` (None, i.e. any host, when unset)."""
    if not public_url:
        return None
    host = urlsplit(public_url).hostname or ""
    return [host, *LOOPBACK_HOSTS]
