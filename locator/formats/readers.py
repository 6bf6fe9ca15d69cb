"""Reading facility records from GeoJSON, GeoPackage and CSV files (via GeoPandas).

Records keep the file's coordinates untouched (whatever datum the caller declares);
conversion to WGS-84 happens in :meth:`locator.services.facilities.LocatorService.build`.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry.base import BaseGeometry

from locator.errors import Msg, ValidationError

SUPPORTED = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage", ".csv": "CSV"}


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


def read_records(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Read a file of facilities into ``(row_number, record)`` pairs.

    Parameters
    ----------
    path : str or Path
        ``.geojson``/``.json``, ``.gpkg`` or ``.csv``. GeoJSON and GeoPackage rows take
        ``lon``/``lat`` from their Point geometry; CSV rows from ``lon`` and ``lat``
        columns (read as text, so a bad value is reported per row, not for the file).

    Returns
    -------
    list of (int, dict)
        Row numbers from 1 (the first feature / first data line). A row with no or a
        non-Point geometry gets ``lon``/``lat`` of None, reported later as missing.

    Raises
    ------
    ValidationError
        If the file cannot be read or its type is not supported (``param="path"``).
    """
    p = Path(path)
    kind = SUPPORTED.get(p.suffix.lower())
    if kind is None:
        raise ValidationError(
            Msg("unsupported file type %(suffix)r; use .geojson, .gpkg or .csv", suffix=p.suffix),
            param="path",
        )
    if not p.is_file():
        raise ValidationError(Msg("no such file: %(path)s", path=str(p)), param="path")
    try:
        if kind == "CSV":
            frame = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            return [
                (i, {str(k).strip(): (None if v == "" else v) for k, v in row.items()})
                for i, row in enumerate(frame.to_dict(orient="records"), start=1)
            ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gdf = gpd.read_file(p)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(
            Msg("cannot read %(kind)s file %(file)s: %(why)s", kind=kind, file=p.name, why=str(exc)),
            param="path",
        ) from None
    except Exception as exc:  # pyogrio raises its own DataSourceError subclasses
        raise ValidationError(
            Msg("cannot read %(kind)s file %(file)s: %(why)s", kind=kind, file=p.name, why=str(exc)),
            param="path",
        ) from None
    if gdf.crs is not None and gdf.crs.to_epsg() not in (4326, None) and not gdf.crs.equals("OGC:CRS84"):
        raise ValidationError(
            Msg(
                "%(file)s is in %(crs)s; expected lon/lat degrees (EPSG:4326)",
                file=p.name,
                crs=gdf.crs.to_string(),
            ),
            param="path",
        )
    records: list[tuple[int, dict[str, Any]]] = []
    geom_name = gdf.geometry.name
    for i, (_, row) in enumerate(gdf.iterrows(), start=1):
        rec = {str(k): _clean(v) for k, v in row.items() if k != geom_name}
        geom = row[geom_name]
        # A feature with "geometry": null reads as a missing value (None or NaN): its row then
        # fails validation with "coordinates are missing" like any row without a position.
        if isinstance(geom, BaseGeometry) and not geom.is_empty and geom.geom_type == "Point":
            rec["lon"], rec["lat"] = float(geom.x), float(geom.y)
        else:
            rec["lon"], rec["lat"] = None, None
        records.append((i, rec))
    return records
