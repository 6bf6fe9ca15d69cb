"""Partners: who may embed the map and call the public API with a key. No Flask here.

A partner has a name, the web origins it may embed the map on (and read the API from
in a browser), a daily request quota and one API key. The key is a random
256-bit token shown once, when it is issued; the store keeps only its SHA-256 (hex)
and a short prefix that identifies it in listings and logs. SHA-256 without a salt or
a slow KDF is the right tool here because the key is high-entropy random data, not a
password: nobody can guess it, so only a pre-image attack would help, and looking a
key up is then one indexed equality match.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlsplit

from locator.errors import LocatorError, Msg, NotFoundError, ValidationError
from locator.stores.contract import Partner, PartnerStore

#: Every key starts with this, so it is recognisable in config files and secret scanners.
KEY_PREFIX: Final = "wsl_"
#: Characters of the key kept (with the prefix) to identify it: ``wsl_`` + 6.
KEY_ID_CHARS: Final = 10
#: Default daily quota for a new partner (requests per 24 hours).
DEFAULT_DAILY_QUOTA: Final = 10_000
DAILY_QUOTA_MAX: Final = 100_000_000

_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_HOST_RE: Final = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_IPV4_RE: Final = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


class UnauthorizedError(LocatorError):
    """The API key is unknown, revoked or malformed (401)."""

    status = 401
    code = "invalid-api-key"
    title = "Unauthorized"


def validate_name(name: str) -> str:
    """Check a partner name: 1–63 of ``[a-z0-9-]``, starting with a letter or digit.

    Raises
    ------
    ValidationError
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError(
            Msg("partner name must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit"),
            param="name",
        )
    return name


def normalize_origin(value: str) -> str:
    """Validate a web origin and return it in canonical form.

    An origin is ``scheme://host[:port]`` (RFC 6454): ``http`` or ``https``, a DNS name
    or IPv4 address (lower-cased), an optional port, and nothing else — no path (a
    single trailing ``/`` is tolerated and dropped), query, fragment or user info.
    A default port (80 for http, 443 for https) is dropped, as browsers serialise it.

    Parameters
    ----------
    value : str
        E.g. ``https://union.example.cn`` or ``http://127.0.0.1:8081``.

    Returns
    -------
    str
        The canonical origin, e.g. ``http://127.0.0.1:8081``.

    Raises
    ------
    ValidationError
        Naming what is wrong (param ``origin``).

    Examples
    --------
    >>> normalize_origin("HTTPS://Union.Example.cn:443/")
    'https://union.example.cn'
    """
    raw = (value or "").strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValidationError(Msg("not a valid origin: %(origin)r", origin=raw), param="origin") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise ValidationError(
            Msg("origin must start with http:// or https://: %(origin)r", origin=raw), param="origin"
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            Msg("origin must not contain user info: %(origin)r", origin=raw), param="origin"
        )
    if parts.path not in {"", "/"} or parts.query or parts.fragment or raw.endswith(("?", "#")):
        raise ValidationError(
            Msg(
                "origin must be scheme://host[:port] with no path, query or fragment: %(origin)r", origin=raw
            ),
            param="origin",
        )
    host = (parts.hostname or "").lower()
    if _IPV4_RE.match(host):
        if any(int(octet) > 255 for octet in host.split(".")):
            raise ValidationError(
                Msg("invalid IPv4 address in origin: %(origin)r", origin=raw), param="origin"
            )
    elif not _HOST_RE.match(host) or len(host) > 253:
        raise ValidationError(Msg("invalid host in origin: %(origin)r", origin=raw), param="origin")
    if port == 0:
        raise ValidationError(Msg("invalid port in origin: %(origin)r", origin=raw), param="origin")
    if port is None or (scheme, port) in {("http", 80), ("https", 443)}:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def normalize_origins(values: Iterable[str]) -> tuple[str, ...]:
    """Validate origins (see :func:`normalize_origin`); duplicates dropped, order kept.

    Raises
    ------
    ValidationError
        If any origin is invalid or none is given.
    """
    out: dict[str, None] = {}
    for v in values:
        out[normalize_origin(v)] = None
    if not out:
        raise ValidationError(Msg("at least one origin is required"), param="origin")
    return tuple(out)


def parse_quota(value: str | int) -> int:
    """A daily quota from ``N``, ``N/day`` or ``N per day`` (requests per 24 hours).

    Raises
    ------
    ValidationError
        If not a whole number from 1 to 100,000,000.

    Examples
    --------
    >>> parse_quota("5000/day")
    5000
    """
    text = str(value).strip().lower().replace(" per ", "/").replace("_", "")
    if text.endswith("/day"):
        text = text[: -len("/day")].strip()
    if not text.isdigit() or not 1 <= int(text) <= DAILY_QUOTA_MAX:
        raise ValidationError(
            Msg(
                "quota must be N or N/day with N from 1 to %(max)s, got %(value)r",
                max=f"{DAILY_QUOTA_MAX:,}",
                value=value,
            ),
            param="quota",
        )
    return int(text)


def new_key() -> str:
    """A fresh API key: ``wsl_`` and 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key: SHA-256 of its UTF-8 bytes, as 64 hex digits."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id(key: str) -> str:
    """The key's short, non-secret identifier (its first characters)."""
    return key[:KEY_ID_CHARS]


class PartnerService:
    """Partner rules over a :class:`~locator.stores.contract.PartnerStore`.

    Parameters
    ----------
    store : PartnerStore
        The app's store (every store holds partners).
    """

    def __init__(self, store: PartnerStore) -> None:
        self.store = store

    def add(
        self, name: str, origins: Iterable[str], daily_quota: int = DEFAULT_DAILY_QUOTA
    ) -> tuple[Partner, str]:
        """Register a partner and issue its first key.

        Returns
        -------
        (Partner, str)
            The stored partner and the API key in clear — the only time it exists.

        Raises
        ------
        ValidationError
            Bad name, origin or quota.
        ConflictError
            The name is taken.
        """
        name = validate_name(name)
        clean = normalize_origins(origins)
        quota = parse_quota(daily_quota)
        key = new_key()
        now = datetime.now(UTC)
        partner = Partner(
            name=name,
            origins=clean,
            daily_quota=quota,
            key_hash=hash_key(key),
            key_prefix=key_id(key),
            created_at=now,
            key_created_at=now,
        )
        return self.store.add_partner(partner), key

    def rotate_key(self, name: str) -> tuple[Partner, str]:
        """Issue a new key; the old one stops working at once.

        Raises
        ------
        NotFoundError, ConflictError (revoked partner)
        """
        key = new_key()
        partner = self.store.set_partner_key(name, hash_key(key), key_id(key), datetime.now(UTC))
        return partner, key

    def revoke(self, name: str) -> Partner:
        """Revoke a partner: its key, embed origins and CORS access stop at once.

        Raises
        ------
        NotFoundError
        """
        return self.store.revoke_partner(name, datetime.now(UTC))

    def all(self) -> list[Partner]:
        """Every partner, revoked ones included, by name."""
        return self.store.list_partners()

    def get(self, name: str) -> Partner:
        """One partner by name (revoked ones included).

        Raises
        ------
        NotFoundError
        """
        return self.store.get_partner(name)

    def active(self, name: str) -> Partner | None:
        """The partner with this name if it exists and is not revoked, else None."""
        try:
            p = self.store.get_partner(name)
        except NotFoundError:
            return None
        return p if p.active else None

    def authenticate(self, key: str) -> Partner:
        """The active partner holding this API key.

        Raises
        ------
        UnauthorizedError
            Unknown, malformed or revoked key (the message does not say which).
        """
        key = key.strip()
        if not key.startswith(KEY_PREFIX) or not 20 <= len(key) <= 200:
            raise UnauthorizedError(Msg("invalid API key (X-API-Key)"), param="X-API-Key")
        digest = hash_key(key)
        partner = self.store.partner_by_key_hash(digest)
        # The lookup is by hash equality; compare again in constant time for good measure.
        if partner is None or not hmac.compare_digest(partner.key_hash, digest) or not partner.active:
            raise UnauthorizedError(Msg("invalid or revoked API key (X-API-Key)"), param="X-API-Key")
        return partner

    def origin_allowed(self, origin: str) -> bool:
        """True when ``origin`` is registered by at least one active partner."""
        try:
            canonical = normalize_origin(origin)
        except ValidationError:
            return False
        return any(p.active and canonical in p.origins for p in self.store.list_partners())
