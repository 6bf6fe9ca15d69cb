"""Live door status: door devices, rider check-ins, manager overrides, and what riders see.

No Flask here. The rules are :mod:`locator.core.live`'s; this module stores the events,
keeps each worker's **in-memory map** of the events that can still matter, and answers
requests from that map alone.

Per-request cost
----------------
A request never queries the database for live status. Each worker keeps
``{facility_id: LiveInputs}`` for the facilities that had an event in the last 24 h
(:data:`locator.core.live.HORIZON`), loaded at start and kept in step with the store by a
background thread that polls the store's **live revision** every ``poll_s`` (PostGIS: a
value cached from ``LISTEN locator_live``, no round trip; SQLite: one indexed ``SELECT``)
and applies :meth:`~locator.stores.contract.LiveStore.live_events_since`. A facility not
in the map (nearly all of them) costs one dict lookup and a shared constant
(:data:`locator.core.live.SCHEDULED`); one in the map, a call of
:func:`locator.core.live.live_status` over a handful of events. A write by this worker
catches up at once, so the writer's next request sees it; other workers within
``poll_s``.

Door devices
------------
One key per device: ``flask --app app locator door-key add FACILITY_ID --name NAME``
prints the key id and the secret once. The secret is **never stored**: it is
``hex(HMAC-SHA256(K, key_id ":" salt))`` with ``K = HMAC-SHA256(LOCATOR_SECRET_KEY,
"locator door keys v1")``; the store keeps only the random salt. So the database alone
(a backup, a leaked dump) cannot sign door events, exactly as if the secret were stored
encrypted under a key derived from ``LOCATOR_SECRET_KEY`` — without a cipher, a key to
rotate or a ciphertext format. Changing ``LOCATOR_SECRET_KEY`` invalidates every door
key (make new ones), as it would with encryption.

A request is ``POST /api/v1/facilities/<id>/door`` with ``X-Door-Key`` (the key id),
``X-Door-Timestamp`` (Unix seconds) and ``X-Door-Signature``: the lower-case hex
HMAC-SHA256, under the secret (its UTF-8 text as the HMAC key), of the timestamp, a
newline and the raw body. It is refused (nothing stored) when a header is missing or
malformed, the timestamp is more than :data:`REPLAY_WINDOW_S` (5 min) from the server's
clock, the key is unknown or revoked, the signature is wrong (401), or the key belongs
to another facility (403). A signature is accepted once per key (the store keeps it as
the event's nonce), so a captured request cannot be replayed inside the window either.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from locator.core.domain import NAME_MAX, TEXT_MAX, Facility
from locator.core.hours import TZ, is_open
from locator.core.live import (
    CHECKIN_DOORS,
    EVENT_STATES,
    HORIZON,
    MANAGER_MAX,
    RIDER_VOTE_EVERY,
    SCHEDULED,
    LiveEvent,
    LiveInputs,
    LiveStatus,
    fold,
    live_status,
)
from locator.errors import (
    ConflictError,
    ForbiddenError,
    Msg,
    NotFoundError,
    StoreUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
    ValidationError,
)
from locator.services.facilities import LocatorService
from locator.stores.contract import DoorKey, Store

log = logging.getLogger(__name__)

#: A door request's timestamp may differ from the server's clock by this many seconds.
REPLAY_WINDOW_S: Final = 300
#: Default seconds between live-revision checks of the background thread.
DEFAULT_POLL_S: Final = 0.05
#: Seconds between sweeps of map entries nothing can use any more.
SWEEP_S: Final = 60.0
#: Label of the key derivation (changing it invalidates every door key).
_DOOR_KEY_LABEL: Final = b"locator door keys v1"

_SERVICES: weakref.WeakSet[LiveService] = weakref.WeakSet()


def door_secret(app_secret: str, key_id: str, salt: str) -> str:
    """A door device's secret, derived (never stored; see the module docstring).

    Parameters
    ----------
    app_secret : str
        ``LOCATOR_SECRET_KEY``.
    key_id, salt : str
        From the :class:`~locator.stores.contract.DoorKey`.

    Returns
    -------
    str
        64 lower-case hex digits.
    """
    k = hmac.new(app_secret.encode(), _DOOR_KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(k, f"{key_id}:{salt}".encode(), hashlib.sha256).hexdigest()


def door_signature(secret: str, timestamp: str, body: bytes) -> str:
    r"""``hex(HMAC-SHA256(secret, timestamp + "\n" + body))``, what a device sends.

    Parameters
    ----------
    secret : str
        The device secret (its UTF-8 bytes are the HMAC key).
    timestamp : str
        The ``X-Door-Timestamp`` header as sent (Unix seconds).
    body : bytes
        The raw request body.

    Examples
    --------
    >>> door_signature("s3cret", "1767225600", b'{"state":"open"}')[:16]
    '9b7634763cc05f17'
    """
    return hmac.new(secret.encode(), timestamp.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def next_time_of_day(hhmm: str, now: datetime) -> datetime:
    """The next ``HH:MM`` (Asia/Shanghai) after ``now``, as an instant.

    Parameters
    ----------
    hhmm : str
        ``HH:MM``, 00:00–23:59 (``24:00`` is midnight).
    now : datetime
        Timezone-aware.

    Raises
    ------
    ValidationError
        If ``hhmm`` is not a time of day (``param="until"``).
    """
    try:
        hh, mm = hhmm.strip().split(":")
        hours, minutes = int(hh), int(mm)
        if not (0 <= minutes < 60 and (0 <= hours < 24 or (hours == 24 and minutes == 0))):
            raise ValueError
    except ValueError:
        raise ValidationError(Msg("until must be a time of day HH:MM"), param="until") from None
    local = now.astimezone(TZ)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    candidate = day + timedelta(hours=hours, minutes=minutes)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate


@dataclass(frozen=True, slots=True)
class LiveWrite:
    """What a live write did: the stored event and the facility's status right after."""

    event: LiveEvent
    status: LiveStatus


class LiveService:
    """Live door status over the store, and the per-worker map requests read.

    Parameters
    ----------
    locator : LocatorService
        Its store keeps the events and door keys; its index gives the facilities.
    app_secret : str
        ``LOCATOR_SECRET_KEY`` (door secrets are derived from it).
    poll_s : float
        Seconds between live-revision checks of the background thread.
    """

    def __init__(self, locator: LocatorService, app_secret: str, *, poll_s: float = DEFAULT_POLL_S) -> None:
        self.locator = locator
        self.app_secret = app_secret
        self.poll_s = max(0.01, poll_s)
        self._map: dict[str, LiveInputs] = {}
        self._revision = -1
        self._swept = 0.0
        self.closed = False
        self.running = False
        self._init_locks()
        _SERVICES.add(self)

    def _init_locks(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()

    @property
    def store(self) -> Store:
        """The store (the locator's)."""
        return self.locator.store

    # -- the map ----------------------------------------------------------------------

    def load(self, now: datetime | None = None) -> None:
        """(Re)load the map from the store: every event of the last 24 h.

        Raises
        ------
        StoreUnavailableError
        """
        now = now or datetime.now(UTC)
        revision, events = self.store.live_events_after(now - HORIZON)
        fresh: dict[str, LiveInputs] = {}
        for e in events:
            fresh[e.facility_id] = fold(fresh.get(e.facility_id), e, now)
        with self._lock:
            self._map = {k: v for k, v in fresh.items() if not v.empty(now)}
            self._revision = revision

    def refresh(self) -> int:
        """Catch up with the store's live events now; return the live revision reached.

        Raises
        ------
        StoreUnavailableError
        """
        with self._lock:
            mine = self._revision
        if mine < 0:
            self.load()
            return self._revision
        current = self.store.live_revision()
        if current == mine:
            return mine
        if current < mine:  # restored from a backup: start again
            self.load()
            return self._revision
        now = datetime.now(UTC)
        with self._lock:
            if self._revision != mine:
                return self._revision  # another thread caught up meanwhile
            revision, events = self.store.live_events_since(mine)
            for e in events:
                self._map[e.facility_id] = fold(self._map.get(e.facility_id), e, now)
            self._revision = max(revision, mine)
            if time.monotonic() - self._swept > SWEEP_S:
                self._swept = time.monotonic()
                for fid in [k for k, v in self._map.items() if v.empty(now)]:
                    del self._map[fid]
            return self._revision

    @property
    def revision(self) -> int:
        """The live revision the map reflects (-1 before the first load)."""
        return self._revision

    def inputs(self, facility_id: str) -> LiveInputs | None:
        """The facility's folded events (None: nothing that can matter). One dict lookup."""
        if not self.running:
            self.ensure_running()
        return self._map.get(facility_id)

    def tracks(self, facility_id: str) -> bool:
        """Whether anything live is known about the facility (:meth:`inputs` is not None)."""
        return self.inputs(facility_id) is not None

    def tracked(self) -> int:
        """How many facilities the map holds."""
        return len(self._map)

    # -- what riders see ----------------------------------------------------------------

    def status(
        self, f: Facility, now: datetime, *, scheduled: bool | None = None, hours_known: bool = False
    ) -> LiveStatus:
        """The live status of ``f`` at ``now`` (:func:`locator.core.live.live_status`).

        Parameters
        ----------
        f : Facility
        now : datetime
            Timezone-aware.
        scheduled : bool or None
            What the hours say at ``now``, when the caller already knows
            (``hours_known=True``); else it is evaluated here.
        """
        inputs = self.inputs(f.id)
        if f.status == "open" and inputs is None and hours_known:
            return SCHEDULED[scheduled]
        if not hours_known:
            scheduled = is_open(f.opening_hours, now) if f.status == "open" else False
        return live_status(
            inputs,
            scheduled=scheduled,
            status=f.status,
            status_until=f.status_until,
            status_reason=f.status_reason,
            now=now,
        )

    def of(self, now: datetime) -> Callable[[Facility, bool | None], LiveStatus]:
        """``(facility, open_now) -> LiveStatus`` at ``now``, for serialisers that know ``open_now``."""

        def live_of(f: Facility, open_now: bool | None) -> LiveStatus:
            return self.status(f, now, scheduled=open_now, hours_known=True)

        return live_of

    def demoted(self, now: datetime) -> _Demoted:
        """A predicate for :func:`locator.core.riders.ranked_nearest`: whether ``f`` is demoted at ``now``."""
        return _Demoted(self, now)

    # -- writes ---------------------------------------------------------------------------

    def _stored(self, event: LiveEvent, f: Facility, now: datetime) -> LiveWrite:
        try:
            self.refresh()
        except StoreUnavailableError:  # pragma: no cover - the write itself just worked
            log.warning("live map not refreshed after a write")
        return LiveWrite(event, self.status(f, now))

    def checkin(self, facility_id: str, door: str, *, client: str, now: datetime) -> LiveWrite:
        """A rider's check-in: ``open``, ``locked`` or ``scan_required``.

        One vote per client pseudonym per facility per :data:`~locator.core.live.RIDER_VOTE_EVERY`.

        Raises
        ------
        NotFoundError
            Unknown facility.
        ValidationError
            Bad ``door`` (``param="door"``).
        TooManyRequestsError
            This client already voted on this facility within the hour (nothing stored;
            ``Retry-After`` says when the next vote is accepted).
        """
        f = self.locator.get(facility_id)
        if door not in CHECKIN_DOORS:
            raise ValidationError(
                Msg("door must be one of %(values)s", values=", ".join(CHECKIN_DOORS)), param="door"
            )
        event = LiveEvent(f.id, "rider", door, now, actor=client[:64])
        try:
            stored = self.store.add_live_event(event, once_per=RIDER_VOTE_EVERY)
        except ConflictError as exc:
            retry_at = exc.extra.get("retry_at")
            wait = RIDER_VOTE_EVERY.total_seconds()
            if isinstance(retry_at, str):
                wait = (datetime.fromisoformat(retry_at) - now).total_seconds()
            raise TooManyRequestsError(
                Msg("you already reported on this facility within the hour"),
                retry_after_s=int(wait) + 1,
                param="door",
            ) from None
        return self._stored(stored, f, now)

    def set_override(
        self,
        facility_id: str,
        state: str,
        *,
        actor: str,
        now: datetime,
        until: datetime | None = None,
        reason: str = "",
    ) -> LiveWrite:
        """A manager's one-tap override: ``open``, ``closed`` (until a time) or ``cleared``.

        The caller checks that ``actor`` may manage the facility (the management
        service's scope rules).

        Parameters
        ----------
        state : {"open", "closed", "cleared"}
        actor : str
            The manager's account name.
        until : datetime, optional
            When it ends by itself (after ``now``, at most 24 h ahead); ``closed``
            requires it. See :func:`next_time_of_day` for ``HH:MM``.
        reason : str
            Shown to riders with a closure (at most 500 characters).

        Raises
        ------
        NotFoundError, ValidationError
        """
        f = self.locator.get(facility_id)
        if state not in EVENT_STATES["manager"]:
            raise ValidationError(Msg("state must be open, closed or cleared"), param="state")
        reason = reason.strip()
        if len(reason) > TEXT_MAX:
            raise ValidationError(
                Msg("%(name)s is longer than %(max)s characters", name="reason", max=TEXT_MAX), param="reason"
            )
        if state == "closed" and until is None:
            raise ValidationError(Msg("a closure needs until (HH:MM)"), param="until")
        if until is not None:
            if until.tzinfo is None:
                raise ValidationError(Msg("until must be a timezone-aware instant"), param="until")
            if until <= now or until - now > MANAGER_MAX:
                raise ValidationError(Msg("until must be within the next 24 hours"), param="until")
        if state == "cleared":
            until, reason = None, ""
        event = LiveEvent(f.id, "manager", state, now, until=until, reason=reason, actor=actor[:NAME_MAX])
        return self._stored(self.store.add_live_event(event), f, now)

    # -- door devices -----------------------------------------------------------------------

    def create_door_key(
        self, facility_id: str, name: str, *, now: datetime | None = None
    ) -> tuple[DoorKey, str]:
        """Make a key for one door device of ``facility_id``.

        Returns
        -------
        (DoorKey, str)
            The stored key and its secret (shown once; never stored).

        Raises
        ------
        NotFoundError, ValidationError
        """
        f = self.locator.get(facility_id)
        name = name.strip()
        if not name or len(name) > NAME_MAX:
            raise ValidationError(Msg("a door key needs a name (at most 200 characters)"), param="name")
        key = DoorKey(
            id="dk_" + secrets.token_hex(8),
            facility_id=f.id,
            name=name,
            salt=secrets.token_hex(16),
            created_at=now or datetime.now(UTC),
        )
        stored = self.store.add_door_key(key)
        return stored, door_secret(self.app_secret, stored.id, stored.salt)

    def door_keys(self, facility_id: str | None = None) -> list[DoorKey]:
        """Door keys (of one facility, or all), oldest first, with their last event time."""
        keys: list[DoorKey] = self.store.list_door_keys(facility_id)
        return keys

    def revoke_door_key(self, key_id: str, *, now: datetime | None = None) -> DoorKey:
        """Revoke a door key at once (its requests are refused from now on).

        Raises
        ------
        NotFoundError
        """
        key: DoorKey = self.store.revoke_door_key(key_id, now or datetime.now(UTC))
        return key

    def authenticate_door(
        self,
        facility_id: str,
        *,
        key_id: str | None,
        timestamp: str | None,
        signature: str | None,
        body: bytes,
        now: datetime,
    ) -> DoorKey:
        """Check a door request's headers and signature (see the module docstring).

        Returns
        -------
        DoorKey
            The device's key.

        Raises
        ------
        UnauthorizedError
            Missing or malformed header, timestamp outside the replay window, unknown or
            revoked key, wrong signature (``param`` names the header).
        ForbiddenError
            The key belongs to another facility.
        """
        for name, value in (
            ("X-Door-Key", key_id),
            ("X-Door-Timestamp", timestamp),
            ("X-Door-Signature", signature),
        ):
            if not value:
                raise _door_unauthorized(Msg("%(name)s is required", name=name), name)
        assert key_id is not None and timestamp is not None and signature is not None
        if not timestamp.isdigit() or len(timestamp) > 12:
            raise _door_unauthorized(Msg("X-Door-Timestamp must be Unix seconds"), "X-Door-Timestamp")
        if abs(now.timestamp() - int(timestamp)) > REPLAY_WINDOW_S:
            raise _door_unauthorized(
                Msg("X-Door-Timestamp is more than 5 minutes from the server's clock"), "X-Door-Timestamp"
            )
        if len(key_id) > 64:
            raise _door_unauthorized(Msg("unknown or revoked door key"), "X-Door-Key")
        try:
            key: DoorKey = self.store.get_door_key(key_id)
        except NotFoundError:
            raise _door_unauthorized(Msg("unknown or revoked door key"), "X-Door-Key") from None
        if not key.active:
            raise _door_unauthorized(Msg("unknown or revoked door key"), "X-Door-Key")
        expected = door_signature(door_secret(self.app_secret, key.id, key.salt), timestamp, body)
        if not hmac.compare_digest(expected, signature.strip().lower()):
            raise _door_unauthorized(Msg("bad signature"), "X-Door-Signature")
        if key.facility_id != facility_id:
            raise ForbiddenError(Msg("this door key belongs to another facility"), param="X-Door-Key")
        return key

    def door_event(self, key: DoorKey, state: str, *, signature: str, now: datetime) -> LiveWrite:
        """Store an authenticated device event (``open`` or ``closed``).

        Raises
        ------
        ValidationError
            Bad ``state``.
        UnauthorizedError
            The same signed request came before (a replay), or the key was revoked
            meanwhile; nothing is stored.
        """
        if state not in EVENT_STATES["device"]:
            raise ValidationError(Msg("state must be open or closed"), param="state")
        f = self.locator.get(key.facility_id)
        event = LiveEvent(f.id, "device", state, now, actor=key.id)
        try:
            stored = self.store.add_live_event(event, nonce=signature.strip().lower())
        except ConflictError:
            raise _door_unauthorized(
                Msg("this request was already received (replay)"), "X-Door-Signature"
            ) from None
        except NotFoundError:
            raise _door_unauthorized(Msg("unknown or revoked door key"), "X-Door-Key") from None
        return self._stored(stored, f, now)

    # -- the background thread ----------------------------------------------------------------

    def ensure_running(self) -> None:
        """Start the background thread in this process, if it is not running."""
        with self._lock:
            if self.running or self.closed:
                return
            self.running = True
        threading.Thread(
            target=_watch, args=(weakref.ref(self), self._wake), name="locator-live-watcher", daemon=True
        ).start()

    def stop(self) -> None:
        """Stop the background thread."""
        self.closed = True
        self._wake.set()


class _Demoted:
    """``f -> bool``: whether the facility is demoted at ``now`` (live status)."""

    __slots__ = ("live", "now")

    def __init__(self, live: LiveService, now: datetime) -> None:
        self.live, self.now = live, now

    def __call__(self, f: Facility) -> bool:
        if not self.possible(f.id, f.status):
            return False
        return self.live.status(f, self.now).demoted

    def possible(self, facility_id: str, status: str) -> bool:
        """False when the facility is certainly not demoted: open, with no live inputs.

        Answers from the id and status alone, so that a ranking need not materialise
        the facility (:func:`locator.core.riders.ranked_nearest`'s ``may_be_demoted``).
        """
        return not (status == "open" and self.live.inputs(facility_id) is None)


def _door_unauthorized(detail: str, param: str) -> UnauthorizedError:
    exc = UnauthorizedError(detail, param=param)
    exc.headers = {"WWW-Authenticate": 'DoorHMAC realm="locator"'}
    return exc


def _watch(ref: weakref.ref[LiveService], wake: threading.Event) -> None:
    """The background thread: catch up every ``poll_s`` (exits when the service is gone)."""
    last_error = 0.0
    while True:
        svc = ref()
        if svc is None or svc.closed or getattr(svc.store, "_closed", False):
            return
        wait = svc.poll_s
        try:
            svc.refresh()
        except StoreUnavailableError as exc:
            if time.monotonic() - last_error > 60:
                log.warning(
                    "live watcher: store unavailable (%s); answering from live revision %s", exc, svc.revision
                )
                last_error = time.monotonic()
            wait = 1.0
        except Exception:
            log.exception("live watcher failed; retrying")
            wait = 1.0
        del svc
        if wake.wait(wait):
            wake.clear()


def _after_fork_in_child() -> None:
    for svc in list(_SERVICES):
        svc.running = False
        svc._init_locks()


os.register_at_fork(after_in_child=_after_fork_in_child)
