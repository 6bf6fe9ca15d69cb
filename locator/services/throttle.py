"""Login throttling: failed attempts counted across every worker and node, kept over restarts.

Counting uses the maintained `limits` library (the one Flask-Limiter is built on): a
fixed window per key (``LOCATOR_LOGIN_RATE``, default ``10 per minute``), one key per
client address and one per user name, so neither a single address trying many names
nor many addresses trying one name gets more than the rate. Only *failed* attempts
count; while a key is over the rate every attempt, even with the right password, is
refused with ``429`` and ``Retry-After``.

Where the counts live: with the default ``memory://`` rate-limit storage, in the store
itself (:class:`StoreCounterStorage` over :class:`~locator.stores.contract.CounterStore`:
the SQLite file or the PostGIS database), so every worker shares them and a restart
forgets nothing. With ``LOCATOR_RATELIMIT_STORAGE_URI=redis://…`` (or memcached), in
that server, like every other limit. If the counter storage cannot be reached, logins
are refused (fail closed, ``503``): an attacker must not gain by breaking it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from limits import RateLimitItem, parse_many
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter

from locator.errors import LocatorError, Msg, StoreUnavailableError
from locator.stores.contract import CounterStore

T = TypeVar("T")


class TooManyAttemptsError(LocatorError):
    """Too many failed logins from this address or for this name (429)."""

    status = 429
    code = "too-many-attempts"
    title = "Too many attempts"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            Msg("too many failed logins; try again in %(s)s seconds", s=retry_after_s),
            retry_after=retry_after_s,
        )
        self.headers = {"Retry-After": str(retry_after_s)}


class StoreCounterStorage(Storage):
    """A `limits` storage over the store's shared, expiring counters.

    Parameters
    ----------
    store : CounterStore
    """

    STORAGE_SCHEME = None

    def __init__(self, store: CounterStore) -> None:
        super().__init__(wrap_exceptions=False)
        self.store = store

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """The store's "unreachable" error."""
        return StoreUnavailableError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount``; a new window lasts ``expiry`` seconds."""
        return self.store.incr_counter(key, float(expiry), amount)

    def get(self, key: str) -> int:
        """The count in the current window (0 after it expired)."""
        return self.store.get_counter(key)[0]

    def get_expiry(self, key: str) -> float:
        """When the window ends, Unix seconds (now when there is none)."""
        expires = self.store.get_counter(key)[1]
        return expires.timestamp() if expires is not None else time.time()

    def check(self) -> bool:
        """True when the store answers."""
        try:
            self.store.get_counter("health")
        except StoreUnavailableError:
            return False
        return True

    def reset(self) -> int | None:
        """Not supported (counters expire by themselves)."""
        return None

    def clear(self, key: str) -> None:
        """Forget one key."""
        self.store.clear_counter(key)


class LoginThrottle:
    """Failed-login counting over a `limits` storage (see the module docstring).

    Parameters
    ----------
    storage : limits.storage.Storage
    rate : str
        A `limits` rate string, e.g. ``"10 per minute"`` (several separated by ``;``).
    """

    def __init__(self, storage: Storage, rate: str) -> None:
        self.items: Sequence[RateLimitItem] = parse_many(rate)
        self.limiter = FixedWindowRateLimiter(storage)

    @staticmethod
    def keys(address: str, user_name: str) -> tuple[str, str]:
        """The two keys of an attempt: the client address and the (case-folded) user name."""
        return f"login:ip:{address}", f"login:name:{user_name.strip().lower()}"

    def check(self, *keys: str) -> None:
        """Refuse the attempt if any key is over the rate.

        Raises
        ------
        TooManyAttemptsError
            429, with the seconds until the earliest window that blocks ends.
        StoreUnavailableError
            503 when the counters cannot be read (logins fail closed).
        """
        blocked: list[float] = []
        for item in self.items:
            for key in keys:
                if not self._call(self.limiter.test, item, key):
                    blocked.append(self._call(self.limiter.get_window_stats, item, key).reset_time)
        if blocked:
            wait = max(1, math.ceil(max(blocked) - datetime.now(UTC).timestamp()))
            raise TooManyAttemptsError(wait)

    def failed(self, *keys: str) -> None:
        """Count one failed attempt against every key."""
        for item in self.items:
            for key in keys:
                self._call(self.limiter.hit, item, key)

    @staticmethod
    def _call(fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except StoreUnavailableError:
            raise
        except Exception as exc:  # a Redis/Memcached error: fail closed
            raise StoreUnavailableError(Msg("the login counters cannot be reached; try again later")) from exc
