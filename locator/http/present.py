"""Putting rider-facing facts into words, in the request's language (Flask-Babel).

The facts come from the rules modules (:mod:`locator.core.hours`, :mod:`locator.core.riders`);
this module only chooses the words. Every string is a msgid in English with a zh
translation in ``locator/translations``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from locator.core.domain import Facility, NearestHit
from locator.core.hours import TZ, HoursSummary, describe_hours
from locator.core.navigation import navigation_links
from locator.core.riders import Freshness, freshness
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


def facility_view(
    f: Facility,
    at: datetime,
    *,
    hit: NearestHit | None = None,
    origin: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Everything a template shows about one facility, words included.

    Parameters
    ----------
    f : Facility
    at : datetime
        The instant for hours and freshness.
    hit : NearestHit, optional
        Its distance and rank, on a results page.
    origin : (lon, lat), optional
        WGS-84 start of the navigation links.
    """
    hours = describe_hours(f.opening_hours, at)

    fr = freshness(f, at, stale_after=stale_after())
    return {
        "f": f,
        "hit": hit,
        "distance": None if hit is None else distance_text(hit.distance_m),
        "hours": hours,
        "hours_text": hours_text(hours),
        "holiday_note": holiday_note(hours),
        "fresh": fr,
        "fresh_text": freshness_text(fr),
        "nav": navigation_links((f.lon, f.lat), f.name, origin),
        "origin_lon": None if origin is None else f"{origin[0]:.6f}",
        "origin_lat": None if origin is None else f"{origin[1]:.6f}",
    }


def results_view(
    hits: Sequence[NearestHit], at: datetime, origin: tuple[float, float]
) -> list[dict[str, Any]]:
    """:func:`facility_view` for every hit, in the hits' order."""
    return [facility_view(h.facility, at, hit=h, origin=origin) for h in hits]


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
