"""``flask --app app locator door-key …``: keys of door devices (smart locks, QR door controllers).

``add FACILITY_ID --name NAME`` prints the key id and the secret once (the secret is
derived from ``LOCATOR_SECRET_KEY`` and never stored, see :mod:`locator.services.live`);
``list [FACILITY_ID]`` shows every key with its last event; ``revoke KEY_ID`` stops a
key at once.
"""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from locator.errors import LocatorError
from locator.services.live import LiveService
from locator.stores.contract import DoorKey

door_key_cli = AppGroup("door-key", help="Keys of door devices for the signed door API.")


def _service() -> LiveService:
    svc: LiveService = current_app.extensions["locator.live"]
    return svc


def _fail(exc: LocatorError) -> None:
    click.echo(f"Error: {exc.detail}", err=True)
    sys.exit(1)


def _describe(k: DoorKey) -> str:
    state = "active" if k.active else f"REVOKED {k.revoked_at:%Y-%m-%d %H:%M}Z"
    seen = f"last event {k.last_seen_at:%Y-%m-%d %H:%M:%S}Z" if k.last_seen_at else "no event yet"
    return f"{k.id}  {k.facility_id}  {k.name!r}  {state}  created {k.created_at:%Y-%m-%d %H:%M}Z  {seen}"


@door_key_cli.command("add")
@click.argument("facility_id")
@click.option("--name", required=True, help='What the device is, e.g. "front door lock".')
def add(facility_id: str, name: str) -> None:
    """Make a key for a door device of FACILITY_ID; print its id and secret (once)."""
    try:
        key, secret = _service().create_door_key(facility_id, name)
    except LocatorError as exc:
        _fail(exc)
        return
    click.echo(f"key id:  {key.id}")
    click.echo(f"secret:  {secret}")
    click.echo("The secret is shown once: configure the device now. It is never stored.")
    click.echo(
        "Send X-Door-Key: <key id>, X-Door-Timestamp: <unix seconds>, "
        'X-Door-Signature: hex HMAC-SHA256(secret, timestamp + "\\n" + body) '
        f'to POST /api/v1/facilities/{key.facility_id}/door with {{"state": "open"|"closed"}}.'
    )


@door_key_cli.command("list")
@click.argument("facility_id", required=False)
def list_keys(facility_id: str | None) -> None:
    """List door keys (of FACILITY_ID, or all), oldest first."""
    keys = _service().door_keys(facility_id)
    for k in keys:
        click.echo(_describe(k))
    if not keys:
        click.echo("no door keys")


@door_key_cli.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Revoke door key KEY_ID: its requests are refused from now on."""
    try:
        key = _service().revoke_door_key(key_id)
    except LocatorError as exc:
        _fail(exc)
        return
    click.echo(_describe(key))
