"""The reading room (issue 18): server-rendered point-in-time pages for legal teams.

Every page is a permalink: its URL carries validAt and the log position it was answered at
(a page asked for "now" or for a knownAt instant redirects to the position that resolves to,
by the API's rule), so it gives the same page whenever it is opened; it shows a citation
line. Data come only from the public read functions of projections/queries.py and
projections/search.py (the full-text search in time, `/search`); templates are Jinja2 under
`templates/`, the one stylesheet under `static/`; no script, no third-party asset.
The policy and action pages link to their answer's evidence bundle and printable report
(timeline/evidence.py) at the same position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode as _urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from api.errors import NotProjectedYet
from domain.errors import InvalidInput, NotYetKnown
from domain.errors import NotFound as DomainNotFound
from domain.values import AGGREGATE_KINDS, check_time_zone, parse_instant
from domain.word_diff import word_diff
from projections import queries
from projections import search as fulltext
from projections.models import ClauseChange, PolicyVersion
from timeline import proofs, tokens
from timeline.cursors import parse_position
from timeline.integrity import TreeHead
from timeline.settings import Settings

#: The cookie holding a read token when reads are closed (HttpOnly: no script sees it).
COOKIE = "timeline_read_token"
ASSETS = "/static/reading-room"
#: Zones offered by the pickers; any IANA key can be typed into the URL.
ZONES = (
    "UTC",
    "Europe/Moscow",
    "Europe/Kyiv",
    "Europe/London",
    "Europe/Brussels",
    "America/Los_Angeles",
    "America/New_York",
    "Asia/Tokyo",
)
POLICY_STATUSES = ("ACTIVE", "WITHDRAWN")
PAGE_SIZE = 50
#: The pages run no script and load only this server's stylesheet; forms post only here.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _root() -> Path:
    """This package's directory (templates and static files are package data)."""
    return Path(str(files("api") / "reading"))


templates = Jinja2Templates(directory=str(_root() / "templates"))
router = APIRouter(include_in_schema=False)


class NotFound(Exception):
    """Nothing is known under this name: the 404 page."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Redirect(Exception):
    """The page was asked without an explicit basis: go to its permalink."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class LoginRequired(Exception):
    """Reads are closed and the browser holds no valid read token."""


def iso(moment: datetime | None) -> str:
    """An instant as the URLs and citations spell it: UTC, `Z`, microseconds only when the
    instant has them (a resolved "now" keeps them, so its permalink misses no write)."""
    if moment is None:
        return ""
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def in_zone(moment: datetime | None, zone: str) -> str:
    """An instant as a reader in `zone` sees it (for display next to the UTC spelling)."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def urlencode(query: Mapping[str, Any]) -> str:
    """A query string with instants readable in it (`:` kept, as RFC 3986 allows)."""
    return _urlencode(query, safe=":")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Basis:
    """What a page answers at, both explicit: validAt and the log position (with when that
    position was recorded, for the reader; None before the first event)."""

    valid_at: datetime
    position: int
    known_at: datetime | None
    zone: str

    def query(self, **extra: str) -> str:
        """The query string of a permalink on this basis (plus `extra`)."""
        items = {"validAt": iso(self.valid_at), "position": str(self.position)}
        if self.zone != "UTC":
            items["timeZone"] = self.zone
        return urlencode({**items, **{k: v for k, v in extra.items() if v}})

    def at(self, valid_at: datetime) -> str:
        """The query string of the same basis at another validAt."""
        return Basis(valid_at, self.position, self.known_at, self.zone).query()

    def local_date(self) -> str:
        """validAt's calendar date in the page's zone (the day view's default)."""
        return self.valid_at.astimezone(ZoneInfo(self.zone)).date().isoformat()


def _local(field: str, value: str, zone: str) -> datetime:
    """A datetime-local picker's value ('2022-03-11T00:00') read in `zone`."""
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, f"{value[:40]!r} is not a date and time") from None
    if naive.tzinfo is not None:
        return parse_instant(field, value)
    return naive.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def instant_param(request: Request, name: str, zone: str) -> tuple[datetime, bool]:
    """The instant `name` of the query (ISO text, or the `<name>Local` picker in `zone`), and
    whether it was explicit; absent, empty or 'now' is now (and not explicit)."""
    params = request.query_params
    local = params.get(f"{name}Local", "").strip()
    if local:
        return _local(f"{name}Local", local, zone), False
    text = params.get(name, "").strip()
    if text in ("", "now"):
        return _now(), False
    return parse_instant(name, text), True


@dataclass(frozen=True)
class Record:
    """A record-time point of a page: the log position, when it was recorded, and whether
    the URL named the position (otherwise the page redirects to its permalink)."""

    position: int
    known_at: datetime | None
    explicit: bool


def record_param(request: Request, zone: str, name: str = "knownAt") -> Record:
    """The log position a page answers at: `knownAt` (or its `knownAtLocal` picker) as an
    instant, which wins (a typed one in the form replaces the page's position), else
    `position` (ASCII digits), else now. An instant and now resolve as in the API
    (`timeline.proofs.head_for`: the last position recorded at or before it)."""
    params = request.query_params
    local, text = params.get(f"{name}Local", "").strip(), params.get(name, "").strip()
    instant = None
    if local:
        instant = _local(f"{name}Local", local, zone)
    elif text not in ("", "now"):
        instant = parse_instant(name, text)
    given = params.get("position", "").strip() if name == "knownAt" else ""
    position = parse_position(given, "position") if instant is None and given else None
    return resolve_record(request, instant, position)


def resolve_record(request: Request, instant: datetime | None, position: int | None) -> Record:
    """The Record of an instant (None: now) or a named position, once the read models hold
    it (NotProjectedYet otherwise); a position beyond the log's head is refused."""
    try:
        head: TreeHead = proofs.head_for(engine_of(request), instant, position)
    except InvalidInput as error:
        raise InvalidInput("position", error.reason) from None
    wait_for = getattr(request.app.state.services, "wait_for", None)
    if wait_for is not None and not wait_for(head.position):
        raise NotProjectedYet(f"the read models have not reached position {head.position} yet")
    at = head.position if position is None else position
    return Record(at, head.recorded_at, position is not None)


def zone_param(request: Request) -> str:
    """The page's IANA time zone (`timeZone`, default UTC), checked."""
    zone = request.query_params.get("timeZone", "UTC").strip() or "UTC"
    check_time_zone("timeZone", zone)
    return zone


def basis(request: Request, **extra: str) -> Basis:
    """The page's basis; when an instant was not explicit, a Redirect to the permalink."""
    zone = zone_param(request)
    valid_at, valid_explicit = instant_param(request, "validAt", zone)
    record = record_param(request, zone)
    found = Basis(valid_at, record.position, record.known_at, zone)
    if not (valid_explicit and record.explicit):
        keep = {
            k: v
            for k, v in request.query_params.items()
            if k not in (*_BASIS_PARAMETERS, "timeZone")
        }
        raise Redirect(f"{request.url.path}?{found.query(**keep, **extra)}")
    return found


#: The query parameters of a page's basis (what a redirect to its permalink rewrites).
_BASIS_PARAMETERS = ("validAt", "validAtLocal", "knownAt", "knownAtLocal", "position")


def optional(request: Request, name: str) -> str | None:
    """A filter's value, None when absent or blank."""
    value = request.query_params.get(name, "").strip()
    return value or None


def engine_of(request: Request) -> Any:
    """The database engine the read functions take."""
    return request.app.state.services.timeline.engine


def settings_of(request: Request) -> Settings:
    """The running service's settings (GraphiQL on, reads closed)."""
    settings: Settings = request.app.state.services.settings
    return settings


async def require_reader(request: Request) -> None:
    """With TIMELINE_READ_REQUIRES_TOKEN, a valid read token in the cookie, else the login
    page (the same tokens as the API's bearer tokens)."""
    if not settings_of(request).read_requires_token:
        return
    token = request.cookies.get(COOKIE, "")
    info = (
        await run_in_threadpool(tokens.authenticate, engine_of(request), token) if token else None
    )
    if info is None or not info.allows("read"):
        raise LoginRequired()


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A template with what every page shows: the links, the citation's retrieval time."""
    settings = settings_of(request)
    context.setdefault("retrieved", iso(_now().replace(microsecond=0)))
    context.setdefault("basis", None)
    context.setdefault("hidden", {})
    response = templates.TemplateResponse(
        request,
        name,
        {
            "graphiql": settings.development,
            "closed": settings.read_requires_token,
            "zones": ZONES,
            "iso": iso,
            "in_zone": in_zone,
            "assets": ASSETS,
            **context,
        },
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store" if status != 200 else "private, max-age=60"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def page(request: Request, build: Callable[[], Any]) -> Response:
    """Run a page's reads off the event loop, mapping the failures to their pages."""
    try:
        await require_reader(request)
        result: Response = await run_in_threadpool(build)
        return result
    except Redirect as redirect:
        return RedirectResponse(redirect.url, status_code=303)
    except LoginRequired:
        return render(
            request, "login.html", 401, next=str(request.url.path + "?" + request.url.query)
        )
    except InvalidInput as error:
        return render(
            request, "error.html", 400, title="Bad request", field=error.field, message=error.reason
        )
    except NotProjectedYet as error:
        return render(
            request, "error.html", 503, title="Not ready", field=None, message=error.message
        )
    except NotFound as missing:
        return render(
            request,
            "error.html",
            404,
            title="Not found",
            field=None,
            message=f"Nothing is recorded as {missing.what}.",
        )


# -- pages -----------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    """Browse policies (owner, jurisdiction, status, slug/title contains), actions, actors."""

    def build() -> Response:
        b = basis(request)
        engine = engine_of(request)
        filters = {
            "owner": optional(request, "owner"),
            "jurisdiction": optional(request, "jurisdiction"),
            "status": optional(request, "status"),
            "q": optional(request, "q"),
        }
        if filters["status"] is not None and filters["status"] not in POLICY_STATUSES:
            raise InvalidInput("status", f"one of {', '.join(POLICY_STATUSES)}")
        policies = queries.list_policies(
            engine,
            b.valid_at,
            b.position,
            owner=filters["owner"],
            jurisdiction=filters["jurisdiction"],
            status=filters["status"],
            search=filters["q"],
            first=PAGE_SIZE,
            after=optional(request, "after"),
        )
        actions = queries.list_regulatory_actions(engine, b.valid_at, b.position, first=PAGE_SIZE)
        actors = queries.list_actors(engine, b.valid_at, b.position, first=PAGE_SIZE)
        return render(
            request,
            "home.html",
            basis=b,
            filters=filters,
            policies=policies,
            actions=actions,
            actors=actors,
            statuses=POLICY_STATUSES,
            next_query=b.query(
                **{k: str(v) for k, v in filters.items() if v}, after=policies.end_cursor or ""
            )
            if policies.has_next_page
            else None,
        )

    return await page(request, build)


#: Where a hit's page is, by kind (statements have no page of their own).
HIT_PAGES = {"policy": "/policies/", "regulatory-action": "/actions/"}


@router.get("/search", response_class=HTMLResponse)
async def search(request: Request) -> Response:
    """Full-text search at the page's basis: what said these words at validAt, as known
    right after the page's log position; each hit links to its page on the same basis."""

    def build() -> Response:
        b = basis(request)
        words = optional(request, "q") or ""
        results = (
            fulltext.search(
                engine_of(request),
                words,
                b.valid_at,
                b.position,
                first=PAGE_SIZE,
                after=optional(request, "after"),
            )
            if words
            else None
        )
        return render(
            request,
            "search.html",
            basis=b,
            q=words,
            hidden={"q": words} if words else {},
            results=results,
            pages=HIT_PAGES,
            next_query=b.query(q=words, after=results.end_cursor or "")
            if results is not None and results.has_next_page
            else None,
        )

    return await page(request, build)


def _known_policy(engine: Any, slug: str, position: int) -> list[PolicyVersion]:
    """Every version of the policy as known then; NotFound when none (nor now)."""
    versions = queries.policy_history(engine, slug, position)
    if not versions and not queries.policy_history(engine, slug):
        raise NotFound(f"policy {slug!r}")
    return versions


@router.get("/policies/{slug:path}/day", response_class=HTMLResponse)
async def policy_day(request: Request, slug: str) -> Response:
    """All versions of the policy in force at some moment of one calendar day in a zone."""

    def build() -> Response:
        zone = zone_param(request)
        text = request.query_params.get("date", "").strip()
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InvalidInput("date", f"{text[:40]!r} is not a date such as 2022-03-13") from None
        record = record_param(request, zone)
        if not record.explicit:
            query = {"date": day.isoformat(), "timeZone": zone, "position": record.position}
            raise Redirect(f"{request.url.path}?{urlencode(query)}")
        engine = engine_of(request)
        _known_policy(engine, slug, record.position)
        versions = queries.policy_on(engine, slug, day, zone, record.position)
        start, end = queries.day_bounds(day, zone)
        return render(
            request,
            "day.html",
            slug=slug,
            day=day,
            zone=zone,
            record=record,
            versions=versions,
            start=start,
            end=end,
        )

    return await page(request, build)


@router.get("/policies/{slug:path}/diff", response_class=HTMLResponse)
async def policy_diff(request: Request, slug: str) -> Response:
    """Word-level, clause-by-clause changes between two validAt (or two knownAt) instants."""

    def build() -> Response:
        zone = zone_param(request)
        mode = request.query_params.get("mode", "validAt")
        if mode not in ("validAt", "knownAt"):
            raise InvalidInput("mode", "validAt or knownAt")
        if mode == "validAt":
            from_at, from_explicit = instant_param(request, "from", zone)
            to_at, to_explicit = instant_param(request, "to", zone)
            record = record_param(request, zone)
            explicit = from_explicit and to_explicit and record.explicit
            query: dict[str, Any] = {"from": iso(from_at), "to": iso(to_at)}
            query["position"] = record.position
        else:  # two record-time points (positions, or instants that resolve to them)
            valid_at, valid_explicit = instant_param(request, "validAt", zone)
            first, second = (record_point(request, name, zone) for name in ("from", "to"))
            explicit = valid_explicit and first.explicit and second.explicit
            query = {"from": first.position, "to": second.position, "validAt": iso(valid_at)}
        if not explicit:
            raise Redirect(f"{request.url.path}?{urlencode({'mode': mode, **query})}")
        engine = engine_of(request)
        if mode == "validAt":
            _known_policy(engine, slug, record.position)
            before = queries.policy_at(engine, slug, from_at, record.position)
            after = queries.policy_at(engine, slug, to_at, record.position)
            shown: dict[str, Any] = {"from_at": from_at, "to_at": to_at, "other": record}
        else:
            _known_policy(engine, slug, second.position)
            before = queries.policy_at(engine, slug, valid_at, first.position)
            after = queries.policy_at(engine, slug, valid_at, second.position)
            shown = {"from_at": first, "to_at": second, "other": valid_at}
        changes = compare(before, after)
        return render(
            request,
            "diff.html",
            slug=slug,
            mode=mode,
            **shown,
            before=before,
            after=after,
            changes=[clause_view(c) for c in changes],
        )

    return await page(request, build)


def record_point(request: Request, name: str, zone: str) -> Record:
    """A diff's record-time end: a log position (ASCII digits, explicit) or an instant (or
    `<name>Local` picker; resolved, so the page redirects to the positions)."""
    local = request.query_params.get(f"{name}Local", "").strip()
    text = request.query_params.get(name, "").strip()
    if not local and text.isascii() and text.isdigit():
        return resolve_record(request, None, parse_position(text, name))
    if local:
        return resolve_record(request, _local(f"{name}Local", local, zone), None)
    return resolve_record(request, instant_param(request, name, zone)[0], None)


def compare(before: PolicyVersion | None, after: PolicyVersion | None) -> list[ClauseChange]:
    """Clause by clause, in the order of the earlier version then the new clauses."""
    old = {c.id: c for c in before.clauses} if before else {}
    new = {c.id: c for c in after.clauses} if after else {}
    changes = []
    for clause_id in [*old, *(i for i in new if i not in old)]:
        a, b = old.get(clause_id), new.get(clause_id)
        kind = (
            "ADDED"
            if a is None
            else "REMOVED"
            if b is None
            else ("UNCHANGED" if a == b else "CHANGED")
        )
        changes.append(ClauseChange(clause_id, kind, a, b))
    return changes


def clause_view(change: ClauseChange) -> dict[str, Any]:
    """What the diff template shows of one clause: word runs of its text and its scope."""
    a, b = change.before, change.after
    scope_before = list(a.scope) if a else []
    scope_after = list(b.scope) if b else []
    either = b or a
    return {
        "id": change.id,
        "change": change.change,
        "heading": either.heading if either else "",
        "text": word_diff(a.text, b.text) if a and b else None,
        "before": a,
        "after": b,
        "scope_removed": [s for s in scope_before if s not in scope_after],
        "scope_added": [s for s in scope_after if s not in scope_before],
        "scope_kept": [s for s in scope_after if s in scope_before],
        "expiry_changed": (a.expires_at if a else None) != (b.expires_at if b else None),
    }


def _evidence(request: Request, kind: str, slug: str, report: bool) -> Response:
    """The evidence bundle of a page's answer at its basis (timeline/evidence.py): a JSON
    download, or its printable report; `timeline verify-evidence` checks the download."""
    from timeline import evidence, evidence_report

    b = basis(request)
    try:
        bundle = evidence.build(
            request.app.state.services.timeline,
            kind,
            slug,
            b.valid_at,
            known_at_position=b.position,
        )
    except DomainNotFound as error:
        raise NotFound(f"{kind} {slug!r}") from error
    except NotYetKnown as error:
        raise NotFound(f"{kind} {slug!r} by log position {error.known_at}") from error
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
    if report:
        return HTMLResponse(evidence_report.render(bundle), headers=headers)
    name = f"evidence-{kind}-{slug.replace('/', '-')}-{bundle['head']['treeSize']}.json"
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return Response(evidence.dumps(bundle), media_type="application/json", headers=headers)


@router.get("/policies/{slug:path}/evidence", include_in_schema=False)
async def policy_evidence(request: Request, slug: str) -> Response:
    """The policy page's answer as an evidence bundle (JSON)."""
    return await page(request, lambda: _evidence(request, "policy", slug, report=False))


@router.get("/policies/{slug:path}/evidence/report", response_class=HTMLResponse)
async def policy_evidence_report(request: Request, slug: str) -> Response:
    """The policy page's evidence as the printable report."""
    return await page(request, lambda: _evidence(request, "policy", slug, report=True))


@router.get("/actions/{slug:path}/evidence", include_in_schema=False)
async def action_evidence(request: Request, slug: str) -> Response:
    """The action page's answer as an evidence bundle (JSON)."""
    return await page(request, lambda: _evidence(request, "regulatory-action", slug, report=False))


@router.get("/actions/{slug:path}/evidence/report", response_class=HTMLResponse)
async def action_evidence_report(request: Request, slug: str) -> Response:
    """The action page's evidence as the printable report."""
    return await page(request, lambda: _evidence(request, "regulatory-action", slug, report=True))


@router.get("/policies/{slug:path}", response_class=HTMLResponse)
async def policy(request: Request, slug: str) -> Response:
    """The policy as in force at validAt as known at knownAt, with what shaped and answered it."""

    def build() -> Response:
        b = basis(request)
        engine = engine_of(request)
        versions = _known_policy(engine, slug, b.position)
        shown = queries.policy_at(engine, slug, b.valid_at, b.position)
        responses = queries.responses_to(engine, [slug], b.valid_at, b.position)[slug]
        statements = queries.statements_responding_to(engine, [slug], b.valid_at, b.position)
        feed = queries.timeline_page(
            engine,
            known_at=b.position,
            policy=slug,
            kinds=["policy"],
            first=200,
            announcements=False,
        )
        corrections = [e for e in feed.items if e.slug == slug and e.known_from > e.recorded_at]
        return render(
            request,
            "policy.html",
            basis=b,
            slug=slug,
            evidence_path=f"/policies/{slug}/evidence",
            shown=shown,
            versions=versions,
            responses=responses,
            statements=statements[slug],
            corrections=corrections,
            scoped=[c for c in (shown.clauses if shown else ())],
        )

    return await page(request, build)


@router.get("/actions/{slug:path}", response_class=HTMLResponse)
async def action(request: Request, slug: str) -> Response:
    """A regulatory action: its status at validAt, announced / in effect / lifted, what it
    responded to."""

    def build() -> Response:
        b = basis(request)
        engine = engine_of(request)
        history = queries.regulatory_action_history(engine, slug, b.position)
        if not history and not queries.regulatory_action_history(engine, slug):
            raise NotFound(f"regulatory action {slug!r}")
        shown = queries.regulatory_action_at(engine, slug, b.valid_at, b.position)
        any_version = shown or (history[0] if history else None)
        return render(
            request,
            "action.html",
            basis=b,
            slug=slug,
            evidence_path=f"/actions/{slug}/evidence",
            shown=shown,
            about=any_version,
            history=history,
            responds=[reference(r) for r in (any_version.in_response_to if any_version else ())],
        )

    return await page(request, build)


def reference(text: str) -> dict[str, str]:
    """`policy:meta/hate-speech@2` as a label and the reading-room path it links to."""
    kind, _, rest = text.partition(":")
    slug = rest.split("@", 1)[0]
    paths = {"policy": "/policies/", "regulatory-action": "/actions/"}
    return {
        "label": text,
        "kind": kind,
        "slug": slug,
        "path": paths.get(kind, "") + slug if kind in paths else "",
    }


#: How the /timeline page names what an entry marks (domain.feed's kinds).
ENTRY_LABELS = {
    "ANNOUNCEMENT": "announced",
    "ENTRY_INTO_FORCE": "in effect",
    "LIFTING": "lifted",
    "WITHDRAWAL": "withdrawn",
    "OCCURRENCE": "happened",
}


@router.get("/timeline", response_class=HTMLResponse)
async def timeline(request: Request) -> Response:
    """Everything in the order the world saw it as known at knownAt (announcements at their
    announcedAt, effects at their effectiveAt), filtered like the API's feed."""

    def build() -> Response:
        zone = zone_param(request)
        record = record_param(request, zone)
        params = request.query_params
        filters = {k: optional(request, k) for k in ("actor", "jurisdiction", "policy", "kind")}
        if filters["kind"] is not None and filters["kind"] not in AGGREGATE_KINDS:
            raise InvalidInput("kind", f"one of {', '.join(AGGREGATE_KINDS)}")
        if not record.explicit:
            keep = {k: v for k, v in params.items() if k not in _BASIS_PARAMETERS and v}
            query = {**keep, "position": record.position}
            raise Redirect(f"{request.url.path}?{urlencode(query)}")
        from_ = parse_instant("from", params["from"]) if optional(request, "from") else None
        to = parse_instant("to", params["to"]) if optional(request, "to") else None
        feed = queries.timeline_page(
            engine_of(request),
            from_=from_,
            to=to,
            known_at=record.position,
            actor=filters["actor"],
            jurisdiction=filters["jurisdiction"],
            policy=filters["policy"],
            kinds=[filters["kind"]] if filters["kind"] else [],
            first=200,
            after=optional(request, "after"),
        )
        more = {**{k: v for k, v in params.items() if k != "after"}, "after": feed.end_cursor}
        return render(
            request,
            "timeline.html",
            feed=feed,
            filters=filters,
            record=record,
            zone=zone,
            from_=from_,
            to=to,
            kinds=AGGREGATE_KINDS,
            entry_labels=ENTRY_LABELS,
            next_url=f"/timeline?{urlencode(more)}" if feed.has_next_page else None,
        )

    return await page(request, build)


# -- closed reads: the login form -------------------------------------------------------------


def _safe_next(target: str) -> str:
    """Only a path of this site (no `//host`, no scheme): never an open redirect."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _form(body: bytes) -> Mapping[str, str]:
    """A urlencoded form's first value per field (the login form's two)."""
    parsed = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    return {k: v[0] for k, v in parsed.items()}


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check a read token and keep it in an HttpOnly cookie; a wrong one shows the form again."""
    body = await request.body()
    form = _form(body[:8192])
    target = _safe_next(form.get("next", "/"))
    token = form.get("token", "").strip()
    info = (
        await run_in_threadpool(tokens.authenticate, engine_of(request), token) if token else None
    )
    if info is None or not info.allows("read"):
        return render(
            request,
            "login.html",
            401,
            next=target,
            error="That token is not valid (unknown, revoked, or without read).",
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    """Forget the read token: the cookie is removed."""
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def install(app: FastAPI) -> None:
    """Add the reading room's pages and its stylesheet."""
    app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=_root() / "static"), name="reading-room")
