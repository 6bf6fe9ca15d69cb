"""Reading facility records from GeoJSON, GeoPackage and CSV files, streamed.

:func:`iter_records` yields one ``(row_number, record)`` at a time and holds at most
one batch of the file in memory, whatever its size: CSV through the :mod:`csv` module,
GeoJSON with ijson (an incremental JSON parser, its C backend), GeoPackage in batches
of :data:`GPKG_BATCH` features through pyogrio (GDAL). :func:`count_records` counts a
file's rows without building them, so that an import above a configured maximum can
be refused before it starts.

Records keep the file's coordinates untouched (whatever datum the caller declares);
conversion to WGS-84 happens in :meth:`locator.services.facilities.LocatorService.build`.
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Final

import ijson
import pandas as pd
from shapely.geometry.base import BaseGeometry

from locator.errors import Msg, ValidationError

SUPPORTED = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage", ".csv": "CSV"}
#: Features read from a GeoPackage per pyogrio call.
GPKG_BATCH: Final = 20_000
#: Largest CSV field, characters (a bigger one is an unreadable file, not a row error).
CSV_FIELD_LIMIT: Final = 1_000_000
#: GeoJSON ``crs`` names that mean lon/lat degrees on WGS-84 (RFC 7946 has no ``crs``).
_LONLAT_CRS: Final = {
    "urn:ogc:def:crs:ogc:1.3:crs84",
    "urn:ogc:def:crs:epsg::4326",
    "epsg:4326",
    "http://www.opengis.net/def/crs/ogc/1.3/crs84",
    "http://www.opengis.net/def/crs/epsg/0/4326",
}

Record = dict[str, Any]


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if hasattr(value, "tolist") and not isinstance(value, str):
        return value.tolist()
    return value


def _file_kind(path: str | Path) -> tuple[Path, str]:
    p = Path(path)
    kind = SUPPORTED.get(p.suffix.lower())
    if kind is None:
        raise ValidationError(
            Msg("unsupported file type %(suffix)r; use .geojson, .gpkg or .csv", suffix=p.suffix),
            param="path",
        )
    if not p.is_file():
        raise ValidationError(Msg("no such file: %(path)s", path=str(p)), param="path")
    return p, kind


def _unreadable(kind: str, p: Path, why: object) -> ValidationError:
    return ValidationError(
        Msg("cannot read %(kind)s file %(file)s: %(why)s", kind=kind, file=p.name, why=str(why)),
        param="path",
    )


def read_records(path: str | Path) -> list[tuple[int, Record]]:
    """Read a whole file of facilities into ``(row_number, record)`` pairs.

    :func:`iter_records` as a list: for small files (uploads, the demo layer, tests).

    Raises
    ------
    ValidationError
        As :func:`iter_records`.
    """
    return list(iter_records(path))


def iter_records(path: str | Path) -> Iterator[tuple[int, Record]]:
    """Stream a file of facilities as ``(row_number, record)`` pairs, in file order.

    Parameters
    ----------
    path : str or Path
        ``.geojson``/``.json``, ``.gpkg`` or ``.csv``. GeoJSON and GeoPackage rows take
        ``lon``/``lat`` from their Point geometry; CSV rows from ``lon`` and ``lat``
        columns (read as text, so a bad value is reported per row, not for the file).

    Yields
    ------
    (int, dict)
        Row numbers from 1 (the first feature / first data line). A row with no or a
        non-Point geometry gets ``lon``/``lat`` of None, reported later as missing.
        CSV: every header column, ``""`` read as None, a missing trailing cell None.

    Raises
    ------
    ValidationError
        If the file cannot be read or its type is not supported (``param="path"``),
        before the first row or, for a file broken further on, when the reader gets
        there (an import is one transaction, so nothing is stored either way). A file
        not in lon/lat degrees (a GeoJSON ``crs`` or GeoPackage CRS other than
        EPSG:4326/CRS84) is refused.
    """
    p, kind = _file_kind(path)
    if kind == "CSV":
        return _csv_records(p)
    if kind == "GeoJSON":
        return _geojson_records(p)
    return _gpkg_records(p)


# -- CSV ------------------------------------------------------------------------------------


def _csv_header(p: Path, reader: Iterator[list[str]]) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise _unreadable("CSV", p, "the file is empty") from None
    # Column names as pandas gives them: stripped, a repeated name gets ".1", ".2", ...
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(header):
        name = raw.strip() or f"Unnamed: {i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    return names


def _csv_records(p: Path) -> Iterator[tuple[int, Record]]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            names = _csv_header(p, reader)
            width = len(names)
            row = 0
            for cells in reader:
                if not cells:
                    continue  # a blank line
                if len(cells) > width:
                    raise _unreadable(
                        "CSV",
                        p,
                        f"line {reader.line_num} has {len(cells)} fields, the header {width}",
                    )
                row += 1
                rec: Record = dict.fromkeys(names)
                for name, cell in zip(names, cells, strict=False):
                    if cell != "":
                        rec[name] = cell
                yield row, rec
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _unreadable("CSV", p, exc) from None


def _count_csv(p: Path) -> int:
    """Data rows of a CSV: newlines counted in binary, exactly (quoted newlines) only if needed."""
    lines = 0
    last = b"\n"
    with open(p, "rb") as fh:
        while block := fh.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1
    return max(0, lines - 1)


def _count_csv_exact(p: Path) -> int:
    return sum(1 for _ in _csv_records(p))


# -- GeoJSON --------------------------------------------------------------------------------


def _geojson_head(p: Path, fh: BinaryIO) -> tuple[str | None, Any]:
    """The document's top-level ``type`` and ``crs`` members found before ``features``."""
    doc_type: str | None = None
    crs: Any = None
    builder: ijson.ObjectBuilder | None = None
    for prefix, event, value in ijson.parse(fh, use_float=True):
        if builder is not None:
            if prefix == "crs" and event in {"end_map", "end_array"}:
                builder.event(event, value)
                crs, builder = builder.value, None
            else:
                builder.event(event, value)
            continue
        if prefix == "type" and event == "string":
            doc_type = value
        elif prefix == "crs" and event in {"start_map", "start_array"}:
            builder = ijson.ObjectBuilder()
            builder.event(event, value)
        elif prefix == "crs" and event == "string":
            crs = value
        elif prefix == "features":
            doc_type = doc_type or "FeatureCollection"  # "type" may come after "features"
            break
        elif prefix == "" and event == "end_map":
            break
    return doc_type, crs


def _check_geojson_crs(p: Path, crs: Any) -> None:
    if crs is None:
        return
    name = crs
    if isinstance(crs, dict):
        name = (crs.get("properties") or {}).get("name")
    if not isinstance(name, str) or name.strip().lower() not in _LONLAT_CRS:
        raise ValidationError(
            Msg(
                "%(file)s is in %(crs)s; expected lon/lat degrees (EPSG:4326)",
                file=p.name,
                crs=str(name),
            ),
            param="path",
        )


def _point(geometry: Any) -> tuple[float | None, float | None]:
    """``(lon, lat)`` of a GeoJSON Point geometry, else ``(None, None)``."""
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        return None, None
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        return None, None
    x, y = coords[0], coords[1]
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in (x, y)):
        return None, None
    return float(x), float(y)


def _feature_record(feature: Any) -> Record:
    if not isinstance(feature, dict):
        return {"lon": None, "lat": None}
    props = feature.get("properties")
    rec: Record = {str(k): v for k, v in props.items()} if isinstance(props, dict) else {}
    # A string "id" member of the feature counts when the properties have none (as GDAL reads it).
    fid = feature.get("id")
    if "id" not in rec and isinstance(fid, str | int) and not isinstance(fid, bool):
        rec["id"] = fid
    # A feature with "geometry": null (or no Point) reads as a missing position: its row then
    # fails validation with "lon is missing" like any row without one.
    rec["lon"], rec["lat"] = _point(feature.get("geometry"))
    return rec


def _geojson_records(p: Path) -> Iterator[tuple[int, Record]]:
    try:
        with open(p, "rb") as fh:
            doc_type, crs = _geojson_head(p, fh)
            _check_geojson_crs(p, crs)
            fh.seek(0)
            if doc_type == "Feature":
                for n, feature in enumerate(ijson.items(fh, "", use_float=True), start=1):
                    yield n, _feature_record(feature)
                return
            if doc_type != "FeatureCollection":
                raise _unreadable("GeoJSON", p, "not a GeoJSON FeatureCollection or Feature")
            for n, feature in enumerate(ijson.items(fh, "features.item", use_float=True), start=1):
                yield n, _feature_record(feature)
    except (OSError, ijson.JSONError, UnicodeDecodeError) as exc:
        raise _unreadable("GeoJSON", p, exc) from None


def _count_geojson(p: Path) -> int:
    try:
        with open(p, "rb") as fh:
            doc_type, _ = _geojson_head(p, fh)
            if doc_type == "Feature":
                return 1
            fh.seek(0)
            return sum(1 for _ in ijson.items(fh, "features.item.type"))
    except (OSError, ijson.JSONError, UnicodeDecodeError) as exc:
        raise _unreadable("GeoJSON", p, exc) from None


# -- GeoPackage ---------------------------------------------------------------------------


def _gpkg_info(p: Path) -> dict[str, Any]:
    import pyogrio

    try:
        info: dict[str, Any] = pyogrio.read_info(p, force_feature_count=True)
    except Exception as exc:  # pyogrio raises its own DataSourceError subclasses
        raise _unreadable("GeoPackage", p, exc) from None
    return info


def _gpkg_records(p: Path) -> Iterator[tuple[int, Record]]:
    import pyogrio
    from pyproj import CRS

    info = _gpkg_info(p)
    crs = info.get("crs")
    if crs:
        parsed = CRS.from_user_input(crs)
        if parsed.to_epsg() not in (4326, None) and not parsed.equals("OGC:CRS84"):
            raise ValidationError(
                Msg(
                    "%(file)s is in %(crs)s; expected lon/lat degrees (EPSG:4326)",
                    file=p.name,
                    crs=parsed.to_string(),
                ),
                param="path",
            )
    total = int(info.get("features") or 0)
    row = 0
    for skip in range(0, total, GPKG_BATCH):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                gdf = pyogrio.read_dataframe(p, skip_features=skip, max_features=GPKG_BATCH)
        except Exception as exc:  # pyogrio raises its own DataSourceError subclasses
            raise _unreadable("GeoPackage", p, exc) from None
        geom_name = gdf.geometry.name
        columns = [str(c) for c in gdf.columns if c != geom_name]
        values = {c: gdf[c].tolist() for c in columns}
        geoms = gdf[geom_name].tolist()
        for i, geom in enumerate(geoms):
            row += 1
            rec: Record = {c: _clean(values[c][i]) for c in columns}
            if isinstance(geom, BaseGeometry) and not geom.is_empty and geom.geom_type == "Point":
                rec["lon"], rec["lat"] = float(geom.x), float(geom.y)
            else:
                rec["lon"], rec["lat"] = None, None
            yield row, rec


# -- counting ---------------------------------------------------------------------------------


def count_records(path: str | Path, *, at_most: int | None = None) -> int:
    """Count a file's rows without building them (for refusing an import up front).

    Parameters
    ----------
    path : str or Path
        As for :func:`iter_records`.
    at_most : int, optional
        The caller only needs to know whether the count exceeds this: a CSV is then
        counted by its newlines (a few hundred MB a second), and parsed only if that
        bound is above ``at_most`` (quoted values may hold newlines).

    Returns
    -------
    int
        Data rows (CSV, blank lines included when ``at_most`` is not exceeded), or
        features (GeoJSON: parsed with ijson, nothing built; GeoPackage: GDAL's count).

    Raises
    ------
    ValidationError
        As :func:`iter_records`.
    """
    p, kind = _file_kind(path)
    if kind == "CSV":
        bound = _count_csv(p)
        if at_most is not None and bound <= at_most:
            return bound
        return _count_csv_exact(p)
    if kind == "GeoJSON":
        return _count_geojson(p)
    return int(_gpkg_info(p).get("features") or 0)
