"""``flask --app app locator …``: init-db, load-demo, import, export, index-snapshot."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from locator.core.areas import GEODATA
from locator.core.geo import Datum
from locator.errors import ImportRejectedError, LocatorError
from locator.formats.bulk import export_csv, export_geojson, export_xlsx
from locator.services.facilities import LocatorService
from locator.stores.contract import Actor

DEMO_LAYER = GEODATA / "beijing_demo_facilities.geojson"


def _service() -> LocatorService:
    svc: LocatorService = current_app.extensions["locator"]
    return svc


def _import(path: Path, datum: Datum, *, demo: bool | None, actor: Actor) -> int:
    svc = _service()
    try:
        count = svc.import_file(
            path, datum, actor, demo=demo, max_rows=current_app.config["LOCATOR_IMPORT_MAX_ROWS"]
        )
    except ImportRejectedError as exc:
        click.echo(f"Import rejected: {exc.detail}", err=True)
        for row, field, reason in exc.row_errors:
            click.echo(f"  row {row}: {field + ': ' if field else ''}{reason}", err=True)
        if exc.unlisted:
            click.echo(f"  … and {exc.unlisted} more invalid rows (not listed)", err=True)
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
    """Import facilities from GeoJSON, GeoPackage or CSV (lon/lat columns): all rows or none.

    The file is streamed (bounded memory) and committed in one short transaction at the
    end, so a serving store keeps answering meanwhile. Files of more than
    LOCATOR_IMPORT_MAX_ROWS rows (default 2,000,000) are refused.
    """
    _service().store.init_schema()
    count = _import(path, Datum(datum), demo=None, actor=Actor("cli-import", reason=str(path.name)))
    click.echo(f"Imported {count} facilities from {path.name} ({datum}).")


@click.command("export")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def export_file(path: Path) -> None:
    """Export every facility (WGS-84) as GeoJSON, CSV or XLSX, chosen by PATH's suffix."""
    writers = {".geojson": export_geojson, ".json": export_geojson, ".csv": export_csv, ".xlsx": export_xlsx}
    writer = writers.get(path.suffix.lower())
    if writer is None:
        raise click.BadParameter(
            "the file name must end in .geojson, .json, .csv or .xlsx", param_hint="PATH"
        )
    facilities = _service().store.all()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(writer(facilities))
    os.replace(tmp, path)  # never a half-written file
    click.echo(f"Exported {len(facilities)} facilities to {path}.")


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path) -> None:
    """Copy the whole store (facilities, history, reports, accounts, partners) to PATH, online.

    SQLite: the online backup API (a SQLite file). PostGIS: pg_dump --format=custom.
    """
    try:
        _service().store.backup(path)
    except LocatorError as exc:
        click.echo(f"Error: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"Backed up the {_service().store.backend} store to {path} ({path.stat().st_size} bytes).")


@click.command("restore")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore(path: Path, yes: bool) -> None:
    """Replace everything in the store with the backup at PATH (all of it or nothing).

    Stop the service first, or restart it after: workers reload their index either way.
    """
    if not yes:
        click.confirm(f"Replace everything in the {_service().store.backend} store with {path}?", abort=True)
    try:
        _service().store.restore(path)
    except LocatorError as exc:
        click.echo(f"Error: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"Restored the {_service().store.backend} store from {path}.")


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
COMMANDS = (init_db, load_demo, import_file, export_file, backup, restore, index_snapshot)
