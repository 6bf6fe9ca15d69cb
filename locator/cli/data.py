"""``flask --app app locator …``: init-db, load-demo, import, export, index-snapshot."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from locator.core.areas import GEODATA
from locator.core.geo import Datum
from locator.errors import ImportRejectedError, LocatorError
from locator.formats.readers import read_records
from locator.formats.serialize import facility_feature
from locator.services.facilities import LocatorService
from locator.stores.contract import Actor

DEMO_LAYER = GEODATA / "beijing_demo_facilities.geojson"


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


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the schema of the store named by LOCATOR_DATABASE_URL."""
    _service().store.init_schema()
    click.echo(f"Schema ready ({_service().store.backend}).")


@click.command("load-demo")
@with_appcontext
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


@click.command("import")
@with_appcontext
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


@click.command("export")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def export_file(path: Path) -> None:
    """Export every facility as GeoJSON (WGS-84)."""
    features = [facility_feature(f) for f in _service().store.all()]
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    click.echo(f"Exported {len(features)} facilities to {path}.")


@click.command("index-snapshot")
@with_appcontext
def index_snapshot() -> None:
    """Write the index snapshot of the store's current revision (the workers map it at start).

    ``scripts/serve.sh`` (gunicorn.conf.py) runs it before starting the workers, so that
    they start from the snapshot instead of each reading every row.
    """
    svc = _service()
    path = svc.keeper.checkpoint()
    idx = svc.keeper.index
    if path is None:
        click.echo(f"Index snapshots are off (LOCATOR_INDEX_DIR=none); {len(idx)} facilities indexed.")
        return
    size = path.stat().st_size / 1e6
    click.echo(f"Index snapshot: {len(idx)} facilities at revision {idx.revision}, {size:.1f} MB, {path}")


#: The commands of this module, for :func:`locator.cli.init_app`.
COMMANDS = (init_db, load_demo, import_file, export_file, index_snapshot)
