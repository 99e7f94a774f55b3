"""Value objects shared by the aggregates: sources, clauses, references, instants and identities."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from domain.errors import InvalidInput

#: ISO 3166-1 alpha-2 codes (from the IANA time zone database's iso3166.tab), plus EU and the
#: exceptionally reserved XK (Kosovo), which regulators use.
ISO_3166 = frozenset(
    (  # noqa: SIM905 (a list literal of 250 codes would be 250 lines)
        "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO "
        "BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ "
        "DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP "
        "GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG "
        "KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML "
        "MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE "
        "PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL "
        "SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM "
        "US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW EU XK"
    ).split()
)

#: Namespace for slug -> UUID mapping; never change it, or every stream gets a new id.
SLUG_NAMESPACE = uuid.UUID("5f0b6a7e-2f2c-4c58-9d1e-7d3c2b2a1e10")

AGGREGATE_KINDS = ("policy", "regulatory-action", "statement", "actor")
#: Payload fields that name one actor: each must exist when a command or correction names it,
#: and each makes an event concern that actor.
ACTOR_FIELDS = ("owner", "authority", "parent", "actor")
#: A slug: lower-case path segments (`meta/hate-speech`), at most MAX_SLUG_LENGTH characters.
#: Matched whole (`fullmatch`): `$` alone would also take a trailing newline.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$"
MAX_SLUG_LENGTH = 200
_SLUG = re.compile(SLUG_PATTERN)
_REFERENCE = re.compile(r"^(?P<kind>[a-z-]+):(?P<slug>[^@\s]+)(@(?P<version>[0-9]{1,18}))?$")


def aggregate_uuid(kind: str, slug: str) -> uuid.UUID:
    """The stream id of an aggregate: the same kind and slug always give the same UUID."""
    return uuid.uuid5(SLUG_NAMESPACE, f"{kind}:{slug}")


def check_slug(field: str, slug: str) -> str:
    """Refuse slugs that are not lower-case path segments such as `meta/hate-speech`."""
    if not isinstance(slug, str) or len(slug) > MAX_SLUG_LENGTH or not _SLUG.fullmatch(slug):
        raise InvalidInput(
            field,
            "must be a slug of lower-case letters, digits, '.', '_', '-' and '/' "
            "(for example 'meta/hate-speech'), at most 200 characters",
        )
    return slug


def check_jurisdiction(field: str, code: str) -> str:
    """Refuse anything that is not an ISO 3166-1 alpha-2 code (or EU)."""
    if code not in ISO_3166:
        shown = repr(code) if isinstance(code, str) and len(code) <= 20 else "this value"
        raise InvalidInput(field, f"{shown} is not an ISO 3166-1 alpha-2 country code")
    return code


def filter_jurisdiction(field: str, code: str) -> str:
    """A jurisdiction a filter asks for: an ISO 3166-1 alpha-2 code (or EU) in either case,
    spelt as stored (upper case); anything else is refused."""
    return check_jurisdiction(field, code.upper() if code.isascii() else code)


INSTANT_REASON = "must be an ISO 8601 instant with an offset, e.g. 2022-03-11T00:00:00+03:00"

#: The one accepted form of an instant: ISO 8601 extended date and time (seconds and a
#: fraction optional) with an explicit offset or Z. ASCII only: no week dates, no basic
#: format, no epoch numbers, nothing before or after (a NUL, a space).
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,9})?)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
#: The same form as a regular expression, for documents that declare it (OpenAPI).
INSTANT_PATTERN = _INSTANT.pattern


def require_aware(field: str, value: datetime) -> datetime:
    """Return the instant in UTC; an instant without an offset is refused, never guessed."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InvalidInput(field, INSTANT_REASON)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidInput(field, "is out of the supported range of instants") from None


def parse_instant(field: str, value: object) -> datetime:
    """The one instant parser of every input path (GraphQL, commands, corrections, NDJSON
    import, CLI): ISO 8601 text with an offset, in UTC. Numbers, numeric strings and
    naive times are refused naming `field`: a number has no agreed unit or epoch."""
    if isinstance(value, datetime):  # already parsed upstream (a GraphQL scalar, a fold)
        return require_aware(field, value)
    if not isinstance(value, str):
        raise InvalidInput(field, f"{INSTANT_REASON} (a string, not {type(value).__name__})")
    if len(value) > 64 or _INSTANT.fullmatch(value) is None:
        shown = value if len(value) <= 64 else value[:61] + "..."
        raise InvalidInput(field, f"{shown!r} is not an ISO 8601 instant; {INSTANT_REASON}")
    try:
        parsed = datetime.fromisoformat(value.replace(",", "."))
    except ValueError:  # the shape is right, the values are not (month 13, hour 25)
        raise InvalidInput(field, f"{value!r} is not a valid date and time") from None
    return require_aware(field, parsed)


#: Longest IANA time zone key accepted (the longest in the database has 32 characters).
MAX_ZONE_LENGTH = 64


@cache
def _zone_keys() -> frozenset[str]:
    return frozenset(available_timezones())


def check_time_zone(field: str, name: object) -> ZoneInfo:
    """The one time-zone check: an IANA key such as 'Europe/Moscow' or 'UTC', nothing else
    (no paths, no file names of the database such as '__pycache__', no 10 KB names)."""
    if (
        not isinstance(name, str)
        or len(name) > MAX_ZONE_LENGTH
        or (name != "UTC" and name not in _zone_keys())
    ):
        shown = name if isinstance(name, str) and len(name) <= MAX_ZONE_LENGTH else "this name"
        raise InvalidInput(
            field, f"{shown!r} is not an IANA time zone such as 'Europe/Moscow' or 'UTC'"
        )
    return ZoneInfo(name)


def day_bounds(
    day: date, time_zone: str, day_field: str = "date", zone_field: str = "timeZone"
) -> tuple[datetime, datetime]:
    """[00:00, next 00:00) of the calendar `day` in the IANA zone, in UTC; a day whose bounds
    fall outside the instants Python can hold (9999-12-31, 0001-01-01 east of UTC) is refused."""
    zone = check_time_zone(zone_field, time_zone)
    try:
        start = datetime.combine(day, time(0), zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidInput(
            day_field,
            f"the bounds of {day.isoformat()} in {time_zone} fall outside the supported "
            "instants (0001-01-01 to 9999-12-31 UTC)",
        ) from None
    return start, end


def format_instant(value: datetime) -> str:
    """ISO 8601 in UTC, the form stored in event payloads."""
    return value.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class Reference:
    """A pointer to an aggregate, or to one of its events: `policy:meta/hate-speech@2`."""

    kind: str
    slug: str
    version: int | None = None

    @classmethod
    def parse(cls, field: str, text: str) -> Reference:
        match = _REFERENCE.fullmatch(text) if isinstance(text, str) else None
        if match is None or match["kind"] not in AGGREGATE_KINDS:
            raise InvalidInput(
                field,
                f"{text!r} is not a reference such as 'policy:meta/hate-speech' or "
                f"'policy:meta/hate-speech@2' (kinds: {', '.join(AGGREGATE_KINDS)})",
            )
        check_slug(field, match["slug"])
        version = int(match["version"]) if match["version"] else None
        if version is not None and version < 1:
            raise InvalidInput(field, "an event version starts at 1")
        return cls(match["kind"], match["slug"], version)

    @property
    def aggregate_id(self) -> uuid.UUID:
        return aggregate_uuid(self.kind, self.slug)

    @property
    def aggregate(self) -> Reference:
        return Reference(self.kind, self.slug)

    def __str__(self) -> str:
        suffix = f"@{self.version}" if self.version is not None else ""
        return f"{self.kind}:{self.slug}{suffix}"


@dataclass(frozen=True)
class Source:
    """Where a fact comes from: the citation a legal team needs."""

    url: str
    title: str = ""
    publisher: str = ""
    published_at: datetime | None = None
    quote: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Source:
        published = data.get("published_at")
        return cls(
            url=data["url"],
            title=data.get("title", ""),
            publisher=data.get("publisher", ""),
            published_at=datetime.fromisoformat(published) if published else None,
            quote=data.get("quote"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "publisher": self.publisher,
            "published_at": format_instant(self.published_at) if self.published_at else None,
            "quote": self.quote,
        }


@dataclass(frozen=True)
class Clause:
    """One clause of a policy; `scope` lists where it applies (empty: everywhere)."""

    id: str
    heading: str
    text: str
    scope: tuple[str, ...] = ()
    expires_at: datetime | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Clause:
        expires = data.get("expires_at")
        return cls(
            id=data["id"],
            heading=data.get("heading", ""),
            text=data.get("text", ""),
            scope=tuple(data.get("scope") or ()),
            expires_at=datetime.fromisoformat(expires) if expires else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "heading": self.heading,
            "text": self.text,
            "scope": list(self.scope),
            "expires_at": format_instant(self.expires_at) if self.expires_at else None,
        }

    def in_force(self, valid_at: datetime) -> bool:
        """A temporary clause stops applying at its expiry, by itself."""
        return self.expires_at is None or valid_at < self.expires_at

    def amended(self, changes: Mapping[str, Any]) -> Clause:
        """This clause with an amendment's fields (all but `id`) replaced.

        The same as a round trip through `to_dict` and `from_dict` with the changes merged
        (`amended_by_round_trip`), without it: that trip is the identity for every field
        here when the expiry is None or in UTC (the form stored); otherwise it is taken.
        """
        if self.expires_at is not None and self.expires_at.tzinfo is not UTC:
            return self.amended_by_round_trip(changes)
        heading, text, scope, expires_at = self.heading, self.text, self.scope, self.expires_at
        if "heading" in changes:
            heading = changes["heading"]
        if "text" in changes:
            text = changes["text"]
        if "scope" in changes:
            scope = tuple(changes["scope"] or ())
        if "expires_at" in changes:
            expires = changes["expires_at"]
            expires_at = datetime.fromisoformat(expires) if expires else None
        return Clause(self.id, heading, text, scope, expires_at)

    def amended_by_round_trip(self, changes: Mapping[str, Any]) -> Clause:
        """The definition of `amended`: merge the changes into the stored form and read it."""
        merged = {**self.to_dict(), **{k: v for k, v in changes.items() if k != "id"}}
        return Clause.from_dict(merged)


def to_json(value: Any) -> Any:
    """A state or value object as JSON-native data (instants as ISO text in UTC): the one
    form the read models store and an evidence bundle carries as its answer."""
    if isinstance(value, Clause | Source):
        return value.to_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value
