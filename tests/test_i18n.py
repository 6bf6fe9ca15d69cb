"""Translations: every message in the code has a zh translation, and the committed .mo is the .po."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locator/translations/zh/LC_MESSAGES/messages.po"
MO = ROOT / "locator/translations/zh/LC_MESSAGES/messages.mo"


def _po():
    with open(PO, "rb") as fh:
        return read_po(fh, locale="zh")


def _source_msgids() -> set[str]:
    with open(ROOT / "babel.cfg") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    # The same keywords as the documented command (locator/http/i18n.py):
    # pybabel extract -F babel.cfg -k _l -k lazy_gettext -k Msg -o locator/translations/messages.pot .
    keywords = {
        "_": None,
        "gettext": None,
        "ngettext": (1, 2),
        "_l": None,
        "lazy_gettext": None,
        "Msg": None,
    }
    ids: set[str] = set()
    for _fname, _lineno, message, _comments, _ctx in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_every_message_in_the_code_has_a_zh_translation() -> None:
    catalog = _po()
    translated = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id}
    missing = sorted(i for i in _source_msgids() if i not in translated)
    assert missing == [], f"run pybabel extract/update: not in messages.po: {missing}"
    empty = sorted(
        k
        for k, m in translated.items()
        if not m.string or (isinstance(m.string, tuple) and not all(m.string)) or m.fuzzy
    )
    assert empty == [], f"untranslated or fuzzy: {empty}"


def test_placeholders_survive_translation() -> None:
    import re

    for m in _po():
        if not m.id:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        want = sorted(set(re.findall(r"%\(\w+\)[sdr]", ids[0])))
        for text in strings:
            got = sorted(set(re.findall(r"%\(\w+\)[sdr]", text)))
            assert want == got, (m.id, m.string)


def _freeze(value):  # type: ignore[no-untyped-def]
    return value if isinstance(value, str) else tuple(value)


def test_committed_mo_matches_the_po() -> None:
    buf = io.BytesIO()
    write_mo(buf, _po())
    buf.seek(0)
    fresh = {_freeze(m.id): _freeze(m.string) for m in read_mo(buf) if m.id}
    with open(MO, "rb") as fh:
        committed = {_freeze(m.id): _freeze(m.string) for m in read_mo(fh) if m.id}
    assert committed == fresh, "run: pybabel compile -d locator/translations"
