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

    from projections.runner import ProjectionRunner
    from timeline.application import Timeline
    from timeline.integrity import TreeHead
    from timeline.settings import Settings


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
    app.command("restore")(restore_log)


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
    """Export the event log as NDJSON in the CloudEvents 1.0 JSON envelope: a backup.

    One event per line, in log order, each with its log `position` and its leaf in the log's
    Merkle tree; the last line is the signed head the export ends at (type
    `org.policy-timeline.LogHead`), also printed on stderr. Pass the last `position` to
    `--after` to resume exactly where an earlier export stopped. An export of the whole log
    (no `--after`) is what `timeline restore` takes.
    """
    after = cursors.parse_position(after_text, "--after")
    with log() as timeline:
        from timeline import integrity

        stop = integrity.head(timeline.engine).position  # the sealed head now: one cut
        stream: TextIO = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            count, head = _write_events(timeline, stream, after, stop, limit)
        finally:
            if output:
                stream.close()
    summary = (
        f"exported {count} events (positions {after + 1}-{head.position}); "
        f"resume with --after {head.position}"
        if count
        else f"no events after position {after}"
    )
    err().print(summary)
    err().print(
        f"head: tree size {head.tree_size}, root {head.hash}, position {head.position}"
        " (the file's last line, signed)"
    )


def restore_log(
    file: str = typer.Argument(
        ..., metavar="FILE", help="An export of the whole log (`timeline export -o FILE`)."
    ),
    rebuild: bool = typer.Option(
        True, "--project/--no-project", help="Build the read models after the restore."
    ),
) -> None:
    """Restore an export into an EMPTY database: every event with its position, recordedAt,
    stored bytes and leaf, the tree checked against the export's signed head before
    anything is committed; then the read models are built from the restored log.

    A truncated, reordered or altered export is refused whole, naming the line that failed.
    """
    from timeline import backup

    path = Path(file)
    if not path.is_file():
        raise InvalidInput("FILE", f"{file!r} is not a readable file")
    size = path.stat().st_size
    with services() as built:
        timeline = built.timeline
        backup.require_empty(timeline)
        with _progress(in_bytes=True) as progress:
            task = progress.add_task("restoring", total=size)
            done = 0  # bytes read so far: the bar of a long restore

            def read() -> Iterator[tuple[int, str]]:
                nonlocal done
                for number, text in _read(file):
                    done += len(text.encode())
                    yield number, text

            def advance(number: int) -> None:
                progress.update(task, completed=done)

            restored = backup.restore(timeline, file, read(), advance)
        err().print(
            f"[green]restored[/] {restored.events} events and {restored.idempotency_keys} "
            f"idempotency keys from {file}: head tree size "
            f"{restored.head.tree_size}, root {restored.head.hash}, position "
            f"{restored.head.position} (verified against the export's signed head)"
        )
        _warn_key(built.settings, restored.key_id)
        if rebuild:
            _project(built.projections, restored.head.position)


def _warn_key(settings: Settings, exported_key: str) -> None:
    """Say whether this database will sign its heads with the export's key."""
    from timeline import signing

    path = signing.key_path(settings)
    if path.exists() and signing.load_key(path).key_id == exported_key:
        return
    where = "is another key" if path.exists() else "does not exist yet"
    err().print(
        f"[yellow]note:[/] the export's heads were signed with key {exported_key[:16]}; the "
        f"signing key of this database ({path}) {where}: copy the original key file there "
        "before serving to keep signing heads with it (docs/operating.md)"
    )


def _project(runner: ProjectionRunner, head: int) -> None:
    """Build the read models from the restored log, with a progress bar."""
    with _progress() as progress:
        task = progress.add_task("projecting", total=max(head, 1))
        position = runner.catch_up(
            lambda done, total: progress.update(task, completed=done, total=max(total, 1))
        )
        progress.update(task, completed=max(position, 1))
    err().print(f"read models built up to position {position}")


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
    if "specversion" in document:
        raise _line_error(
            file,
            number,
            "an exported event (CloudEvents), not a command: an export is given back with "
            "`timeline restore FILE` into an empty database",
        )
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


def _write_events(
    timeline: Timeline, stream: TextIO, after: int, stop: int, limit: int | None
) -> tuple[int, TreeHead]:
    """Write the export with a progress bar; returns (count, head)."""
    from timeline import backup

    total = max(0, stop - after) if limit is None else min(limit, max(0, stop - after))
    with _progress() as progress:
        task = progress.add_task("exporting", total=total)
        return backup.write_export(
            timeline, stream, after, stop, limit, lambda n: progress.advance(task, n)
        )


def _progress(*, in_bytes: bool = False) -> Progress:
    """A progress bar on stderr: items done of the total, or bytes read (a restore)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    counted = (DownloadColumn(), TimeRemainingColumn()) if in_bytes else (MofNCompleteColumn(),)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *counted,
        TimeElapsedColumn(),
        console=err(),
        transient=False,
    )
