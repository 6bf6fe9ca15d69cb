"""``flask --app app locator coverage …``: the 双15 coverage planner on the command line.

Progress bars go to stderr; the **last line of stdout is the JSON summary**
(:func:`locator.formats.coverage.summary`). Bad input — an unknown kind, a radius outside
50–5,000 m, K outside 1–500, an unreadable file, bad rows, a missing or unknown datum —
exits with status 2 and a message naming the problem, before anything is written. The
output is written to a temporary file in the target directory and renamed over
``--out`` only when complete, so a failed run never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from locator.core import coverage as cov
from locator.core.areas import GEODATA
from locator.core.domain import KINDS
from locator.core.geo import Datum
from locator.core.walking import reach_m
from locator.errors import ImportRejectedError, LocatorError
from locator.formats import coverage as out_formats
from locator.formats import maps
from locator.services.facilities import LocatorService
from locator.services.planning import (
    CANDIDATE_SOURCES,
    PlanningService,
    check_candidates,
    check_radius,
    parse_instant,
)

#: ``--out`` suffixes and their formats.
FORMATS = {".geojson": "geojson", ".json": "geojson", ".csv": "csv", ".html": "html"}
STATIC = GEODATA.parent / "static"
#: Rows of a rejected file listed in the error message (the rest are counted).
_SHOWN_ROWS = 20


class _Bars:
    """:class:`locator.services.planning.Progress` as click progress bars on stderr."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()

    def stage(self, label: str, total: int) -> Callable[[int], None]:
        self._stack.close()
        bar = self._stack.enter_context(
            click.progressbar(length=max(1, total), label=f"{label:<16}", file=sys.stderr, show_eta=False)
        )
        return bar.update

    def close(self) -> None:
        self._stack.close()


def _planning() -> PlanningService:
    ps: PlanningService | None = current_app.extensions.get("locator.planning")
    if ps is None:
        svc: LocatorService = current_app.extensions["locator"]
        ps = PlanningService(svc)
    return ps


def _tiles() -> maps.TileProvider:
    cfg = current_app.config
    name = cfg.get("LOCATOR_TILES", "osm")
    if name == "custom":
        return maps.TileProvider(
            name="custom",
            url=cfg["LOCATOR_TILE_URL"],
            attribution=cfg["LOCATOR_TILE_ATTRIBUTION"],
            datum=Datum.parse(cfg["LOCATOR_TILE_DATUM"]),
        )
    return maps.TILE_PROVIDERS.get(name, maps.TILE_PROVIDERS["osm"])


def _rejected(option: str, path: Path, exc: ImportRejectedError) -> click.BadParameter:
    lines = [f"{path.name}: {len(exc.row_errors)} invalid row(s); nothing was written"]
    for row, field, reason in exc.row_errors[:_SHOWN_ROWS]:
        lines.append(f"  row {row}: {field + ': ' if field else ''}{reason}")
    if len(exc.row_errors) > _SHOWN_ROWS:
        lines.append(f"  … and {len(exc.row_errors) - _SHOWN_ROWS} more")
    return click.BadParameter("\n".join(lines), param_hint=option)


def _read(ps: PlanningService, option: str, path: Path, datum: Datum, category: str) -> cov.PointSet:
    try:
        return ps.read_points(path, datum, category=category)
    except ImportRejectedError as exc:
        raise _rejected(option, path, exc) from None
    except LocatorError as exc:
        raise click.BadParameter(str(exc.detail), param_hint=option) from None


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Any]:
    """Write to a temporary file next to ``path``; rename it over ``path`` on success only."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _html(ps: PlanningService, report: cov.CoverageReport, locale: str) -> str:
    areas = out_formats.areas_collection(
        report,
        ps.subdistrict_areas(report.districts),
        tolerance=out_formats.MAP_TOLERANCE_DEG,
        decimals=out_formats.MAP_DECIMALS,
    )
    parts = maps.coverage_map(report, areas, _tiles(), asset_url=maps.inline_asset_url(STATIC), locale=locale)
    zh = locale == "zh"
    kind = KINDS[report.kind].get(locale)
    title = f"{kind} · {'覆盖分析' if zh else 'coverage'} {report.at:%Y-%m-%d %H:%M}"
    chart = out_formats.hour_chart_svg(
        report.hours,
        title="各小时覆盖率" if zh else "Covered share by hour",
        description=", ".join(f"{h.at:%H}:00 {h.covered_share * 100:.1f}%" for h in report.hours),
        bar_label=lambda h: f"{h.at:%H:%M} — {h.covered_share * 100:.1f}%",
        axis_label="覆盖率" if zh else "covered share",
        highlight=report.at.hour,
    )
    notes = [out_formats.WEIGHT_NOTE] + ([out_formats.DEMO_NOTE] if report.demo else [])
    intro = (
        f"<p>{maps.escape_text(f'{report.radius_m:g} m')} · "
        f"{maps.escape_text(f'{report.covered_share * 100:.1f}%')} "
        f"{'需求权重被覆盖' if zh else 'of the demand weight covered'} · "
        f"{report.facilities_open}/{report.facilities_total} {'开放' if zh else 'open'}</p>"
        f"{chart}" + "".join(f"<p><small>{maps.escape_text(n)}</small></p>" for n in notes)
    )
    return maps.standalone_page(parts, title=title, locale=locale, intro_html=intro)


@click.command("coverage")
@with_appcontext
@click.option(
    "--kind",
    type=click.Choice(list(KINDS)),
    default="warm_station",
    show_default=True,
    help="Facility kind whose coverage is measured.",
)
@click.option(
    "--radius-m",
    type=click.FloatRange(cov.RADIUS_MIN_M, cov.RADIUS_MAX_M),
    default=None,
    help="Reach in geodesic metres, 50-5000 (default 1000, the 双15 radius).",
)
@click.option(
    "--walk-min",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Reach as estimated walk minutes instead (straight line x 1.3 detour at 1.2 m/s).",
)
@click.option(
    "--at", "at_text", default=None, help="ISO 8601 instant (no offset = Beijing time); default now."
)
@click.option(
    "--demand",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Demand points instead of the shipped layer: GeoJSON points or CSV lon,lat[,weight].",
)
@click.option(
    "--district", "districts", multiple=True, help="Limit the demand to this district adcode (repeatable)."
)
@click.option(
    "--sites", type=click.IntRange(cov.SITES_MIN, cov.SITES_MAX), default=None, help="Suggest K sites, 1-500."
)
@click.option(
    "--candidates",
    default=None,
    help="Candidate sites: a GeoJSON/CSV file, or a comma list of union_homes, subway_entrances, "
    "buildings (default: all three).",
)
@click.option(
    "--datum",
    type=click.Choice([d.value for d in Datum]),
    default=None,
    help="Datum of the --demand and --candidates files: wgs84 (GPS, OSM), gcj02 (AMap, Tencent), "
    "bd09 (Baidu).",
)
@click.option("--week", is_flag=True, help="Also the 168-hour profile of the week of --at.")
@click.option(
    "--locale", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of .html."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file: .geojson, .csv or .html (a self-contained map).",
)
def coverage_command(
    kind: str,
    radius_m: float | None,
    walk_min: float | None,
    at_text: str | None,
    demand: Path | None,
    districts: tuple[str, ...],
    sites: int | None,
    candidates: str | None,
    datum: str | None,
    week: bool,
    locale: str,
    out: Path,
) -> None:
    """Which demand is within reach of an OPEN facility, by hour and area; where K new sites help most.

    Weights are relative demand weights (a proxy for where outdoor workers are), never
    rider counts. The last stdout line is the JSON summary.
    """
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise click.BadParameter("use a .geojson, .csv or .html file name", param_hint="--out")
    if not out.parent.resolve().is_dir():
        raise click.BadParameter(f"directory {out.parent} does not exist", param_hint="--out")
    if radius_m is not None and walk_min is not None:
        raise click.UsageError("give --radius-m or --walk-min, not both")
    radius = radius_m if radius_m is not None else cov.DEFAULT_RADIUS_M
    if walk_min is not None:
        try:
            radius = check_radius(reach_m(walk_min))
        except LocatorError:
            raise click.BadParameter(
                f"{walk_min:g} min is {reach_m(walk_min):.0f} m; the reach must be 50-5000 m",
                param_hint="--walk-min",
            ) from None
    if candidates is not None and sites is None:
        raise click.UsageError("--candidates needs --sites")
    try:
        at = parse_instant(at_text)
    except LocatorError as exc:
        raise click.BadParameter(str(exc.detail), param_hint="--at") from None

    cand_file: Path | None = None
    builtin: tuple[str, ...] = CANDIDATE_SOURCES
    if candidates is not None:
        names = [n.strip() for n in candidates.split(",") if n.strip()]
        if names and all(n in CANDIDATE_SOURCES for n in names):
            builtin = check_candidates(names)
        else:
            cand_file = Path(candidates)
            if not cand_file.is_file():
                raise click.BadParameter(
                    f"{candidates!r} is neither a file nor a list of {', '.join(CANDIDATE_SOURCES)}",
                    param_hint="--candidates",
                )
    if (demand is not None or cand_file is not None) and datum is None:
        raise click.BadParameter(
            "declare the datum of the --demand/--candidates file (wgs84, gcj02 or bd09)", param_hint="--datum"
        )

    ps = _planning()
    try:
        query = ps.check(
            kind, radius, at, districts=districts, sites=sites or 0, candidates=builtin, week=week
        )
    except LocatorError as exc:
        raise click.BadParameter(str(exc.detail), param_hint=f"--{exc.param or 'district'}") from None
    file_datum = Datum(datum) if datum else Datum.WGS84
    demand_points = _read(ps, "--demand", demand, file_datum, "imported") if demand is not None else None
    cand_points = (
        _read(ps, "--candidates", cand_file, file_datum, "candidate") if cand_file is not None else None
    )

    bars = _Bars()
    try:
        report = ps.report(
            query,
            demand=demand_points,
            demand_source=demand.name if demand is not None else "default",
            candidates=cand_points,
            candidates_source=cand_file.name if cand_file is not None else "",
            progress=bars,
        )
        advance = bars.stage("Writing", 1)
        with _atomic(out) as fh:
            if fmt == "geojson":
                json.dump(
                    out_formats.report_geojson(report, ps.subdistrict_areas(report.districts)),
                    fh,
                    ensure_ascii=False,
                    separators=(",", ":"),
                )
            elif fmt == "csv":
                fh.write(out_formats.report_csv(report))
            else:
                fh.write(_html(ps, report, locale))
        advance(1)
    finally:
        bars.close()
    click.echo(f"Wrote {out} ({fmt}).")
    click.echo(json.dumps(out_formats.summary(report), ensure_ascii=False, separators=(",", ":")))


#: The commands of this module, for :func:`locator.cli.init_app`.
COMMANDS = (coverage_command,)
