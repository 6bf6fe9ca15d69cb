"""Rate limits: counters, the public API's allowance bookkeeping, and rider feedback limits.

Two kinds of limit share one counter store:

* **The public API's allowance** (keyless callers, our own pages, partners; see
  :mod:`locator.http.access`) is counted by :class:`Allowance`, a few lines over the
  `limits` library's fixed-window strategy. It runs on every public API request, so it
  costs a couple of dictionary operations, not a framework's walk over every declared
  limit (Flask-Limiter's per-request evaluation cost ~0.3 ms, most of
  ``/api/v1/nearest``'s budget).
* **Rider feedback** (:data:`feedback_limit`, a Flask-Limiter decorator: it checks inside
  the view, and deducts after the response so that refused cross-site posts are not
  counted).

Counters live in ``LOCATOR_RATELIMIT_STORAGE_URI``. The default ``memory://`` is
:class:`MemoryCounters` (per worker process, so with N gunicorn workers a client gets up
to N times a limit; use Redis or Memcached to share them). It replaces `limits`'
``MemoryStorage``, which starts a ``threading.Timer`` thread to expire keys about every
10 ms while requests come in (one new thread per window, measured at ~12 % of a nearest
request): here an expired window is noticed when it is next read, and a sweep at most
once a minute drops the keys nobody read again, so memory stays bounded by the clients
of the last minute(s). Behind a reverse proxy set ``LOCATOR_TRUSTED_PROXIES`` so that
``request.remote_addr`` is the client, not the proxy. A failing counter store does not
fail requests (``RATELIMIT_SWALLOW_ERRORS``): limits are then not enforced.

A request over a limit gets 429 (RFC 9457 problem+json on ``/api/``, a friendly page
elsewhere, see :mod:`locator.http.problems`) with a ``Retry-After`` header.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import Flask, Response, current_app
from flask.globals import request_ctx
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter

log = logging.getLogger(__name__)

#: The prefix of every counter key (as Flask-Limiter's ``key_prefix``).
KEY_PREFIX = "locator"
#: Seconds between sweeps of expired keys in :class:`MemoryCounters`.
SWEEP_S = 60.0


class MemoryCounters(Storage):
    """In-process fixed-window counters with lazy expiry (a `limits` storage, ``locator-memory://``).

    Each key holds ``[count, expires_at]`` (seconds since the epoch). A window that has
    expired counts as empty when read and starts again on the next increment; every
    :data:`SWEEP_S` seconds the next increment drops every expired key. One lock, held
    for a dictionary update (gthread workers serve requests from several threads).
    Implements what the fixed-window strategy uses (``incr``, ``get``,
    ``get_expiry``, ``clear``, ``reset``, ``check``); not the moving or sliding windows.
    """

    STORAGE_SCHEME = ["locator-memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._counts: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._next_sweep = time.time() + SWEEP_S

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """Nothing here raises but programming errors."""
        return ValueError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to ``key``'s window (a new one of ``expiry`` seconds if none is live)."""
        now = time.time()
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            entry = self._counts.get(key)
            if entry is None or entry[1] <= now:
                entry = self._counts[key] = [0, now + expiry]
            entry[0] += amount
            return int(entry[0])

    def get(self, key: str) -> int:
        """The count in ``key``'s live window (0 when it has expired)."""
        entry = self._counts.get(key)
        if entry is None or entry[1] <= time.time():
            return 0
        return int(entry[0])

    def get_expiry(self, key: str) -> float:
        """When ``key``'s window ends (seconds since the epoch; now if there is none)."""
        entry = self._counts.get(key)
        now = time.time()
        if entry is None or entry[1] <= now:
            return now
        return entry[1]

    def check(self) -> bool:
        """Always healthy."""
        return True

    def reset(self) -> int | None:
        """Forget every counter; return how many there were."""
        with self._lock:
            n = len(self._counts)
            self._counts.clear()
        return n

    def clear(self, key: str) -> None:
        """Forget one counter."""
        with self._lock:
            self._counts.pop(key, None)

    def size(self) -> int:
        """How many counters are held (expired ones until the next sweep included)."""
        return len(self._counts)

    def _sweep(self, now: float) -> None:
        self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        self._next_sweep = now + SWEEP_S


@lru_cache(maxsize=256)
def parsed_limits(spec: str) -> tuple[RateLimitItem, ...]:
    """A rate string such as ``"5000 per day; 20 per second"``, parsed once, smallest window first.

    The order is Flask-Limiter's: the header describes the first limit unless a
    later one is breached.
    """
    return tuple(sorted(parse_many(spec), key=lambda item: item.get_expiry()))


@dataclass(slots=True)
class Counted:
    """What :class:`Allowance` counted for one request (for the response headers).

    Attributes
    ----------
    item : RateLimitItem
        The limit the ``X-RateLimit-*`` headers describe: the breached one, else the
        smallest window.
    key : str
        The caller's counter key (``ip:…``, ``site:…`` or ``partner:…``).
    scope : str
        The shared scope of the limit (``public-api``).
    items : tuple of RateLimitItem
        Every limit counted.
    breached : bool
    """

    item: RateLimitItem
    key: str
    scope: str
    items: tuple[RateLimitItem, ...]
    breached: bool


class Allowance:
    """Fixed-window counting of one shared limit per caller (the `limits` library's strategy).

    Parameters
    ----------
    storage : limits.storage.Storage
        Where the counters live (Flask-Limiter's storage, so both kinds of limit follow
        ``LOCATOR_RATELIMIT_STORAGE_URI``).
    """

    def __init__(self, storage: Storage) -> None:
        self.strategy = FixedWindowRateLimiter(storage)

    def hit(self, spec: str, key: str, scope: str) -> Counted:
        """Count one request of ``key`` against every limit of ``spec``.

        Limits are counted smallest window first and counting stops at the first that is
        over (as Flask-Limiter does), so a refused request still uses up the windows
        before it. A failing store is logged and the request allowed.
        """
        items = parsed_limits(spec)
        for item in items:
            try:
                ok = self.strategy.hit(item, KEY_PREFIX, key, scope)
            except Exception:  # noqa: BLE001 - RATELIMIT_SWALLOW_ERRORS: never fail a request on counters
                log.exception("rate-limit counters unavailable; request allowed")
                return Counted(items[0], key, scope, items, False)
            if not ok:
                return Counted(item, key, scope, items, True)
        return Counted(items[0], key, scope, items, False)

    def window(self, counted: Counted, item: RateLimitItem | None = None) -> tuple[int, int]:
        """``(remaining, reset_at)`` of ``item`` (default: the header limit) for the caller.

        ``reset_at`` is a Unix time in whole seconds, as in ``X-RateLimit-Reset``.
        """
        item = counted.item if item is None else item
        try:
            reset, remaining = self.strategy.get_window_stats(item, KEY_PREFIX, counted.key, counted.scope)
        except Exception:  # noqa: BLE001 - as in hit()
            log.exception("rate-limit counters unavailable")
            return item.amount, int(time.time() + item.get_expiry())
        return int(remaining), int(reset + 1)

    def headers(self, resp: Response, counted: Counted) -> None:
        """``X-RateLimit-Limit/Remaining/Reset`` and, on a refusal, ``Retry-After`` (seconds)."""
        remaining, reset_at = self.window(counted)
        headers = resp.headers
        headers["X-RateLimit-Limit"] = str(counted.item.amount)
        headers["X-RateLimit-Remaining"] = str(remaining)
        headers["X-RateLimit-Reset"] = str(reset_at)
        if counted.breached:
            headers["Retry-After"] = str(max(1, int(reset_at - time.time())))


limiter = Limiter(
    key_func=get_remote_address,
    headers_enabled=True,
    strategy="fixed-window",
    key_prefix=KEY_PREFIX,
    retry_after="delta-seconds",
)


def feedback_rate() -> str:
    """The per-client limit on rider feedback (``LOCATOR_FEEDBACK_RATE_LIMIT``)."""
    return str(current_app.config["LOCATOR_FEEDBACK_RATE_LIMIT"])


def _counts_against_the_client(response: Response) -> bool:
    """Whether a feedback response uses up the client's budget (not a refused 403).

    A cross-site post refused with 403 was sent by another site in the rider's
    browser: it must not use up the rider's own budget.
    """
    return response.status_code != 403


#: Decorator for every route that accepts rider feedback: one budget per client for all
#: of them (POST only; refused cross-site posts are not counted).
feedback_limit = limiter.shared_limit(
    feedback_rate, scope="rider-feedback", methods=["POST"], deduct_when=_counts_against_the_client
)

#: ``app.extensions`` key of the app's :class:`Allowance`.
ALLOWANCE = "locator.allowance"


def storage_uri(configured: str) -> str:
    """The `limits` storage URI for ``LOCATOR_RATELIMIT_STORAGE_URI`` (``memory://`` → ours)."""
    return "locator-memory://" if configured.startswith("memory://") else configured


Teardown = Callable[[BaseException | None], None]


def _release_if_used(release: Teardown) -> Teardown:
    """Flask-Limiter's ``teardown_request``, run only for requests that used Flask-Limiter.

    Its teardown resets the request's limiter context, creating one first if the request
    never had any (every request but rider feedback): that is per-request work for
    nothing, as the context dies with the request anyway.
    """

    def release_context(exc: BaseException | None = None) -> None:
        if hasattr(request_ctx, "_limiter_request_context"):
            release(exc)

    return release_context


def init_app(app: Flask) -> None:
    """Configure Flask-Limiter from ``LOCATOR_RATELIMIT_STORAGE_URI``, and the public API's allowance."""
    configured = app.config.get("LOCATOR_RATELIMIT_STORAGE_URI", "memory://")
    app.config["RATELIMIT_STORAGE_URI"] = storage_uri(configured)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(app)
    teardowns = app.teardown_request_funcs.setdefault(None, [])
    release = getattr(Limiter, "_Limiter__release_context", None)
    for i, func in enumerate(teardowns):
        if release is not None and getattr(func, "__func__", None) is release:
            teardowns[i] = _release_if_used(func)  # type: ignore[arg-type]
    app.extensions[ALLOWANCE] = Allowance(limiter.storage)


def allowance() -> Allowance:
    """The app's :class:`Allowance`."""
    counter: Allowance = current_app.extensions[ALLOWANCE]
    return counter
