"""``flask --app app locator …``: init-db, load-demo, import, export."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from locator.errors import ImportRejectedError, LocatorError
from locator.geo import Datum
from locator.readers import read_records
from locator.serialize import facility_feature
from locator.services import LocatorService
from locator.stores.base import Actor

locator_cli = AppGroup("locator", help="Manage the facility store.")

DEMO_LAYER = Path(__file__).resolve().parent.parent / "geodata" / "beijing_demo_facilities.geojson"


def _service() -> LocatorService:
    svc: LocatorService = current_app.extensions["locator"]
    return svc


def _import(path: Path, datum: Datum, *, demo: bool | None, actor: Actor) -> int:
    svc = _service()
    try:
        records = read_records(path)
        count = svc.import_records(records, datum, actor, demo=demo)
    except ImportRejectedError as exc:
        click.echo(f"Import rejected: {exc.detail}", err=True)
        for row, field, reason in exc.row_errors:
            click.echo(f"  row {row}: {field + ': ' if field else ''}{reason}", err=True)
        sys.exit(1)
    except LocatorError as exc:
        click.echo(f"Error: {exc.detail}", err=True)
        sys.exit(1)
    return count


@locator_cli.command("init-db")
def init_db() -> None:
    """Create or upgrade the schema of the store named by LOCATOR_DATABASE_URL."""
    _service().store.init_schema()
    click.echo(f"Schema ready ({_service().store.backend}).")


@locator_cli.command("load-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the store holds facilities.")
def load_demo(if_empty: bool) -> None:
    """Load the Beijing DEMO facility layer (geodata/) — not real stations."""
    svc = _service()
    svc.store.init_schema()
    if if_empty and svc.store.count() > 0:
        click.echo(f"Store already holds {svc.store.count()} facilities; demo layer not loaded.")
        return
    count = _import(DEMO_LAYER, Datum.WGS84, demo=True, actor=Actor("load-demo"))
    click.echo(f"Loaded {count} DEMO facilities (示例数据, not real stations).")


@locator_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--datum",
    type=click.Choice([d.value for d in Datum]),
    required=True,
    help="Datum of the file's coordinates: wgs84 (GPS, OSM), gcj02 (AMap, Tencent), bd09 (Baidu).",
)
def import_file(path: Path, datum: str) -> None:
    """Import facilities from GeoJSON, GeoPackage or CSV (lon/lat columns): all rows or none."""
    _service().store.init_schema()
    count = _import(path, Datum(datum), demo=None, actor=Actor("cli-import", reason=str(path.name)))
    click.echo(f"Imported {count} facilities from {path.name} ({datum}).")


@locator_cli.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def export_file(path: Path) -> None:
    """Export every facility as GeoJSON (WGS-84)."""
    features = [facility_feature(f) for f in _service().store.all()]
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    click.echo(f"Exported {len(features)} facilities to {path}.")


def init_app(app: Flask) -> None:
    """Register the ``locator`` command group."""
    app.cli.add_command(locator_cli)
