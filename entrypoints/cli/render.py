"""Terminal rendering of point-in-time answers: policy versions, clause diffs, action status."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table
from rich.text import Text

from domain.values import Clause
from domain.word_diff import word_diff
from projections.models import ClauseChange, PolicyDiff, PolicyVersion, RegulatoryActionVersion

_STATUS_STYLE = {
    "ANNOUNCED": "yellow",
    "IN_EFFECT": "bold red",
    "LIFTED": "green",
    "ACTIVE": "green",
    "WITHDRAWN": "red",
}


def basis(known_at: datetime | None, position: int) -> str:
    """The record-time basis of an answer: `2022-03-12 ... (log position 7)`."""
    return f"{moment(known_at)} (log position {position})"


def moment(value: datetime | None, missing: str = "now", zone: str = "UTC") -> str:
    """An instant as `2022-03-13 21:00:00+00:00` in `zone` (UTC by default)."""
    if value is None:
        return missing
    return value.astimezone(ZoneInfo(zone) if zone != "UTC" else UTC).isoformat(sep=" ")


def short(value: datetime | None, missing: str = "-") -> str:
    """An instant in UTC to the minute, for table cells: `2022-03-13 21:00Z`."""
    if value is None:
        return missing
    utc = value.astimezone(UTC)
    return (
        utc.strftime(
            "%Y-%m-%d %H:%M" if utc.second == 0 and not utc.microsecond else "%Y-%m-%d %H:%M:%S"
        )
        + "Z"
    )


def history_table(slug: str, versions: list[PolicyVersion], known: str) -> Table:
    """One row per valid-time version: when it was in force and which event made it; `known`
    says as known when (`basis`)."""
    table = Table(title=f"{slug}: history as known at {known}")
    for column in ("valid from", "valid to", "made by"):
        table.add_column(column, no_wrap=True)
    table.add_column("title")
    table.add_column("clauses", overflow="fold", min_width=14)
    for version in versions:
        table.add_row(
            short(version.valid_from),
            short(version.valid_to),
            f"{version.change_type} @{version.changed_by}"
            + "".join(f"\ncorrected @{c.version}" for c in version.corrected_by),
            version.title,
            "\n".join(c.id for c in version.clauses),
        )
    return table


def policy_version(console: Console, version: PolicyVersion, zone: str = "UTC") -> None:
    """Heading lines (title, status, intervals) and a table of the clauses in force."""
    style = _STATUS_STYLE.get(version.status, "")
    console.print(
        Text.assemble(
            (version.title, "bold"),
            f"  ({version.slug}, owner ",
            version.owner,
            ")  ",
            (version.status, style),
        )
    )
    console.print(
        f"in force from {moment(version.valid_from, zone=zone)} "
        f"to {moment(version.valid_to, 'further notice', zone)}; "
        f"as recorded from {moment(version.known_from, zone=zone)}; "
        f"made by {version.change_type} (event {version.changed_by})"
    )
    for correction in version.corrected_by:
        console.print(
            Text(
                f"corrected by policy:{version.slug}@{correction.version}, recorded "
                f"{moment(correction.recorded_at, zone=zone)}: {correction.reason}",
                style="yellow",
            )
        )
    if version.summary:
        console.print(Text(version.summary, style="italic"))
    console.print(_clause_table(version.clauses, zone))


def responses(console: Console, actions: list[RegulatoryActionVersion]) -> None:
    """The regulatory actions citing the policy, with their status at the same moment."""
    if not actions:
        console.print("no regulatory action cites it at this moment", style="dim")
        return
    console.print("cited by:")
    for action in actions:
        console.print(
            Text.assemble(
                "  ",
                (action.slug, "bold"),
                " ",
                (action.status, _STATUS_STYLE.get(action.status, "")),
                f" ({action.kind} by {action.authority}, in effect from "
                f"{short(action.in_effect_from)})",
            )
        )


def _clause_table(clauses: tuple[Clause, ...], zone: str) -> Table:
    table = Table(show_lines=True, expand=False)
    table.add_column("clause", style="cyan", no_wrap=True)
    table.add_column("text", ratio=3)
    table.add_column("scope", ratio=1)
    table.add_column("expires", ratio=1)
    for clause in clauses:
        body = Text.assemble((clause.heading + "\n", "bold") if clause.heading else "", clause.text)
        table.add_row(
            clause.id,
            body,
            " ".join(clause.scope) or "everywhere",
            moment(clause.expires_at, "-", zone),
        )
    return table


def policy_diff(
    console: Console, result: PolicyDiff, start: datetime, end: datetime, show_all: bool
) -> None:
    """`- before` in red, `+ after` in green, clause by clause, with changed words marked."""
    console.print(Text.assemble(("--- ", "red"), f"{result.slug} at {moment(start)}"))
    console.print(Text.assemble(("+++ ", "green"), f"{result.slug} at {moment(end)}"))
    for side, version in (("before", result.before), ("after", result.after)):
        if version is None:
            console.print(f"(no version in force {side})", style="dim")
    changes = [c for c in result.clauses if show_all or c.change != "UNCHANGED"]
    if not changes:
        console.print("no clause changed", style="dim")
    for change in changes:
        console.print(_clause_change(change))


def _clause_change(change: ClauseChange) -> Text:
    marker = {
        "ADDED": ("+", "green"),
        "REMOVED": ("-", "red"),
        "CHANGED": ("~", "yellow"),
        "UNCHANGED": (" ", "dim"),
    }.get(change.change, ("?", ""))
    text = Text.assemble(
        (f"{marker[0]} {change.id} ", f"bold {marker[1]}"), (change.change, marker[1]), "\n"
    )
    before, after = change.before, change.after
    if change.change == "CHANGED" and before and after:
        if before.heading != after.heading:
            text.append_text(_line("-", before.heading, "red"))
            text.append_text(_line("+", after.heading, "green"))
        text.append_text(_word_diff(before.text, after.text))
        if before.scope != after.scope:
            text.append_text(_line("-", "scope: " + " ".join(before.scope), "red"))
            text.append_text(_line("+", "scope: " + " ".join(after.scope), "green"))
        if before.expires_at != after.expires_at:
            text.append_text(_line("-", f"expires: {moment(before.expires_at, '-')}", "red"))
            text.append_text(_line("+", f"expires: {moment(after.expires_at, '-')}", "green"))
    elif change.change == "REMOVED" and before:
        text.append_text(_line("-", before.text, "red"))
    elif after:
        text.append_text(
            _line(
                "+" if change.change == "ADDED" else " ",
                after.text,
                "green" if change.change == "ADDED" else "dim",
            )
        )
    return text


def _line(marker: str, body: str, style: str) -> Text:
    return Text(f"  {marker} {body}\n", style=style)


def _word_diff(before: str, after: str) -> Text:
    """The text once, deleted words struck through in red, inserted words in green."""
    if before == after:
        return Text(f"    {after}\n", style="dim")
    text = Text("    ")
    for op, words in word_diff(before, after):
        if op == "equal":
            text.append(words + " ")
        elif op == "delete":
            text.append("[-" + words + "-] ", style="red strike")
        else:
            text.append("{+" + words + "+} ", style="green")
    text.append("\n")
    return text


def regulatory_action(
    console: Console, version: RegulatoryActionVersion, valid_at: datetime | None
) -> None:
    """The action's status at the moment asked, with what it is and what it responds to."""
    style = _STATUS_STYLE.get(version.status, "")
    console.print(
        Text.assemble(
            (version.slug, "bold"), "  ", (version.status, style), f"  at {moment(valid_at)}"
        )
    )
    table = Table(show_header=False, box=None)
    table.add_column(style="cyan")
    table.add_column()
    rows = [
        ("kind", version.kind),
        ("authority", version.authority),
        ("jurisdiction", version.jurisdiction),
        ("targets", ", ".join(version.targets)),
        ("announced", moment(version.announced_at)),
        ("in effect from", moment(version.in_effect_from)),
        ("lifted", moment(version.lifted_at, "-")),
        ("in response to", ", ".join(version.in_response_to) or "-"),
        ("summary", version.summary),
        ("text", version.text),
        ("sources", "\n".join(s.url for s in version.sources) or "-"),
        *(
            (
                "corrected by",
                f"regulatory-action:{version.slug}@{c.version}, recorded "
                f"{moment(c.recorded_at)}: {c.reason}",
            )
            for c in version.corrected_by
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
