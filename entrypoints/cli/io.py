"""`timeline import` and `timeline export`: NDJSON in (commands) and out (CloudEvents).

Import is all-or-nothing: every line is checked first (JSON, a known command, its input
model, idempotency keys unique in the file), then the commands run inside ONE database
transaction (`eventstore.transaction`, which the application's own saves join), so a command
refused by the fold on line 40 leaves nothing of lines 1-39 stored either.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import typer

from domain.errors import InvalidInput, TimelineError
from entrypoints.cli.console import err, log, services
from timeline import cursors

if TYPE_CHECKING:
    from rich.progress import Progress

    from timeline.application import Timeline


@dataclass(frozen=True)
class Line:
    """One checked command of an import file."""

    number: int
    command: str
    input: dict[str, Any]


def register(app: typer.Typer) -> None:
    """Add `import` and `export` to the root app."""
    app.command("import")(import_commands)
    app.command("export")(export_events)


def import_commands(
    file: str | None = typer.Argument(
        None, metavar="FILE", help="NDJSON file of commands ('-' reads stdin)."
    ),
    check: bool = typer.Option(False, "--check", help="Only check the file; store nothing."),
    demo: bool = typer.Option(
        False, "--demo", help="Import the March 2022 demo data set instead of a file (idempotent)."
    ),
) -> None:
    """Import commands from NDJSON, one per line, all or nothing.

    Each line is `{"command": "announcePolicy", "input": {...}}` with the input in camelCase,
    exactly as the GraphQL mutation of the same name takes it. A bad line is reported with its
    line number and nothing of the file is stored.
    """
    if demo == (file is not None):
        raise InvalidInput("FILE", "give an NDJSON file, or --demo for the demo data set")
    if file is None:
        from timeline.demo import DEMO_COMMANDS

        file = "demo data set"
        lines = [Line(n, name, data) for n, (name, data) in enumerate(DEMO_COMMANDS, start=1)]
        for line in lines:
            _check_input(file, line)
    else:
        lines = _checked_lines(file)
    if check:
        err().print(f"{file}: {len(lines)} commands look valid (--check: nothing stored)")
        return
    if not lines:
        err().print(f"{file}: no commands, nothing to import")
        return
    with services() as built:
        timeline = built.timeline
        head_before = timeline.head_position()
        positions = _execute_all(timeline, file, lines)
    new = [position for position in positions if position > head_before]
    counts = Counter(line.command for line in lines)
    err().print(
        f"[green]imported[/] {len(lines)} commands from {file}: {len(new)} new events"
        + (f" (positions {new[0]}-{new[-1]})" if new else "")
        + (
            f", {len(lines) - len(new)} already recorded (idempotency keys)"
            if len(new) < len(lines)
            else ""
        )
    )
    err().print("  " + ", ".join(f"{name} x{n}" for name, n in sorted(counts.items())))


def export_events(
    after_text: str = typer.Option(
        "0", "--after", help="Export events after this log position (exclusive)."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many events."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file instead of stdout."
    ),
) -> None:
    """Export the event log as NDJSON in the CloudEvents 1.0 JSON envelope.

    One event per line, in log order. Each carries its log `position`: pass the last one to
    `--after` to resume exactly where an earlier export stopped.
    """
    after = cursors.parse_position(after_text, "--after")
    with log() as timeline:
        head = timeline.head_position()
        total = max(0, head - after) if limit is None else min(limit, max(0, head - after))
        stream: TextIO = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            count, last = _write_events(timeline, stream, after, total)
        finally:
            if output:
                stream.close()
    if count:
        err().print(
            f"exported {count} events (positions {after + 1}-{last}); resume with --after {last}"
        )
    else:
        err().print(f"no events after position {after}")


# -- import --------------------------------------------------------------------------------


def _checked_lines(file: str) -> list[Line]:
    """Parse and validate every line before anything is stored."""
    lines: list[Line] = []
    keys: dict[str, int] = {}
    for number, text in _read(file):
        if not text.strip():
            continue
        line = _parse_line(file, number, text)
        _check_input(file, line)
        key = line.input.get("idempotencyKey") or line.input.get("idempotency_key")
        if isinstance(key, str):
            if key in keys:
                raise _line_error(
                    file,
                    number,
                    f"idempotencyKey {key!r} is already used on line {keys[key]} of this file",
                )
            keys[key] = number
        lines.append(line)
    return lines


def _read(file: str) -> Iterator[tuple[int, str]]:
    if file == "-":
        yield from enumerate(sys.stdin, start=1)
        return
    path = Path(file)
    if not path.is_file():
        raise InvalidInput("FILE", f"{file!r} is not a readable file")
    with path.open(encoding="utf-8") as handle:
        try:
            yield from enumerate(handle, start=1)
        except UnicodeDecodeError as error:
            raise InvalidInput("FILE", f"{file!r} is not UTF-8 text ({error.reason})") from None


def _parse_line(file: str, number: int, text: str) -> Line:
    from timeline.commands import COMMANDS

    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise _line_error(
            file, number, f"not valid JSON ({error.msg} at column {error.colno})"
        ) from None
    if not isinstance(document, dict):
        raise _line_error(file, number, 'expected an object {"command": ..., "input": {...}}')
    unknown = sorted(set(document) - {"command", "input"})
    if unknown:
        raise _line_error(
            file, number, f"unknown key {unknown[0]!r}; a line has only 'command' and 'input'"
        )
    name, data = document.get("command"), document.get("input")
    if not isinstance(name, str):
        raise _line_error(file, number, "command: is required (e.g. 'announcePolicy')")
    if name not in COMMANDS:
        raise _line_error(
            file,
            number,
            f"command: unknown command {name!r} (known: {', '.join(sorted(COMMANDS))})",
        )
    if not isinstance(data, dict):
        raise _line_error(file, number, "input: is required and must be an object")
    return Line(number, name, data)


def _check_input(file: str, line: Line) -> None:
    from timeline.commands import COMMANDS
    from timeline.validation import validate

    try:
        validate(COMMANDS[line.command], line.input)
    except InvalidInput as error:
        raise _line_error(
            file, line.number, f"{line.command} input.{error.field}: {error.reason}"
        ) from None


def _execute_all(timeline: Timeline, file: str, lines: list[Line]) -> list[int]:
    """Run every command in one transaction; any refusal rolls the whole batch back.

    Returns the log position of each command's (last) event.
    """
    from timeline import eventstore

    positions: list[int] = []
    with _progress() as progress:
        task = progress.add_task("importing", total=len(lines))
        with eventstore.transaction(timeline.recorder, commit=True):
            for line in lines:
                try:
                    positions.append(timeline.execute(line.command, line.input).position)
                except TimelineError as error:
                    raise _line_error(
                        file, line.number, f"{line.command} refused: {error.message}"
                    ) from None
                progress.advance(task)
    return positions


def _line_error(file: str, number: int, reason: str) -> InvalidInput:
    name = "stdin" if file == "-" else file
    return InvalidInput(f"{name} line {number}", f"{reason}; nothing of the file was stored")


# -- export --------------------------------------------------------------------------------


def _write_events(timeline: Timeline, stream: TextIO, after: int, total: int) -> tuple[int, int]:
    """Write up to `total` events after `after`; returns (count, last position)."""
    from timeline import store
    from timeline.streams.cloudevents import to_cloudevent

    count, last = 0, after
    with _progress() as progress:
        task = progress.add_task("exporting", total=total)
        while count < total:
            page = timeline.log(last, min(1000, total - count))
            if not page:
                break
            names = store.stream_names(timeline.engine, {e.fact.aggregate_id for e in page})
            for logged in page:
                slug = names.get(logged.fact.aggregate_id, ("", str(logged.fact.aggregate_id)))
                stream.write(json.dumps(to_cloudevent(logged, slug[1]), ensure_ascii=False))
                stream.write("\n")
            count += len(page)
            last = page[-1].position
            progress.advance(task, len(page))
    stream.flush()
    return count, last


def _progress() -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err(),
        transient=False,
    )
