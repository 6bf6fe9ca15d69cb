"""``flask --app app locator partner …``: add, rotate-key, revoke, list, snippet.

Keys are printed once, when issued; only their SHA-256 is stored.
"""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from locator.errors import LocatorError
from locator.formats.embed import snippet as make_snippet
from locator.services.partners import DEFAULT_DAILY_QUOTA, PartnerService
from locator.stores.contract import Partner

partner_cli = AppGroup("partner", help="Manage partners: embed origins, API keys and quotas.")

DEFAULT_BASE_URL = "http://127.0.0.1:5000"


def _service() -> PartnerService:
    svc: PartnerService = current_app.extensions["locator.partners"]
    return svc


def _fail(exc: LocatorError) -> None:
    click.echo(f"Error: {exc.detail}", err=True)
    sys.exit(1)


def _base_url(option: str | None) -> str:
    return (option or current_app.config.get("LOCATOR_PUBLIC_URL") or DEFAULT_BASE_URL).rstrip("/")


def _describe(p: Partner) -> str:
    state = "active" if p.active else f"REVOKED {p.revoked_at:%Y-%m-%d %H:%M}Z"
    return (
        f"{p.name}  key {p.key_prefix}…  {p.daily_quota}/day  {state}\n"
        f"    origins: {' '.join(p.origins)}\n"
        f"    created {p.created_at:%Y-%m-%d %H:%M}Z, key issued {p.key_created_at:%Y-%m-%d %H:%M}Z"
    )


def _print_key(key: str) -> None:
    click.echo("API key (shown once — store it now; only its hash is kept):")
    click.echo(f"  {key}")
    click.echo("Send it in the X-API-Key header.")


@partner_cli.command("add")
@click.argument("name")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    required=True,
    metavar="URL",
    help="A web origin (scheme://host[:port]) that may embed the map; repeat for more.",
)
@click.option(
    "--quota",
    default=str(DEFAULT_DAILY_QUOTA),
    show_default=True,
    metavar="N/day",
    help="API requests per 24 hours.",
)
@click.option(
    "--base-url",
    default=None,
    help="This site's public URL for the snippet (default: LOCATOR_PUBLIC_URL, else http://127.0.0.1:5000).",
)
def add(name: str, origins: tuple[str, ...], quota: str, base_url: str | None) -> None:
    """Register partner NAME and print its API key (once) and embed snippet."""
    try:
        partner, key = _service().add(name, origins, quota)  # type: ignore[arg-type]
    except LocatorError as exc:
        _fail(exc)
        return
    click.echo(f"Partner added:\n{_describe(partner)}")
    _print_key(key)
    click.echo("Embed snippet:")
    click.echo(make_snippet(_base_url(base_url), partner.name))


@partner_cli.command("rotate-key")
@click.argument("name")
def rotate_key(name: str) -> None:
    """Issue a new key for NAME; the old key stops working at once."""
    try:
        partner, key = _service().rotate_key(name)
    except LocatorError as exc:
        _fail(exc)
        return
    click.echo(f"New key for {partner.name} ({partner.key_prefix}…); the old key no longer works.")
    _print_key(key)


@partner_cli.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke NAME: its key, embed origins and CORS access stop at once."""
    try:
        partner = _service().revoke(name)
    except LocatorError as exc:
        _fail(exc)
        return
    click.echo(f"Revoked {partner.name} at {partner.revoked_at:%Y-%m-%d %H:%M:%S}Z.")


@partner_cli.command("list")
def list_partners() -> None:
    """List partners (key prefixes only; keys are never stored)."""
    try:
        items = _service().all()
    except LocatorError as exc:
        _fail(exc)
        return
    if not items:
        click.echo("No partners.")
    for p in items:
        click.echo(_describe(p))


@partner_cli.command("snippet")
@click.argument("name")
@click.option(
    "--base-url",
    default=None,
    help="This site's public URL (default: LOCATOR_PUBLIC_URL, else http://127.0.0.1:5000).",
)
@click.option("--kind", default=None, help="Comma-separated kinds.")
@click.option("--amenity", default=None, help="Comma-separated required amenities.")
@click.option("--lon", type=float, default=None, help="Search from this longitude (WGS-84).")
@click.option("--lat", type=float, default=None, help="Search from this latitude (WGS-84).")
@click.option("--zoom", type=click.IntRange(3, 18), default=None)
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None)
def snippet(
    name: str,
    base_url: str | None,
    kind: str | None,
    amenity: str | None,
    lon: float | None,
    lat: float | None,
    zoom: int | None,
    lang: str | None,
) -> None:
    """Print the copy-paste <iframe> for partner NAME."""
    try:
        partner = _service().get(name)
    except LocatorError as exc:
        _fail(exc)
        return
    if not partner.active:
        click.echo(f"Warning: {name} is revoked; the embed will refuse to load.", err=True)
    if (lon is None) != (lat is None):
        click.echo("Error: give both --lon and --lat, or neither.", err=True)
        sys.exit(1)
    click.echo(
        make_snippet(
            _base_url(base_url),
            partner.name,
            kind=kind,
            amenity=amenity,
            lon=lon,
            lat=lat,
            zoom=zoom,
            lang=lang,
        )
    )
