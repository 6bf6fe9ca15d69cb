"""Logs without positions: gunicorn's access and error logs, as the served configuration writes them.

Riders search from where they stand, so a rider's request URL is their position
(``/nearest?lon=…&lat=…``, ``/api/v1/nearest?…``, ``/lite?…``, ``/facility/…?lon=…``,
``/embed/map?…``, the OGC API's ``bbox=``), and their address says who they are.
``gunicorn.conf.py`` installs :class:`PrivateLogger`, which logs, per request::

    198.51.100.0/24 [07/Dec/2026:08:10:31 +0800] "GET /api/v1/nearest?lon&lat HTTP/1.1" 200 9958 3ms

* the client's **network**, not its address: IPv4 truncated to its /24, IPv6 to its
  /48 (:func:`client_network`) — enough to see a misbehaving network, not a person;
* the method, the **path**, and the **names** of the query parameters in the order
  sent, never their values; decimal numbers in a path are masked (``…``);
* status, bytes sent, milliseconds.

It never logs the ``Referer`` (the page a rider came from carries the same query), the
``User-Agent``, any other header or WSGI environ value: the ``%({…}i)s``, ``%({…}o)s``
and ``%({…}e)s`` atoms are empty (``-``) whatever ``access_log_format`` says (a
redirect's ``Location`` may carry a position).

The error log (gunicorn's, and the app's own loggers through the root logger) goes
through :class:`PositionFilter`: any URL's query string is cut to its parameter names and
an address after ``ip=``/``ip:`` (gunicorn's "Invalid request from ip=…", Flask-Limiter's
keys) is truncated like the access log's. ``docs/privacy.md`` says what is logged and for
how long.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import sys
from typing import Any

from gunicorn.glogging import Logger

#: The access-log line (gunicorn atoms, as rewritten by :class:`PrivateLogger`).
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(r)s" %(s)s %(B)s %(M)sms'

_QUERY = re.compile(r"\?([^\s\"'<>]*)")
_DECIMAL = re.compile(r"-?\d+\.\d+")
_IP_FIELD = re.compile(r"\b(ip[=:])\s*([0-9A-Fa-f:.]+[0-9A-Fa-f])")


def client_network(address: str | None) -> str:
    """The client's network for the logs: IPv4 → its /24, IPv6 → its /48, anything else ``-``.

    >>> client_network("203.0.113.77"), client_network("2001:db8:1234:5678::1")
    ('203.0.113.0/24', '2001:db8:1234::/48')
    >>> client_network("::ffff:203.0.113.77"), client_network(""), client_network("unix")
    ('203.0.113.0/24', '-', '-')
    """
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return "-"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def parameter_names(query_string: str) -> str:
    """A query string without its values: ``lon=1&lat=2&kind=a`` → ``lon&lat&kind``.

    >>> parameter_names("lon=116.33&lat=39.99&kind=warm_station"), parameter_names("")
    ('lon&lat&kind', '')
    """
    if not query_string:
        return ""
    names = (part.split("=", 1)[0] for part in query_string.split("&") if part)
    return "&".join(_DECIMAL.sub("…", name)[:64] for name in names)


def private_target(path: str, query_string: str) -> str:
    """What the logs say of a request target: the path (decimals masked) and parameter names.

    >>> private_target("/api/v1/nearest", "lon=116.3376&lat=39.9925")
    '/api/v1/nearest?lon&lat'
    >>> private_target("/p/116.33,39.99", "")
    '/p/…,…'
    """
    safe_path = _DECIMAL.sub("…", path)
    names = parameter_names(query_string)
    return f"{safe_path}?{names}" if names else safe_path


def scrub(text: str) -> str:
    """A log message without query values or client addresses (see the module docstring).

    >>> scrub("Error handling request GET /nearest?lon=116.33&lat=39.99")
    'Error handling request GET /nearest?lon&lat'
    >>> scrub("Invalid request from ip=203.0.113.77: bad header")
    'Invalid request from ip=203.0.113.0/24: bad header'
    """
    text = _QUERY.sub(lambda m: "?" + parameter_names(m.group(1)), text)
    return _IP_FIELD.sub(lambda m: m.group(1) + client_network(m.group(2)), text)


class PositionFilter(logging.Filter):
    """A handler filter that passes every record with its message :func:`scrub`-bed.

    The message is formatted once here (its arguments dropped) and an exception's
    traceback text is scrubbed too, so no formatter prints the raw values later.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place; always keep it."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as it is
            return True
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


def _filter_handlers(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        if not any(isinstance(f, PositionFilter) for f in handler.filters):
            handler.addFilter(PositionFilter())


class PrivateLogger(Logger):
    """gunicorn's logger with the access-log atoms and error-log messages made private.

    Set as ``logger_class`` in ``gunicorn.conf.py``. The root logger (the app's own
    loggers) gets a stderr handler with :class:`PositionFilter` if it has none, so
    that the app's ``logging.basicConfig`` finds it configured.
    """

    def setup(self, cfg: Any) -> None:
        """Set up as gunicorn does, then add the filters on the error log and the root logger."""
        super().setup(cfg)
        _filter_handlers(self.error_log)
        root = logging.getLogger()
        if not root.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
            root.addHandler(handler)
        _filter_handlers(root)

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        """The access-log atoms, without positions, addresses or headers (see the module docstring).

        gunicorn's own ``atoms`` copies every request header and environ value; these are
        never computed here (the ``SafeAtoms`` wrapper answers ``-`` for them).
        """
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        path = environ.get("PATH_INFO") or "/"
        query = environ.get("QUERY_STRING") or ""
        method = environ.get("REQUEST_METHOD", "-")
        protocol = environ.get("SERVER_PROTOCOL", "-")
        sent = getattr(resp, "sent", None)
        seconds, micros = request_time.seconds, request_time.microseconds
        return {
            "h": client_network(environ.get("REMOTE_ADDR")),
            "l": "-",
            "u": "-",
            "t": self.now(),
            "r": f"{method} {private_target(path, query)} {protocol}",
            "s": status,
            "m": method,
            "U": _DECIMAL.sub("…", path),
            "q": parameter_names(query),
            "H": protocol,
            "b": str(sent) if sent is not None else "-",
            "B": sent,
            "f": "-",
            "a": "-",
            "T": seconds,
            "D": seconds * 1_000_000 + micros,
            "M": seconds * 1000 + micros // 1000,
            "L": f"{seconds}.{micros:06d}",
            "p": f"<{os.getpid()}>",
        }
