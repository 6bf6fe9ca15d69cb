"""Live door status: is the door of a station actually open now, and who says so.

No Flask, no database: the rules are a pure function of a facility's **events**, its
**hours**, its **status** and **now** (:func:`live_status`). The services keep the
events (:mod:`locator.services.live`); this module decides what they mean.

Sources (issue 13)
------------------
* **manager** — a station manager's one-tap override: ``open`` ("open now") or
  ``closed`` ("closed now until HH:MM", with a reason), or ``cleared``. An override
  expires by itself at its ``until`` (an ``open`` without one after
  :data:`MANAGER_OPEN_FOR`; every override after at most :data:`MANAGER_MAX`).
* **device** — a door device (smart lock, QR door controller) posting signed events
  ``open`` / ``closed``. Devices send their state on every change and as a heartbeat at
  least every 10 minutes; a device state older than :data:`DEVICE_FRESH` (20 min) is
  ignored.
* **rider** — an anonymous check-in: ``open``, ``locked`` or ``scan_required`` ("must
  scan or register to enter"). A vote counts for :data:`RIDER_WINDOW` (2 h); one vote per
  client per facility per hour (enforced where votes are stored).
* **schedule** — the OSM ``opening_hours`` evaluated now.

The rules (documented in docs/riders.md; tested in tests/test_live.py)
--------------------------------------------------------------------
1. A facility whose **status** is ``temporarily_closed`` (or ``removed``) is
   ``closed_by_manager``: the published status outranks every live signal.
2. **Manager and device beat riders.** The most recent manager override or fresh device
   state decides (**recency wins** between the two): manager ``open`` or device ``open``
   → ``confirmed_open``; manager ``closed`` → ``closed_by_manager`` (with its ``until``
   and reason); device ``closed`` → ``reported_locked`` (source ``device``).
3. **Riders**, when neither spoke: only votes newer than the last manager or device
   event count (an older vote was answered by them), within 2 h, each client's latest
   vote only. The most recent ``open``/``locked`` vote decides (**recency wins**):
   ``confirmed_open`` or ``reported_locked``, ``reports`` = how many *different* clients
   said so since the last vote the other way. ``scan_required`` votes do not change the
   state; they are counted apart (:attr:`LiveStatus.scan_reports`).
4. Otherwise the **schedule**: ``scheduled_open``, ``scheduled_closed`` or ``unknown``.

**Demotion** (:attr:`LiveStatus.demoted`, used by :mod:`locator.core.riders`): a
station ``closed_by_manager``, locked according to its device, or reported locked by
**two or more independent riders within 2 h** ranks below every station that is not.
**One** rider report demotes nothing: the list shows "1 rider reported locked, 20 min
ago" next to the station (:attr:`LiveStatus.locked_reports`,
:attr:`LiveStatus.last_locked_at`) without hiding it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

#: The states of :attr:`LiveStatus.state`, in the API's vocabulary.
LIVE_STATES: Final = (
    "confirmed_open",
    "reported_locked",
    "closed_by_manager",
    "scheduled_open",
    "scheduled_closed",
    "unknown",
)
#: The values of :attr:`LiveStatus.source` (None when the state is ``unknown``).
LIVE_SOURCES: Final = ("manager", "device", "riders", "schedule")
#: What each source may say (:attr:`LiveEvent.state`).
EVENT_STATES: Final[dict[str, tuple[str, ...]]] = {
    "manager": ("open", "closed", "cleared"),
    "device": ("open", "closed"),
    "rider": ("open", "locked", "scan_required"),
}
#: The rider check-in answers, in display order.
CHECKIN_DOORS: Final = EVENT_STATES["rider"]

#: A rider vote counts for this long.
RIDER_WINDOW: Final = timedelta(hours=2)
#: Independent "locked" votes within :data:`RIDER_WINDOW` that demote a station.
LOCKED_REPORTS_TO_DEMOTE: Final = 2
#: One vote per client per facility per this long.
RIDER_VOTE_EVERY: Final = timedelta(hours=1)
#: A device state older than this is ignored (devices heartbeat at least every 10 min).
DEVICE_FRESH: Final = timedelta(minutes=20)
#: A manager's "open now" without an end lasts this long.
MANAGER_OPEN_FOR: Final = timedelta(hours=4)
#: No manager override lasts longer than this.
MANAGER_MAX: Final = timedelta(hours=24)
#: How far back the services load events at start-up (every rule looks back less).
HORIZON: Final = MANAGER_MAX


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One thing someone said about a facility's door.

    Attributes
    ----------
    facility_id : str
    source : {"manager", "device", "rider"}
    state : str
        One of ``EVENT_STATES[source]``.
    at : datetime
        When the server received it (timezone-aware, UTC).
    until : datetime or None
        Manager overrides: when the override ends (timezone-aware).
    reason : str
        Manager overrides: why (shown to riders, escaped).
    actor : str
        The manager's account name, the door key id, or the rider's daily client
        pseudonym (never an IP address).
    id : int or None
        Assigned by the store.
    revision : int
        The store's live revision of the write (0 until stored).
    """

    facility_id: str
    source: str
    state: str
    at: datetime
    until: datetime | None = None
    reason: str = ""
    actor: str = ""
    id: int | None = None
    revision: int = 0


@dataclass(frozen=True, slots=True)
class LiveInputs:
    """The events of one facility that can still matter, folded (see :func:`fold`).

    Attributes
    ----------
    manager : LiveEvent or None
        The latest manager override (any state).
    device : LiveEvent or None
        The latest device event.
    device_since : datetime or None
        When the device's current state began (the first event of the latest run of
        equal states).
    riders : tuple of LiveEvent
        Rider votes of the last :data:`RIDER_WINDOW` (as of the last fold), oldest first.
    """

    manager: LiveEvent | None = None
    device: LiveEvent | None = None
    device_since: datetime | None = None
    riders: tuple[LiveEvent, ...] = ()

    @property
    def last_authority_at(self) -> datetime | None:
        """When a manager or device last spoke."""
        times = [e.at for e in (self.manager, self.device) if e is not None]
        return max(times) if times else None

    def empty(self, now: datetime) -> bool:
        """Whether nothing here can matter any more at ``now`` (so it may be dropped)."""
        manager_live = self.manager is not None and now - self.manager.at <= MANAGER_MAX
        device_live = self.device is not None and now - self.device.at <= MANAGER_MAX
        return not (manager_live or device_live or self.riders)


def fold(inputs: LiveInputs | None, event: LiveEvent, now: datetime | None = None) -> LiveInputs:
    """``inputs`` with ``event`` applied (events must come in the order they were stored).

    Parameters
    ----------
    inputs : LiveInputs or None
        The facility's folded events so far (None: none yet).
    event : LiveEvent
    now : datetime, optional
        Drop rider votes older than :data:`RIDER_WINDOW` before ``now`` (default
        ``event.at``).

    Returns
    -------
    LiveInputs
    """
    cur = inputs or LiveInputs()
    now = now or event.at
    riders = tuple(r for r in cur.riders if now - r.at <= RIDER_WINDOW)
    if event.source == "manager":
        return LiveInputs(event, cur.device, cur.device_since, riders)
    if event.source == "device":
        same = cur.device is not None and cur.device.state == event.state
        since = cur.device_since if same and cur.device_since is not None else event.at
        return LiveInputs(cur.manager, event, since, riders)
    if event.source == "rider":
        if now - event.at <= RIDER_WINDOW:
            riders = (*riders, event)
        return LiveInputs(cur.manager, cur.device, cur.device_since, riders)
    raise ValueError(f"unknown live event source {event.source!r}")


def fold_all(events: Iterable[LiveEvent], now: datetime) -> dict[str, LiveInputs]:
    """Fold ``events`` (in stored order) per facility; drop what cannot matter at ``now``."""
    out: dict[str, LiveInputs] = {}
    for e in events:
        out[e.facility_id] = fold(out.get(e.facility_id), e, now)
    return {k: v for k, v in out.items() if not v.empty(now)}


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """What riders are told about a facility's door now.

    Attributes
    ----------
    state : str
        One of :data:`LIVE_STATES`.
    since : datetime or None
        When the event establishing the state happened (None for the schedule's states
        and for a closure by status).
    source : str or None
        One of :data:`LIVE_SOURCES`; None for ``unknown``.
    reports : int
        For ``source == "riders"``: how many different riders said so.
    until : datetime or date or None
        ``closed_by_manager``/manager ``confirmed_open``: when it ends (an instant for an
        override, a day for a ``temporarily_closed`` status).
    reason : str
        ``closed_by_manager``: the manager's reason.
    locked_reports : int
        Different riders who reported the door locked in the last 2 h (after the last
        manager or device event), whatever the state.
    last_locked_at : datetime or None
        The latest of those reports.
    scan_reports : int
        Different riders who said one must scan or register to enter (last 2 h).
    """

    state: str
    since: datetime | None = None
    source: str | None = None
    reports: int = 0
    until: datetime | date | None = None
    reason: str = ""
    locked_reports: int = 0
    last_locked_at: datetime | None = None
    scan_reports: int = 0

    @property
    def demoted(self) -> bool:
        """Ranked below every station that is not (see the module docstring)."""
        if self.state == "closed_by_manager":
            return True
        if self.state == "reported_locked":
            return self.source == "device" or self.reports >= LOCKED_REPORTS_TO_DEMOTE
        return False

    @property
    def open(self) -> bool | None:
        """Whether riders can expect the door open (None: nobody knows)."""
        if self.state in {"confirmed_open", "scheduled_open"}:
            return True
        if self.state in {"reported_locked", "closed_by_manager", "scheduled_closed"}:
            return False
        return None

    def as_json(self) -> dict[str, Any]:
        """The API's ``properties.live`` block: ``{"state", "since", "source", "reports"}``."""
        return {
            "state": self.state,
            "since": None if self.since is None else self.since.isoformat(),
            "source": self.source,
            "reports": self.reports,
        }


#: The schedule's answers for a facility nobody reported on (shared, immutable).
SCHEDULED: Final[dict[bool | None, LiveStatus]] = {
    True: LiveStatus("scheduled_open", source="schedule"),
    False: LiveStatus("scheduled_closed", source="schedule"),
    None: LiveStatus("unknown"),
}


def _manager_end(e: LiveEvent) -> datetime:
    """When a manager override ends by itself (see the module docstring)."""
    end = e.until if e.until is not None else e.at + (MANAGER_OPEN_FOR if e.state == "open" else MANAGER_MAX)
    return min(end, e.at + MANAGER_MAX)


def _manager_active(e: LiveEvent | None, now: datetime) -> LiveEvent | None:
    if e is None or e.state == "cleared" or e.at > now:
        return None
    return e if now < _manager_end(e) else None


def _device_fresh(e: LiveEvent | None, now: datetime) -> LiveEvent | None:
    if e is None or e.at > now or now - e.at > DEVICE_FRESH:
        return None
    return e


def live_status(
    inputs: LiveInputs | None,
    *,
    scheduled: bool | None,
    status: str = "open",
    status_until: date | None = None,
    status_reason: str = "",
    now: datetime,
) -> LiveStatus:
    """The live status of one facility (the rules in the module docstring).

    Parameters
    ----------
    inputs : LiveInputs or None
        The facility's folded events (:func:`fold`); None when there are none.
    scheduled : bool or None
        What its ``opening_hours`` say at ``now`` (None: unknown).
    status : str
        The facility's status (``open``, ``temporarily_closed``, ``removed``).
    status_until, status_reason
        The status's reopening day and reason.
    now : datetime
        Timezone-aware.

    Returns
    -------
    LiveStatus
    """
    if status != "open":
        return LiveStatus("closed_by_manager", source="manager", until=status_until, reason=status_reason)
    if inputs is None:
        return SCHEDULED[scheduled]
    manager = _manager_active(inputs.manager, now)
    device = _device_fresh(inputs.device, now)
    authority = inputs.last_authority_at
    votes = [
        r
        for r in inputs.riders
        if r.at <= now and now - r.at <= RIDER_WINDOW and (authority is None or r.at > authority)
    ]
    latest: dict[str, LiveEvent] = {}
    for r in votes:  # oldest first: each client's latest vote wins
        latest[r.actor or f"#{r.id}"] = r
    door_votes = sorted((r for r in latest.values() if r.state in {"open", "locked"}), key=lambda r: r.at)
    last_open = max((r.at for r in door_votes if r.state == "open"), default=None)
    locked = [r for r in door_votes if r.state == "locked" and (last_open is None or r.at > last_open)]
    scans = sum(1 for r in latest.values() if r.state == "scan_required")
    last_locked_at = locked[-1].at if locked else None

    def noted(
        state: str,
        since: datetime | None,
        source: str,
        reports: int = 0,
        until: datetime | None = None,
        reason: str = "",
    ) -> LiveStatus:
        return LiveStatus(state, since, source, reports, until, reason, len(locked), last_locked_at, scans)

    if manager is not None and (device is None or manager.at >= device.at):
        if manager.state == "open":
            return noted("confirmed_open", manager.at, "manager", until=_manager_end(manager))
        return noted(
            "closed_by_manager", manager.at, "manager", until=_manager_end(manager), reason=manager.reason
        )
    if device is not None:
        since = inputs.device_since or device.at
        state = "confirmed_open" if device.state == "open" else "reported_locked"
        return noted(state, since, "device")
    if door_votes:
        newest = door_votes[-1]
        if newest.state == "locked":
            return noted("reported_locked", newest.at, "riders", len(locked))
        last_locked = max((r.at for r in door_votes if r.state == "locked"), default=None)
        opened = [r for r in door_votes if r.state == "open" and (last_locked is None or r.at > last_locked)]
        return noted("confirmed_open", newest.at, "riders", len(opened))
    base = SCHEDULED[scheduled]
    return dataclasses.replace(base, scan_reports=scans) if scans else base


def live_status_of_events(
    events: Iterable[LiveEvent],
    *,
    scheduled: bool | None,
    status: str = "open",
    status_until: date | None = None,
    status_reason: str = "",
    now: datetime,
) -> LiveStatus:
    """:func:`live_status` straight from one facility's events (in stored order)."""
    inputs: LiveInputs | None = None
    for e in events:
        inputs = fold(inputs, e, now)
    return live_status(
        inputs,
        scheduled=scheduled,
        status=status,
        status_until=status_until,
        status_reason=status_reason,
        now=now,
    )
