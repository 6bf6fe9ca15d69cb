"""The coverage planner's outputs: JSON summary, GeoJSON, CSV and the hour-of-day chart (SVG).

Pure functions of a :class:`locator.core.coverage.CoverageReport`; no Flask, no folium
(the map is :func:`locator.formats.maps.coverage_map`). Coordinates are WGS-84, GeoJSON
order ``[lon, lat]`` (RFC 7946). Weights are the planner's relative demand weights —
every output says so, and none calls them riders.
"""

from __future__ import annotations

import csv
import io
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final

from markupsafe import Markup, escape
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from locator.core.areas import Area
from locator.core.coverage import CoverageReport, HourCoverage

#: Said by every output next to the weights.
WEIGHT_NOTE: Final = (
    "Weights are relative demand weights (a proxy for where outdoor workers are), not counts of riders."
)
#: Said by every output built on the demo facility layer.
DEMO_NOTE: Final = "The facilities are the DEMO layer (示例数据), not real stations."
#: Decimal places of coordinates in downloads (1e-7 degrees is about 1 cm).
COORD_DECIMALS: Final = 7
#: Decimal places of area outlines in downloads (1e-6 degrees is about 0.1 m) and their
#: simplification (degrees; 1e-5 is about 1 m).
OUTLINE_DECIMALS: Final = 6
OUTLINE_TOLERANCE_DEG: Final = 1e-5
#: The same for maps (1e-4 degrees is about 10 m; 3e-4 about 30 m): the 331 Beijing
#: subdistricts take about 1 MB of GeoJSON instead of 3.2 MB.
MAP_DECIMALS: Final = 4
MAP_TOLERANCE_DEG: Final = 3e-4

CSV_COLUMNS: Final = (
    "record",
    "code",
    "name",
    "district_code",
    "district_name",
    "hour",
    "lon",
    "lat",
    "points",
    "total_weight",
    "covered_weight",
    "uncovered_weight",
    "covered_share",
    "open_facilities",
    "rank",
    "gain",
    "covered_share_after",
    "category",
)


def _w(x: float) -> float:
    """A weight rounded for output (3 decimals)."""
    return round(float(x), 3)


def _share(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def _hour(h: HourCoverage) -> dict[str, Any]:
    return {
        "at": h.at.isoformat(timespec="minutes"),
        "open_facilities": h.open_facilities,
        "covered_weight": _w(h.covered_weight),
        "covered_share": _share(h.covered_share),
    }


def summary(report: CoverageReport, *, gaps: int = 5, least: int = 5) -> dict[str, Any]:
    """The JSON summary of a report (the CLI's last stdout line; the page's numbers).

    Parameters
    ----------
    report : CoverageReport
    gaps, least : int
        How many worst subdistricts and least-needed stations to list.

    Returns
    -------
    dict
        ``total_weight``, ``covered_weight``, ``covered_share`` (0–1), the query echo
        (``kind``, ``radius_m``, ``walk_minutes_estimate``, ``at``, ``districts``,
        ``demand``), counts, ``hourly`` (24 entries), ``weekly`` (168 or none),
        ``gaps`` (subdistricts with the most uncovered weight), ``district_coverage``
        (every district holding demand), ``least_needed``, and
        with siting ``sites`` (each ``rank``, ``lon``, ``lat`` WGS-84, ``gain``,
        ``covered_share_after``, ``name``, ``category``) and ``candidates``.
    """
    out: dict[str, Any] = {
        "kind": report.kind,
        "radius_m": round(report.radius_m, 3),
        "walk_minutes_estimate": round(report.walk_minutes, 1),
        "at": report.at.isoformat(timespec="minutes"),
        "districts": list(report.districts),
        "demand": report.demand_source,
        "demand_points": report.points,
        "covered_points": report.covered_points,
        "total_weight": _w(report.total_weight),
        "covered_weight": _w(report.covered_weight),
        "uncovered_weight": _w(report.total_weight - report.covered_weight),
        "covered_share": _share(report.covered_share),
        "facilities": report.facilities_total,
        "facilities_open": report.facilities_open,
        "hourly": [_hour(h) for h in report.hours],
        "gaps": [
            {
                "code": a.code,
                "name": a.name,
                "district_code": a.district_code,
                "district_name": a.district_name,
                "uncovered_weight": _w(a.uncovered_weight),
                "covered_share": _share(a.covered_share),
            }
            for a in report.gaps("subdistrict", gaps)
        ],
        "district_coverage": [
            {
                "code": a.code,
                "name": a.name,
                "name_en": a.name_en,
                "points": a.points,
                "total_weight": _w(a.total_weight),
                "uncovered_weight": _w(a.uncovered_weight),
                "covered_share": _share(a.covered_share),
            }
            for a in report.areas
            if a.level == "district"
        ],
        "least_needed": [
            {
                "id": s.facility_id,
                "name": s.name,
                "lon": round(s.lon, COORD_DECIMALS),
                "lat": round(s.lat, COORD_DECIMALS),
                "removal_cost": _w(s.removal_cost),
            }
            for s in report.least_needed[:least]
        ],
        "weights": WEIGHT_NOTE,
        "demo": report.demo,
    }
    if report.week:
        out["weekly"] = [_hour(h) for h in report.week]
    if report.candidates_source:
        out["candidates"] = report.candidates_source
        out["sites"] = [
            {
                "rank": s.rank,
                "lon": round(s.lon, COORD_DECIMALS),
                "lat": round(s.lat, COORD_DECIMALS),
                "gain": _w(s.gain),
                "covered_share_after": _share(
                    s.covered_after / report.total_weight if report.total_weight else 0
                ),
                "name": s.name,
                "category": s.category,
            }
            for s in report.sites
        ]
    return out


# --- areas --------------------------------------------------------------------------

_simple_cache: dict[tuple[int, float, int], tuple[BaseGeometry, dict[str, Any]]] = {}
_simple_lock = threading.Lock()


def _round_coords(coords: Any, decimals: int) -> Any:
    if coords and isinstance(coords[0], int | float):
        return [round(float(coords[0]), decimals), round(float(coords[1]), decimals)]
    return [_round_coords(c, decimals) for c in coords]


def simplified_geometry(geom: BaseGeometry, tolerance: float, decimals: int) -> dict[str, Any]:
    """GeoJSON geometry of ``geom`` simplified (topology kept) and rounded; cached per geometry.

    The cache keeps a reference to ``geom`` so its ``id`` is not reused while cached.
    Treat the result as read-only.
    """
    key = (id(geom), tolerance, decimals)
    with _simple_lock:
        hit = _simple_cache.get(key)
    if hit is not None and hit[0] is geom:
        return hit[1]
    g = mapping(geom.simplify(tolerance, preserve_topology=True))
    result = {"type": g["type"], "coordinates": _round_coords(g["coordinates"], decimals)}
    with _simple_lock:
        if len(_simple_cache) > 4096:
            _simple_cache.clear()
        _simple_cache[key] = (geom, result)
    return result


def areas_collection(
    report: CoverageReport,
    subdistricts: Sequence[Area],
    *,
    tolerance: float = OUTLINE_TOLERANCE_DEG,
    decimals: int = OUTLINE_DECIMALS,
) -> dict[str, Any]:
    """The subdistricts as a GeoJSON FeatureCollection with their coverage.

    Parameters
    ----------
    report : CoverageReport
    subdistricts : sequence of Area
        Polygons (WGS-84) to include, e.g. every subdistrict of the scope; those holding
        no demand get ``covered_share: null``.
    tolerance, decimals : float, int
        Simplification (degrees) and rounding of the outlines.

    Returns
    -------
    dict
        Features with ``id`` = the subdistrict code and properties ``layer`` (``area``),
        ``code``, ``name``, ``district_code``, ``district_name``, ``points``,
        ``total_weight``, ``covered_weight``, ``uncovered_weight``, ``covered_share``.
    """
    by_code = {a.code: a for a in report.areas if a.level == "subdistrict"}
    districts = {a.code: a.name for a in report.areas if a.level == "district"}
    features = []
    for area in subdistricts:
        c = by_code.get(area.code)
        features.append(
            {
                "type": "Feature",
                "id": area.code,
                "geometry": simplified_geometry(area.geometry, tolerance, decimals),
                "properties": {
                    "layer": "area",
                    "code": area.code,
                    "name": area.name,
                    "district_code": c.district_code if c else (area.parent_code or ""),
                    "district_name": c.district_name if c else districts.get(area.parent_code or "", ""),
                    "points": c.points if c else 0,
                    "total_weight": _w(c.total_weight) if c else 0.0,
                    "covered_weight": _w(c.covered_weight) if c else 0.0,
                    "uncovered_weight": _w(c.uncovered_weight) if c else 0.0,
                    "covered_share": _share(c.covered_share) if c else None,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def report_geojson(report: CoverageReport, subdistricts: Sequence[Area]) -> dict[str, Any]:
    """The whole report as one GeoJSON FeatureCollection (RFC 7946, WGS-84).

    Features carry a ``layer`` property: ``area`` (subdistrict polygons, see
    :func:`areas_collection`), ``uncovered`` (demand points not covered at the instant:
    ``weight``, ``category``, ``name``) and ``site`` (suggested sites: ``rank``,
    ``gain``, ``covered_share_after``, ``name``, ``category``). The collection's
    ``summary`` member is :func:`summary`; ``notes`` say what the weights are and
    whether the facilities are demo data.
    """
    areas = areas_collection(report, subdistricts)
    features = list(areas["features"])
    u = report.uncovered
    for i in range(len(u)):
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [
                        round(float(u.lon[i]), COORD_DECIMALS),
                        round(float(u.lat[i]), COORD_DECIMALS),
                    ],
                },
                "properties": {
                    "layer": "uncovered",
                    "weight": _w(u.weight[i]),
                    "category": str(u.category[i]),
                    "name": str(u.name[i]),
                },
            }
        )
    total = report.total_weight
    for s in report.sites:
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [round(s.lon, COORD_DECIMALS), round(s.lat, COORD_DECIMALS)],
                },
                "properties": {
                    "layer": "site",
                    "rank": s.rank,
                    "gain": _w(s.gain),
                    "covered_share_after": _share(s.covered_after / total if total else 0.0),
                    "name": s.name,
                    "category": s.category,
                },
            }
        )
    notes = [WEIGHT_NOTE] + ([DEMO_NOTE] if report.demo else [])
    return {
        "type": "FeatureCollection",
        "name": "coverage",
        "notes": notes,
        "summary": summary(report),
        "features": features,
    }


def report_csv(report: CoverageReport) -> str:
    """The report as one CSV table (UTF-8 text, LF line ends), one row per record.

    ``record`` is ``total`` (one row), ``hour`` (24 rows, ``hour`` = ``HH:MM``),
    ``district`` and ``subdistrict`` (areas holding demand), ``site`` (suggested
    sites, with ``lon``/``lat`` WGS-84, ``rank``, ``gain``) and ``least_needed`` (open
    stations by removal cost in ``uncovered_weight``). Shares are 0–1. Columns are
    :data:`CSV_COLUMNS`; cells that do not apply are empty.
    """
    buf = io.StringIO(newline="")
    out = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="raise")
    out.writeheader()
    out.writerow(
        {
            "record": "total",
            "code": ",".join(report.districts),
            "name": f"{report.kind} within {report.radius_m:g} m",
            "hour": report.at.isoformat(timespec="minutes"),
            "points": report.points,
            "total_weight": _w(report.total_weight),
            "covered_weight": _w(report.covered_weight),
            "uncovered_weight": _w(report.total_weight - report.covered_weight),
            "covered_share": _share(report.covered_share),
            "open_facilities": report.facilities_open,
        }
    )
    for h in (*report.hours, *report.week):
        out.writerow(
            {
                "record": "hour",
                "hour": h.at.strftime("%a %H:%M") if report.week else h.at.strftime("%H:%M"),
                "total_weight": _w(h.total_weight),
                "covered_weight": _w(h.covered_weight),
                "uncovered_weight": _w(h.total_weight - h.covered_weight),
                "covered_share": _share(h.covered_share),
                "open_facilities": h.open_facilities,
            }
        )
    for a in report.areas:
        out.writerow(
            {
                "record": a.level,
                "code": a.code,
                "name": a.name,
                "district_code": a.district_code,
                "district_name": a.district_name,
                "points": a.points,
                "total_weight": _w(a.total_weight),
                "covered_weight": _w(a.covered_weight),
                "uncovered_weight": _w(a.uncovered_weight),
                "covered_share": _share(a.covered_share),
            }
        )
    for s in report.sites:
        out.writerow(
            {
                "record": "site",
                "name": s.name,
                "lon": round(s.lon, COORD_DECIMALS),
                "lat": round(s.lat, COORD_DECIMALS),
                "rank": s.rank,
                "gain": _w(s.gain),
                "covered_share_after": _share(
                    s.covered_after / report.total_weight if report.total_weight else 0
                ),
                "category": s.category,
            }
        )
    for st in report.least_needed:
        out.writerow(
            {
                "record": "least_needed",
                "code": st.facility_id,
                "name": st.name,
                "lon": round(st.lon, COORD_DECIMALS),
                "lat": round(st.lat, COORD_DECIMALS),
                "uncovered_weight": _w(st.removal_cost),
            }
        )
    return buf.getvalue()


# --- the hour-of-day chart ---------------------------------------------------------------

_CHART_W: Final = 720
_CHART_H: Final = 260
_PAD_L: Final = 52
_PAD_R: Final = 12
_PAD_T: Final = 16
_PAD_B: Final = 40


def hour_chart_svg(
    hours: Sequence[HourCoverage],
    *,
    title: str,
    description: str,
    bar_label: Callable[[HourCoverage], str],
    axis_label: str,
    highlight: int | None = None,
    tick_every: int = 3,
    tick_label: Callable[[HourCoverage], str] | None = None,
    chart_id: str = "hour-chart",
) -> Markup:
    """An inline SVG bar chart of the covered share per hour (no script, no external asset).

    Parameters
    ----------
    hours : sequence of HourCoverage
        Usually the 24 hours of a day, in order.
    title, description : str
        Plain text (escaped here) for the chart's ``<title>``/``<desc>``, which name it
        for screen readers (``role="img"``).
    bar_label : callable (HourCoverage) -> str
        Plain text for each bar's tooltip (``<title>``), e.g. "22:00 — 93.9 % covered".
    axis_label : str
        Plain text of the y axis (e.g. "covered share").
    highlight : int, optional
        Index of the bar to mark (the hour asked about).
    tick_every : int
        A label under every this many bars (3 for a day; 24 for a week).
    tick_label : callable (HourCoverage) -> str, optional
        Plain text of a label; default the hour (``HH``).
    chart_id : str
        Prefix of the ids of ``<title>``/``<desc>`` (unique per page).

    Returns
    -------
    Markup
        ``<svg class="hour-chart" …>`` with one ``rect.bar`` per hour (``data-hour``,
        ``data-share`` in 0–1; ``data-hour`` is ``HH:MM``, or ``Www HH:MM`` when the
        bars span several days), gridlines at 0/25/50/75/100 % and labels every
        ``tick_every`` bars.
    """
    n = max(1, len(hours))
    plot_w = _CHART_W - _PAD_L - _PAD_R
    plot_h = _CHART_H - _PAD_T - _PAD_B
    step = plot_w / n
    bar_w = step * 0.72
    label = tick_label or (lambda h: h.at.strftime("%H"))
    days = len({h.at.date() for h in hours}) > 1
    cid = escape(chart_id)
    parts = [
        f'<svg class="hour-chart" id="{cid}" viewBox="0 0 {_CHART_W} {_CHART_H}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(description)}</desc>',
    ]
    for pct in (0, 25, 50, 75, 100):
        y = _PAD_T + plot_h * (1 - pct / 100)
        parts.append(
            f'<line class="grid" x1="{_PAD_L}" x2="{_CHART_W - _PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{_PAD_L - 6}" y="{y:.1f}" dy="0.35em" text-anchor="end">{pct}%</text>'
        )
    parts.append(
        f'<text class="axis" x="12" y="{_PAD_T + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_PAD_T + plot_h / 2:.1f})">{escape(axis_label)}</text>'
    )
    for i, h in enumerate(hours):
        share = h.covered_share if math.isfinite(h.covered_share) else 0.0
        bh = plot_h * max(0.0, min(1.0, share))
        x = _PAD_L + i * step + (step - bar_w) / 2
        y = _PAD_T + plot_h - bh
        cls = "bar current" if i == highlight else "bar"
        parts.append(
            f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{bh:.1f}" '
            f'data-hour="{h.at.strftime("%a %H:%M" if days else "%H:%M")}" data-share="{share:.4f}">'
            f"<title>{escape(bar_label(h))}</title></rect>"
        )
        if i % tick_every == 0:
            x_tick = _PAD_L + i * step + (step / 2 if tick_every < 6 else 0)
            anchor = "middle" if tick_every < 6 else "start"
            parts.append(
                f'<text class="tick" x="{x_tick:.1f}" y="{_CHART_H - _PAD_B + 18}" '
                f'text-anchor="{anchor}">{escape(label(h))}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped or a number
