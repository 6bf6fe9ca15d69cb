"""Bulk files: read uploads (CSV, XLSX, GeoJSON) into records; write exports. No Flask here.

Columns (CSV, XLSX) and GeoJSON properties are the domain field names, see
``docs/managers.md``: ``id, kind, name, address, lon, lat, amenities, opening_hours,
host_type, phone, access, status, status_until, status_reason, verified_at, source``. CSV and
XLSX rows carry ``lon``/``lat`` columns; GeoJSON rows a Point geometry. Coordinates are
in the datum the uploader declares; exports are always WGS-84. Other columns (an export's
``district_adcode``, ``version``, …) are ignored on upload.

Spreadsheet safety: text cells that a spreadsheet would run as a formula (starting with
``=``, ``@``, or ``+``/``-`` unless a plain number or phone number) get a leading ``'``,
and that ``'`` is removed again on upload, so an export round-trips unchanged.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import itertools
import json
import math
import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook, load_workbook

from locator.core import domain
from locator.core.domain import Facility, Label
from locator.errors import Msg, ValidationError
from locator.formats.readers import iter_records
from locator.formats.serialize import facility_feature

#: Upload types by file suffix.
UPLOAD_TYPES: Final = {".csv": "CSV", ".xlsx": "XLSX", ".geojson": "GeoJSON", ".json": "GeoJSON"}
#: Most rows one upload may hold.
MAX_ROWS: Final = 20_000

#: Export columns: every Facility field, in the dataclass's order.
EXPORT_COLUMNS: Final = tuple(f.name for f in dataclasses.fields(Facility))

_NUMBER_LIKE: Final = re.compile(r"^[+-][0-9 ()+\-.]*$")


def _risky(text: str) -> bool:
    """True for text a spreadsheet would evaluate: ``=…``, ``@…``, ``+``/``-`` unless a plain number."""
    if not text:
        return False
    return text[0] in "=@\t\r" or (text[0] in "+-" and not _NUMBER_LIKE.match(text))


def _defuse(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would evaluate as a formula."""
    return "'" + text if _risky(text) else text


def _renamed(detail: str, old: str, new: str) -> str:
    """``detail`` with the temporary file name ``old`` replaced by the uploaded name ``new``."""
    if isinstance(detail, Msg):
        values = {k: v.replace(old, new) if type(v) is str else v for k, v in detail.values.items()}
        return Msg(detail.template, **values)
    return detail.replace(old, new)


def _undefuse(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("'") and _risky(value[1:]):
        return value[1:]
    return value


def _cell_text(value: Any) -> Any:
    """An XLSX cell value as the text a CSV would hold (None for empty)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def read_upload(filename: str, data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """Read an uploaded file into ``(row_number, record)`` pairs.

    Parameters
    ----------
    filename : str
        Only its suffix is used (``.csv``, ``.xlsx``, ``.geojson``/``.json``).
    data : bytes
        The file's content.

    Returns
    -------
    list of (int, dict)
        Row numbers from 1 = the first data row (the line after the header; the first
        feature). Coordinates are untouched (the caller declares their datum).

    Raises
    ------
    ValidationError
        For an unsupported type, an unreadable file, or more than :data:`MAX_ROWS` rows
        (``param="file"``).
    """
    suffix = Path(filename or "").suffix.lower()
    kind = UPLOAD_TYPES.get(suffix)
    if kind is None:
        raise ValidationError(Msg("upload a .csv, .xlsx or .geojson file"), param="file")
    if not data:
        raise ValidationError(Msg("the file is empty"), param="file")
    if kind == "XLSX":
        records = _read_xlsx(data)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(data)
            try:
                # Streamed, and never more than one row past the cap (the body's size caps the file).
                records = list(itertools.islice(iter_records(path), MAX_ROWS + 1))
            except ValidationError as exc:
                raise ValidationError(_renamed(exc.detail, path.name, filename), param="file") from None
    if len(records) > MAX_ROWS:
        raise ValidationError(Msg("at most %(n)s rows per upload", n=MAX_ROWS), param="file")
    return [(n, {k: _undefuse(v) for k, v in rec.items()}) for n, rec in records]


#: Limits on what an uploaded .xlsx (a zip archive) may expand to before openpyxl reads it.
XLSX_MAX_EXPANDED_BYTES: Final = 64 * 2**20
XLSX_MAX_RATIO: Final = 200
XLSX_MAX_MEMBERS: Final = 500


def check_zip_expansion(data: bytes, *, max_bytes: int, max_ratio: int, max_members: int) -> None:
    """Refuse a zip archive (an .xlsx) that would expand beyond the limits ("zip bomb").

    Reads only the archive's central directory, so a bomb is refused in milliseconds,
    before any member is decompressed.

    Parameters
    ----------
    data : bytes
        The archive.
    max_bytes : int
        Largest total uncompressed size, bytes.
    max_ratio : int
        Largest uncompressed/compressed ratio of any member over 1 MiB.
    max_members : int
        Most members the archive may hold.

    Raises
    ------
    ValidationError
        ``param="file"``, saying which limit the file breaks.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ValidationError(
            Msg("cannot read the XLSX file: it is not a valid .xlsx archive"), param="file"
        ) from None
    if len(infos) > max_members:
        raise ValidationError(Msg("the XLSX file has too many parts (%(n)s)", n=len(infos)), param="file")
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise ValidationError(
            Msg(
                "the XLSX file expands to %(mb)s MB; at most %(max)s MB is accepted",
                mb=round(total / 2**20),
                max=round(max_bytes / 2**20),
            ),
            param="file",
        )
    for i in infos:
        if i.file_size > 2**20 and i.file_size > max_ratio * max(i.compress_size, 1):
            raise ValidationError(
                Msg(
                    "the XLSX file is compressed %(ratio)s times; it looks like a zip bomb",
                    ratio=i.file_size // max(i.compress_size, 1),
                ),
                param="file",
            )


def _read_xlsx(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    check_zip_expansion(
        data, max_bytes=XLSX_MAX_EXPANDED_BYTES, max_ratio=XLSX_MAX_RATIO, max_members=XLSX_MAX_MEMBERS
    )
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a bad file
        raise ValidationError(Msg("cannot read the XLSX file: %(why)s", why=str(exc)), param="file") from None
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header: list[str] | None = None
        out: list[tuple[int, dict[str, Any]]] = []
        n = 0
        for row in rows:
            cells = [_cell_text(v) for v in row]
            if header is None:
                if not any(cells):
                    continue
                header = [str(c).strip() if c is not None else "" for c in cells]
                continue
            if not any(cells):
                continue
            n += 1
            if n > MAX_ROWS:
                break
            out.append((n, {h: c for h, c in zip(header, cells, strict=False) if h}))
    finally:
        wb.close()
    if header is None:
        raise ValidationError(Msg("the spreadsheet has no header row"), param="file")
    return out


def _export_row(f: Facility) -> dict[str, Any]:
    return {
        "id": f.id,
        "kind": f.kind,
        "name": f.name,
        "address": f.address,
        "lon": f"{f.lon:.7f}",
        "lat": f"{f.lat:.7f}",
        "amenities": ";".join(sorted(f.amenities)),
        "opening_hours": f.opening_hours,
        "host_type": f.host_type,
        "phone": f.phone,
        "access": f.access,
        "status": f.status,
        "status_until": f.status_until.isoformat() if f.status_until else "",
        "status_reason": f.status_reason,
        "verified_at": f.verified_at.isoformat() if f.verified_at else "",
        "district_adcode": f.district_adcode or "",
        "district_name": f.district_name or "",
        "subdistrict": f.subdistrict or "",
        "version": str(f.version),
        "updated_at": f.updated_at.isoformat() if f.updated_at else "",
        "source": f.source,
        "demo": "true" if f.demo else "false",
    }


def export_csv(facilities: Iterable[Facility]) -> bytes:
    """CSV (UTF-8 with BOM, for Excel) with :data:`EXPORT_COLUMNS`; lon/lat WGS-84."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for f in facilities:
        writer.writerow({k: _defuse(v) for k, v in _export_row(f).items()})
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


#: XLSX columns written as numbers (every other cell is text).
_NUMERIC_COLUMNS: Final = {"lon": float, "lat": float, "version": int}


def export_xlsx(facilities: Iterable[Facility]) -> bytes:
    """XLSX with :data:`EXPORT_COLUMNS`: lon/lat (WGS-84 degrees) and version are numbers.

    Every other cell is text (never a formula).
    """
    wb = Workbook(write_only=False)
    ws = wb.active
    assert ws is not None
    ws.title = "facilities"
    ws.append(list(EXPORT_COLUMNS))
    for r, f in enumerate(facilities, start=2):
        row = _export_row(f)
        for c, key in enumerate(EXPORT_COLUMNS, start=1):
            cell = ws.cell(row=r, column=c)
            if key in _NUMERIC_COLUMNS:
                cell.value = _NUMERIC_COLUMNS[key](row[key])
                if key != "version":
                    cell.number_format = "0.0000000"
                continue
            cell.value = _defuse(row[key])
            cell.data_type = "s"  # text, even when it starts with "="
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_geojson(facilities: Iterable[Facility]) -> bytes:
    """An RFC 7946 FeatureCollection (WGS-84)."""
    body = {"type": "FeatureCollection", "features": [facility_feature(f) for f in facilities]}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


# --- help for people filling the file in: the columns, their values, templates, suggestions ----


@dataclass(frozen=True, slots=True)
class BulkColumn:
    """One column of a bulk file, as the bulk page and the templates explain it.

    Attributes
    ----------
    name : str
        The column name (the domain field).
    required : bool
        Required for a new row.
    what : Msg
        What the column holds (English; translated on pages).
    values : mapping of key to Label, or None
        The allowed keys (a controlled vocabulary) with their Chinese and English labels.
    many : bool
        The cell holds several keys separated by ``;``.
    example : str
        The template's example cell.
    """

    name: str
    required: bool
    what: Msg
    values: Mapping[str, Label] | None = None
    many: bool = False
    example: str = ""


def vocabularies() -> dict[str, Mapping[str, Label]]:
    """The controlled vocabularies of the bulk columns: ``{column: {key: Label}}``."""
    return dict(domain.VOCABULARIES)


def bulk_columns() -> list[BulkColumn]:
    """Every column a bulk upload reads, in the templates' order."""
    vocab = vocabularies()
    columns = [
        BulkColumn("id", False, Msg("a stored facility's id updates it; empty or unknown: a new facility")),
        BulkColumn("kind", True, Msg("the kind of facility"), vocab["kind"], example="warm_station"),
        BulkColumn("name", True, Msg("the name riders see"), example="示例·某银行网点暖心驿站（请替换）"),
        BulkColumn("address", False, Msg("street address"), example="海淀区某某路1号"),
        BulkColumn(
            "lon",
            True,
            Msg(
                "longitude, degrees, in the datum you declare when uploading (empty on an update: unchanged)"
            ),
            example="116.3376",
        ),
        BulkColumn("lat", True, Msg("latitude, degrees, in the same datum"), example="39.9925"),
        BulkColumn(
            "amenities",
            False,
            Msg("what riders can do there: keys separated by ;"),
            vocab["amenities"],
            many=True,
            example="heating;toilet;drinking_water",
        ),
        BulkColumn(
            "opening_hours",
            False,
            Msg(
                "OSM opening_hours: Mo-Fr 08:00-18:00; Sa 09:00-12:00; PH off (the editor writes it for you)"
            ),
            example="Mo-Fr 08:00-18:00; Sa 09:00-12:00; PH off",
        ),
        BulkColumn(
            "host_type", False, Msg("where the facility is hosted"), vocab["host_type"], example="bank"
        ),
        BulkColumn("phone", False, Msg("digits, spaces, +, -, ( and )"), example="010-12345678"),
    ]
    if "access" in vocab:
        columns.append(
            BulkColumn("access", False, Msg("how a rider gets in"), vocab["access"], example="walk_in")
        )
    columns += [
        BulkColumn("status", False, Msg("open by default"), vocab["status"], example="open"),
        BulkColumn("status_until", False, Msg("for temporarily_closed: the day it reopens (YYYY-MM-DD)")),
        BulkColumn("status_reason", False, Msg("why it is closed or removed (required for removed)")),
        BulkColumn(
            "verified_at", False, Msg("when it was last checked (YYYY-MM-DD or an ISO date and time)")
        ),
        BulkColumn("source", False, Msg("where the row comes from")),
    ]
    return columns


def template_csv() -> bytes:
    """A CSV template (UTF-8 with BOM, for Excel): the header and one example row to replace."""
    columns = bulk_columns()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([c.name for c in columns])
    writer.writerow([_defuse(c.example) for c in columns])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def template_xlsx() -> bytes:
    """An XLSX template: sheet 1 the header and an example row, sheet 2 every allowed value.

    Sheet 1 lists single-key columns (kind, host_type, status…) as drop-down lists of their
    keys (data validation); sheet 2 (``values``) gives each key with its Chinese and English
    label. Only the first sheet is read back on upload.
    """
    from openpyxl.worksheet.datavalidation import DataValidation

    columns = bulk_columns()
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "facilities"
    ws.append([c.name for c in columns])
    for c, col in enumerate(columns, start=1):
        cell = ws.cell(row=2, column=c, value=_defuse(col.example) or None)
        cell.data_type = "s" if col.name not in _NUMERIC_COLUMNS else "n"
        if col.name in _NUMERIC_COLUMNS and col.example:
            cell.value = float(col.example)
        if col.values is not None and not col.many:
            letter = ws.cell(row=1, column=c).column_letter
            dv = DataValidation(type="list", formula1='"' + ",".join(col.values) + '"', allow_blank=True)
            dv.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
            ws.add_data_validation(dv)
    values = wb.create_sheet("values")
    values.append(["column", "key", "中文", "English"])
    for col in columns:
        for key, label in (col.values or {}).items():
            values.append([col.name, key, label.zh, label.en])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


_SPLIT_KEYS: Final = re.compile(r"[;；,，、|\s]+")


def suggest_keys(column: str, value: Any) -> list[tuple[str, str]]:
    """The closest allowed keys for the unknown keys of a cell: ``[(given, suggested key)]``.

    A given item is compared with every key (``difflib.get_close_matches``, cutoff 0.6)
    and with the keys' Chinese and English labels, so ``breastfeeding`` suggests
    ``breastfeeding_room`` and ``哺乳间`` does too. Items with no close key are left out.

    >>> suggest_keys("amenities", "toilet;breastfeeding")
    [('breastfeeding', 'breastfeeding_room')]
    >>> suggest_keys("kind", "warmstation")
    [('warmstation', 'warm_station')]
    """
    vocab = vocabularies().get(column)
    if vocab is None or value is None:
        return []
    items = value if isinstance(value, list | tuple) else _SPLIT_KEYS.split(str(value))
    names: dict[str, str] = {}
    for key, label in vocab.items():
        names[key.lower()] = key
        names.setdefault(label.zh.lower(), key)
        names.setdefault(label.en.lower(), key)
    out: list[tuple[str, str]] = []
    for item in (str(i).strip() for i in items):
        if not item or item in vocab:
            continue
        found = names.get(item.lower())
        if found is None:
            close = difflib.get_close_matches(item.lower(), list(names), n=1, cutoff=0.6)
            found = names[close[0]] if close else None
        if found is not None and (item, found) not in out:
            out.append((item, found))
    return out
