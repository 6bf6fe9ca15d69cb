"""Putting rider-facing facts into words, in the request's language (Flask-Babel).

The facts come from the rules modules (:mod:`locator.core.hours`, :mod:`locator.core.riders`);
this module only chooses the words. Every string is a msgid in English with a zh
translation in ``locator/translations``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from locator.core.domain import ACCESS, Facility, NearestHit
from locator.core.hours import TZ, HoursSummary, describe_hours, is_open
from locator.core.live import SCHEDULED, LiveStatus
from locator.core.navigation import APPS, NavLink, navigation_links
from locator.core.riders import Freshness, direction, freshness, travel_modes
from locator.core.walking import cycle_minutes, walk_minutes
from locator.http.i18n import gettext as _
from locator.http.i18n import ngettext
from locator.http.state import stale_after


def weekday_name(weekday: int) -> str:
    """Translated name of a weekday (0 = Monday)."""
    return [
        _("Monday"),
        _("Tuesday"),
        _("Wednesday"),
        _("Thursday"),
        _("Friday"),
        _("Saturday"),
        _("Sunday"),
    ][weekday]


def hours_text(s: HoursSummary) -> str:
    """One short phrase for the hours, e.g. "Open until 20:00" or "Closes in 15 min"."""
    if s.state == "open_24h":
        return _("Open 24 h")
    if s.state == "closing_soon":
        return _("Closes in %(minutes)d min (%(time)s)", minutes=s.minutes or 0, time=s.time)
    if s.state == "open_until":
        if s.days_ahead == 1:
            return _("Open until %(time)s (past midnight)", time=s.time)
        if s.days_ahead > 1:
            return _("Open until %(day)s %(time)s", day=weekday_name(s.weekday or 0), time=s.time)
        return _("Open until %(time)s", time=s.time)
    if s.state == "opens_at":
        if s.days_ahead == 0:
            return _("Closed · opens at %(time)s", time=s.time)
        if s.days_ahead == 1:
            return _("Closed · opens tomorrow at %(time)s", time=s.time)
        return _("Closed · opens %(day)s at %(time)s", day=weekday_name(s.weekday or 0), time=s.time)
    if s.state == "closed":
        return _("Closed")
    return _("Hours unknown")


def holiday_note(s: HoursSummary) -> str | None:
    """A note when public-holiday hours matter today, else None."""
    if s.names_public_holidays and s.public_holiday_today:
        return _("Public holiday today: holiday hours apply.")
    return None


def freshness_text(fr: Freshness) -> str:
    """E.g. "Verified 12 days ago" or "Not verified for 120 days"."""
    if fr.age_days is None:
        return _("Never verified")
    if fr.stale:
        return _("Not verified for %(days)d days", days=fr.age_days)
    if fr.age_days == 0:
        return _("Verified today")
    return _("Verified %(days)d days ago", days=fr.age_days)


def distance_text(metres: float) -> str:
    """Straight-line distance: "350 m" below 1 km, else "1.2 km"."""
    if metres < 1000:
        return _("%(n)d m", n=round(metres))
    return _("%(n)s km", n=f"{metres / 1000:.1f}")


def nav_apps() -> dict[str, str]:
    """Display names of the navigation apps (see :mod:`locator.core.navigation`)."""
    return {
        "amap": _("AMap"),
        "baidu": _("Baidu Maps"),
        "tencent": _("Tencent Maps"),
        "apple": _("Apple Maps"),
    }


def nav_modes() -> list[tuple[str, str]]:
    """Travel modes with their labels, in display order."""
    return [("walk", _("Walk")), ("cycle", _("Cycle"))]


def saved_at_text(now: datetime) -> str:
    """The offline note: "Saved at HH:MM, may be out of date" (Beijing time)."""
    return _("Offline: saved at %(time)s, may be out of date.", time=now.astimezone(TZ).strftime("%H:%M"))


def ago_text(then: datetime, now: datetime) -> str:
    """How long ago: "just now", "20 min ago", "3 h ago"."""
    minutes = int((now - then).total_seconds() // 60)
    if minutes < 1:
        return _("just now")
    if minutes < 60:
        return ngettext("%(num)d min ago", "%(num)d min ago", minutes)
    return ngettext("%(num)d h ago", "%(num)d h ago", minutes // 60)


def wait_text(minutes: int) -> str:
    """A wait in words: "80 min" or "2 h 5 min"."""
    if minutes < 90:
        return _("%(n)d min", n=minutes)
    return _("%(h)d h %(m)d min", h=minutes // 60, m=minutes % 60)


def _until_text(until: datetime | date, now: datetime) -> str:
    """``HH:MM`` today, else ``MM-DD HH:MM`` for an instant; ``MM-DD`` for a day (Beijing time)."""
    if isinstance(until, datetime):
        local = until.astimezone(TZ)
        if local.date() == now.astimezone(TZ).date():
            return local.strftime("%H:%M")
        return local.strftime("%m-%d %H:%M")
    return until.strftime("%m-%d")


def closed_text(live: LiveStatus, now: datetime) -> str:
    """A manager's closure in words: "Closed until 12-20 (heating repair)" — never "opens at"."""
    if live.until is None:
        if live.reason:
            return _("Temporarily closed (%(reason)s)", reason=live.reason)
        return _("Temporarily closed")
    until = _until_text(live.until, now)
    if live.reason:
        return _("Closed until %(until)s (%(reason)s)", until=until, reason=live.reason)
    return _("Closed until %(until)s", until=until)


@dataclass(frozen=True, slots=True)
class LiveWords:
    """The live door status in words: a main line, an optional note, a CSS class."""

    line: str
    note: str
    css: str


def live_words(live: LiveStatus, now: datetime) -> LiveWords:
    """Put a :class:`~locator.core.live.LiveStatus` into words (the schedule's states say nothing here)."""
    line, css = "", "live-" + live.state.replace("_", "-")
    since = "" if live.since is None else ago_text(live.since, now)
    if live.state == "closed_by_manager":
        line = closed_text(live, now)
    elif live.state == "confirmed_open":
        if live.source == "device":
            line = _("Door open · door sensor, %(ago)s", ago=since)
        elif live.source == "manager":
            until = "" if live.until is None else _until_text(live.until, now)
            line = _("Open now, says the station (until %(until)s)", until=until)
        else:
            line = ngettext(
                "Door open · %(num)d rider said so, %(ago)s",
                "Door open · %(num)d riders said so, %(ago)s",
                live.reports,
                ago=since,
            )
    elif live.state == "reported_locked":
        if live.source == "device":
            line = _("Door locked · door sensor, %(ago)s", ago=since)
        elif live.reports >= 2:
            line = _(
                "%(num)d riders reported locked (latest %(ago)s) · moved down the list",
                num=live.reports,
                ago=since,
            )
        else:
            line = _("1 rider reported locked, %(ago)s", ago=since)
    notes = []
    if live.state != "reported_locked" and live.locked_reports and live.last_locked_at is not None:
        notes.append(
            ngettext(
                "%(num)d rider reported locked, %(ago)s",
                "%(num)d riders reported locked, %(ago)s",
                live.locked_reports,
                ago=ago_text(live.last_locked_at, now),
            )
        )
    if live.scan_reports:
        notes.append(_("Riders say: scan a code or register to enter"))
    return LiveWords(line, " · ".join(notes), css)


def travel_text(hit: NearestHit) -> str:
    """Time and direction, e.g. "≈ 12 min walk · to the north-west" (a straight-line estimate).

    Walking up to 3 km, else cycling (:func:`locator.core.riders.travel_modes`); speeds and
    detour factor from :mod:`locator.core.walking`.
    """
    where = direction_words()[direction(hit.bearing_deg)]
    if travel_modes(hit.distance_m)[0] == "walk":
        return _(
            "≈ %(minutes)d min walk · %(direction)s",
            minutes=max(1, round(walk_minutes(hit.distance_m))),
            direction=where,
        )
    return _(
        "≈ %(minutes)d min by bike · %(direction)s",
        minutes=max(1, round(cycle_minutes(hit.distance_m))),
        direction=where,
    )


def direction_words() -> dict[str, str]:
    """Compass directions (:data:`locator.core.riders.DIRECTIONS`) in words."""
    return {
        "north": _("to the north"),
        "north-east": _("to the north-east"),
        "east": _("to the east"),
        "south-east": _("to the south-east"),
        "south": _("to the south"),
        "south-west": _("to the south-west"),
        "west": _("to the west"),
        "north-west": _("to the north-west"),
    }


def access_label(key: str, locale: str) -> str:
    """How riders get in, in words (empty for unknown)."""
    label = ACCESS.get(key)
    return "" if label is None else label.get(locale)


@dataclass(frozen=True, slots=True)
class Go:
    """The one "go" button of a result, and the other apps one tap away.

    Attributes
    ----------
    primary : NavLink
        The default: AMap, walking up to 3 km, else cycling (the page's script swaps in
        the rider's remembered app and mode).
    links : list of NavLink
        Every app for every mode offered (modes by :func:`locator.core.riders.travel_modes`).
    modes : tuple of str
        The modes offered, best first.
    """

    primary: NavLink
    links: list[NavLink]
    modes: tuple[str, ...]


def go_links(f: Facility, distance_m: float | None, origin: tuple[float, float] | None) -> Go:
    """The go button's links; routes start at the app's own position unless ``origin`` is given."""
    modes = travel_modes(distance_m if distance_m is not None else 0.0)
    links = [link for link in navigation_links((f.lon, f.lat), f.name, origin) if link.mode in modes]
    primary = next(link for link in links if link.mode == modes[0] and link.app == APPS[0])
    return Go(primary, links, modes)


def facility_view(
    f: Facility,
    at: datetime,
    *,
    hit: NearestHit | None = None,
    origin: tuple[float, float] | None = None,
    nav_origin: tuple[float, float] | None = None,
    live: LiveStatus | None = None,
    locale: str = "zh",
) -> dict[str, Any]:
    """Everything a template shows about one facility, words included.

    Parameters
    ----------
    f : Facility
    at : datetime
        The instant for hours and freshness.
    hit : NearestHit, optional
        Its distance, bearing and rank, on a results page.
    origin : (lon, lat), optional
        WGS-84 point the rider searched from (kept in the facility link).
    nav_origin : (lon, lat), optional
        WGS-84 start of the navigation links: only when the rider searched from a chosen
        place; else the apps start at the phone's own position.
    live : LiveStatus, optional
        The live door status (default: the schedule's).
    locale : str
    """
    hours = describe_hours(f.opening_hours, at)
    if live is None:
        live = SCHEDULED[is_open(f.opening_hours, at) if f.status == "open" else False]
    fr = freshness(f, at, stale_after=stale_after())
    words = live_words(live, at)
    closed_by_manager = live.state == "closed_by_manager"
    go = go_links(f, None if hit is None else hit.distance_m, nav_origin)
    return {
        "f": f,
        "hit": hit,
        "distance": None if hit is None else distance_text(hit.distance_m),
        "travel": None if hit is None else travel_text(hit),
        "hours": hours,
        "hours_text": closed_text(live, at) if closed_by_manager else hours_text(hours),
        "hours_class": "closed" if closed_by_manager else hours.state,
        "holiday_note": None if closed_by_manager else holiday_note(hours),
        "live": live,
        "live_line": "" if closed_by_manager else words.line,
        "live_note": words.note,
        "live_class": words.css,
        "access": access_label(f.access, locale),
        "fresh": fr,
        "fresh_text": freshness_text(fr),
        "go": go,
        "nav": go.links,
        "origin_lon": None if origin is None else f"{origin[0]:.6f}",
        "origin_lat": None if origin is None else f"{origin[1]:.6f}",
        "from_place": nav_origin is not None,
    }


def results_view(
    hits: Sequence[NearestHit],
    at: datetime,
    origin: tuple[float, float],
    *,
    nav_origin: tuple[float, float] | None = None,
    live_of: Any = None,
    locale: str = "zh",
) -> list[dict[str, Any]]:
    """:func:`facility_view` for every hit, in the hits' order (``live_of(f) -> LiveStatus``)."""
    return [
        facility_view(
            h.facility,
            at,
            hit=h,
            origin=origin,
            nav_origin=nav_origin,
            live=None if live_of is None else live_of(h.facility),
            locale=locale,
        )
        for h in hits
    ]


def closer_note(hit: NearestHit, live: LiveStatus, at: datetime) -> str:
    """Why a closer station is not in the "open now" list, e.g. "…opens at 05:30, in 80 min".

    A manager's closure says "is closed until 12-20 (reason)", never "opens at".
    """
    f = hit.facility
    dist = distance_text(hit.distance_m)
    if live.state == "closed_by_manager":
        return _(
            "A closer one (%(distance)s), %(name)s, is %(closed)s",
            distance=dist,
            name=f.name,
            closed=closed_text(live, at),
        )
    s = describe_hours(f.opening_hours, at)
    if s.state == "opens_at" and s.minutes is not None:
        if s.days_ahead == 0:
            return _(
                "A closer one (%(distance)s), %(name)s, opens at %(time)s, in %(wait)s",
                distance=dist,
                name=f.name,
                time=s.time,
                wait=wait_text(s.minutes),
            )
        return _(
            "A closer one (%(distance)s), %(name)s, opens %(when)s",
            distance=dist,
            name=f.name,
            when=hours_text(s).split("·")[-1].strip(),
        )
    if s.state == "unknown":
        return _("A closer one (%(distance)s), %(name)s, has unknown hours", distance=dist, name=f.name)
    if live.state == "reported_locked":
        return _("A closer one (%(distance)s), %(name)s, was reported locked", distance=dist, name=f.name)
    return _("A closer one (%(distance)s), %(name)s, is closed now", distance=dist, name=f.name)


def all_kinds_label() -> str:
    """Label of the "every kind" tab."""
    return _("All kinds")


def place_kind(kind: str) -> str:
    """Translated label of a place kind (:data:`locator.core.places.PLACE_KINDS`)."""
    return {
        "district": _("District"),
        "subdistrict": _("Subdistrict"),
        "subway_station": _("Subway station"),
        "subway_entrance": _("Subway entrance"),
        "facility": _("Facility"),
    }.get(kind, kind)


def open_now_label() -> str:
    """The "open now" filter in the one-line summary."""
    return _("open now")


def go_label(app: str, mode: str) -> str:
    """The go button's words: "Go · AMap · Walk"."""
    return _("Go") + f" · {app} · {mode}"


def saved_search(args: dict[str, str], summary: str, place: str, now: datetime) -> dict[str, Any]:
    """What the offline page says about a saved search (kept by the service worker).

    ``kind``, ``amenity`` and ``open_now`` decide which later searches it may answer
    offline (with a position within 250 m); ``label``, ``place`` and ``time`` are shown.
    """
    return {
        "kind": args.get("kind", ""),
        "amenity": ",".join(sorted(a for a in args.get("amenity", "").split(",") if a)),
        "open_now": args.get("open_now", "true"),
        "label": summary,
        "place": place or _("your position"),
        "time": now.astimezone(TZ).strftime("%H:%M"),
    }
