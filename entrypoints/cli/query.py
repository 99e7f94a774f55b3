"""Point-in-time answers in the terminal: `at`, `on`, `history`, `diff`, `status`.

Each command brings the projections up to the head of the log first (so it answers with
everything recorded so far), then asks projections/queries.py, the same read queries the
API uses. Human output is rich tables and a coloured clause diff; `--json` is for scripts.
SQLAlchemy, the queries and rich are imported inside the commands: `timeline --help` and a
current read model answer without loading the write side (console.read_models).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import typer

from domain.values import check_slug
from entrypoints.cli.console import (
    INSTANT_HELP,
    basis,
    check_time_zone,
    out,
    parse_day,
    parse_instant,
    print_json,
    read_models,
)

if TYPE_CHECKING:
    from projections.models import PolicyDiff, PolicyVersion, RegulatoryActionVersion

VALID_AT = typer.Option(
    None, "--valid-at", help=f"The moment in the world. {INSTANT_HELP} Default: now."
)
KNOWN_AT = typer.Option(
    None,
    "--known-at",
    help="Answer as the service would have at this "
    f"moment of the record. {INSTANT_HELP} "
    "Default: now.",
)
POSITION = typer.Option(
    None,
    "--position",
    metavar="N",
    help="Answer exactly as the service would have right after log position N (what a "
    "citation names); not with --known-at.",
)
JSON = typer.Option(False, "--json", help="Print JSON for scripts instead of tables.")


def register(app: typer.Typer) -> None:
    """Add the point-in-time commands to the root app."""
    for name, command in (
        ("at", at),
        ("on", on),
        ("history", history),
        ("diff", diff),
        ("status", status),
    ):
        app.command(name)(command)


def at(
    policy: str = typer.Argument(..., metavar="POLICY", help="Policy id, e.g. meta/hate-speech."),
    valid_at: str | None = VALID_AT,
    known_at: str | None = KNOWN_AT,
    position: str | None = POSITION,
    as_json: bool = JSON,
) -> None:
    """What a policy said at one moment (--valid-at), as known at another (--known-at)."""
    from entrypoints.cli import render
    from projections import absence, queries

    check_slug("POLICY", policy)
    valid, known = parse_instant("--valid-at", valid_at), parse_instant("--known-at", known_at)
    with read_models() as engine:
        at_position = basis(engine, known, position)
        version = queries.policy_at(engine, policy, valid, at_position)
        if version is None:
            raise absence.why_absent(engine, "policy", policy, valid, at_position, known)
        responses = queries.responses_to(engine, [policy], valid, at_position).get(policy, [])
    if as_json:
        print_json({**_version_json(version), "responses": [_action_json(a) for a in responses]})
    else:
        render.policy_version(out(), version)
        render.responses(out(), responses)


def on(
    policy: str = typer.Argument(..., metavar="POLICY", help="Policy id, e.g. meta/hate-speech."),
    day: str = typer.Argument(..., metavar="DATE", help="Calendar day, YYYY-MM-DD."),
    tz: str = typer.Option("UTC", "--tz", help="Time zone of the day, e.g. Europe/Moscow."),
    known_at: str | None = KNOWN_AT,
    position: str | None = POSITION,
    as_json: bool = JSON,
) -> None:
    """Every version of a policy in force at any moment of a calendar day, in order.

    A day is not an instant: a change at 15:00 that day shows as a second version.
    """
    from entrypoints.cli import render
    from projections import absence, queries

    check_slug("POLICY", policy)
    date_ = parse_day("DATE", day)
    zone = check_time_zone("--tz", tz)
    known = parse_instant("--known-at", known_at)
    with read_models() as engine:
        at_position = basis(engine, known, position)
        versions = queries.policy_on(engine, policy, date_, zone, at_position)
        if not versions:
            absence.require_known(engine, "policy", policy, at_position, known)
    if as_json:
        print_json([_version_json(v) for v in versions])
        return
    if not versions:
        out().print(f"policy {policy!r} had no version in force on {date_} ({zone})")
    for index, version in enumerate(versions, start=1):
        out().rule(f"{policy} on {date_} ({zone}): version {index} of {len(versions)}")
        render.policy_version(out(), version, zone)


def history(
    policy: str = typer.Argument(..., metavar="POLICY", help="Policy id, e.g. meta/hate-speech."),
    known_at: str | None = KNOWN_AT,
    position: str | None = POSITION,
    as_json: bool = JSON,
) -> None:
    """Every version of a policy over valid time, as known at --known-at."""
    from entrypoints.cli import render
    from projections import absence, queries

    check_slug("POLICY", policy)
    known = parse_instant("--known-at", known_at)
    with read_models() as engine:
        at_position = basis(engine, known, position)
        versions = queries.policy_history(engine, policy, at_position)
        if not versions:
            absence.require_known(engine, "policy", policy, at_position, known)
    if as_json:
        print_json([_version_json(v) for v in versions])
        return
    out().print(render.history_table(policy, versions, render.basis(known, at_position)))


def diff(
    policy: str = typer.Argument(..., metavar="POLICY", help="Policy id, e.g. meta/hate-speech."),
    from_: str = typer.Argument(..., metavar="FROM", help=f"First moment. {INSTANT_HELP}"),
    to: str = typer.Argument(..., metavar="TO", help=f"Second moment. {INSTANT_HELP}"),
    known_at: str | None = KNOWN_AT,
    position: str | None = POSITION,
    show_all: bool = typer.Option(False, "--all", help="Also list unchanged clauses."),
    as_json: bool = JSON,
) -> None:
    """Clause by clause, how a policy changed between two moments (red: before, green: after)."""
    from entrypoints.cli import render
    from projections import absence, queries

    check_slug("POLICY", policy)
    start, end = parse_instant("FROM", from_), parse_instant("TO", to)
    known = parse_instant("--known-at", known_at)
    assert start is not None and end is not None
    with read_models() as engine:
        at_position = basis(engine, known, position)
        result = queries.policy_diff(engine, policy, start, end, at_position)
        if result.before is None and result.after is None:
            absence.require_known(engine, "policy", policy, at_position, known)
    if as_json:
        print_json(_diff_json(result))
    else:
        render.policy_diff(out(), result, start, end, show_all)


def status(
    action: str = typer.Argument(
        ..., metavar="ACTION", help="Regulatory action id, e.g. roskomnadzor/instagram-restriction."
    ),
    valid_at: str | None = VALID_AT,
    known_at: str | None = KNOWN_AT,
    position: str | None = POSITION,
    as_json: bool = JSON,
) -> None:
    """A regulatory action's status at a moment: ANNOUNCED, IN_EFFECT or LIFTED."""
    from entrypoints.cli import render
    from projections import absence, queries

    check_slug("ACTION", action)
    valid, known = parse_instant("--valid-at", valid_at), parse_instant("--known-at", known_at)
    with read_models() as engine:
        at_position = basis(engine, known, position)
        version = queries.regulatory_action_at(engine, action, valid, at_position)
        if version is None:
            raise absence.why_absent(engine, "regulatory-action", action, valid, at_position, known)
    if as_json:
        print_json(_action_json(version))
    else:
        render.regulatory_action(out(), version, valid)


# -- shared ----------------------------------------------------------------------------------


def _version_json(version: PolicyVersion) -> Any:
    """The version as the API names it: `id` is the policy's id, `text` the clauses joined."""
    from timeline.streams.cloudevents import camel_json

    data = {"id": version.slug, **camel_json(asdict(version))}
    del data["slug"]
    data["text"] = version.text
    data["correctedBy"] = _corrections_json("policy", version)
    return data


def _corrections_json(kind: str, version: PolicyVersion | RegulatoryActionVersion) -> Any:
    """Each correction of a fact the version is built from, named as the API names it."""
    from domain.values import Reference

    return [
        {
            "event": str(Reference(kind, version.slug, c.version)),
            "recordedAt": c.recorded_at,
            "reason": c.reason,
        }
        for c in version.corrected_by
    ]


def _diff_json(result: PolicyDiff) -> Any:
    from timeline.streams.cloudevents import camel_json

    return {
        "id": result.slug,
        "before": _version_json(result.before) if result.before else None,
        "after": _version_json(result.after) if result.after else None,
        "clauses": [camel_json(asdict(change)) for change in result.clauses],
    }


def _action_json(version: RegulatoryActionVersion) -> Any:
    from timeline.streams.cloudevents import camel_json

    data = {"id": version.slug, **camel_json(asdict(version))}
    del data["slug"]
    data["correctedBy"] = _corrections_json("regulatory-action", version)
    return data
