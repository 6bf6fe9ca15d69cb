r"""Build the planner's demand layer ``geodata/beijing_demand_aoi.csv`` from the CityBench AOI points.

The coverage planner (``docs/planning.md``) needs points standing for where outdoor
workers are. The 48,966 real CityBench area-of-interest points
(``shared/data/beijing_aoi_points_citybench.csv``, 5 MB, WGS-84) are the best available;
this script keeps only what the planner uses — position and a land-use category — so the
shipped file stays small.

Usage::

    python scripts/build_demand_layer.py [--shared ../shared/data] [--out geodata/beijing_demand_aoi.csv]

Relative paths are resolved against the repository root.

Output
------
UTF-8 CSV, ``\n`` line ends, header ``lon,lat,category``, one row per source row in
source order, so row ``n`` (1-based, after the header) is the source's
``cb-aoi-<n, 6 digits>`` (the source ids are contiguous; the script checks it).
``lon``/``lat`` are the source's text unchanged (WGS-84 degrees, 7 decimals; the
source's datum was verified against OpenStreetMap, see ``SOURCES.md``). ``category``:

* ``bus_stop`` where the source ``aoi_type`` is 1 (``AOI_TYPE_BUS_STATION`` in
  tsinghua-fib-lab/cityproto ``city/map/v2/map.proto``);
* else from the source ``land_use_code``, the ``LandUseType`` of the same file, which
  follows GB/T 21010 first-level land-use classes: 5 ``commercial`` (商服用地),
  6 ``industrial`` (工矿仓储用地), 7 ``residential`` (住宅用地), 8 ``public``
  (公共管理与公共服务用地), 10 ``transport`` (交通运输用地), 12 ``other`` (其他土地),
  -1 ``unclassified`` (no class in the source: most points).

The output is deterministic (byte-identical for the same input).
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Source ``land_use_code`` -> category (GB/T 21010 first-level classes via cityproto).
LAND_USE = {
    "5": "commercial",
    "6": "industrial",
    "7": "residential",
    "8": "public",
    "10": "transport",
    "12": "other",
    "-1": "unclassified",
}


def build(source: Path) -> str:
    """The CSV text of the demand layer built from the CityBench AOI CSV at ``source``.

    Raises
    ------
    ValueError
        On an unexpected id sequence, land-use code or coordinate.
    """
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["lon", "lat", "category"])
    with open(source, encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=1):
            if row["id"] != f"cb-aoi-{n:06d}":
                raise ValueError(f"row {n}: id {row['id']!r} breaks the contiguous sequence")
            lon, lat = float(row["lon"]), float(row["lat"])
            if not (115.0 < lon < 118.0 and 39.0 < lat < 41.5):
                raise ValueError(f"row {n}: {lon}, {lat} is not in Beijing")
            if row["aoi_type"] == "1":
                category = "bus_stop"
            elif row["land_use_code"] in LAND_USE:
                category = LAND_USE[row["land_use_code"]]
            else:
                raise ValueError(f"row {n}: unknown land_use_code {row['land_use_code']!r}")
            writer.writerow([row["lon"], row["lat"], category])
    return out.getvalue()


def main() -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "geodata" / "beijing_demand_aoi.csv")
    args = parser.parse_args()
    shared = args.shared if args.shared.is_absolute() else REPO / args.shared
    out = args.out if args.out.is_absolute() else REPO / args.out
    text = build(shared / "beijing_aoi_points_citybench.csv")
    out.write_text(text, encoding="utf-8", newline="")
    print(f"wrote {out} ({text.count(chr(10)) - 1} points)")


if __name__ == "__main__":
    main()
