"""Redaction: which fields of an event a redaction erases, and the erasing itself, one pure
rule shared by the command (the stored tombstone) and the aggregate (its facts in memory), so
that both read the same afterwards; the read models read the tombstone from the log."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

#: The free-text fields a redaction erases: what may quote or describe a private person.
#: Clause texts, names, slugs, instants and references stay (docs/evidence.md).
TEXT_FIELDS = ("summary", "text")

_PATH = re.compile(r"^(?:(changes)\.)?(?:(summary|text)|sources\[(\d+)\]\.quote)$")


def placeholder(reference: str) -> str:
    """What a redacted field reads: `[redacted by kind:slug@version]` (the redaction)."""
    return f"[redacted by {reference}]"


def redactable_fields(data: Mapping[str, Any]) -> list[str]:
    """The paths a redaction of an event with payload `data` erases: its non-empty summary
    and text and every source quote, and the same inside a correction's `changes`."""
    found = _fields(data, "")
    changes = data.get("changes")
    if isinstance(changes, Mapping):
        found.extend(_fields(changes, "changes."))
    return found


def _fields(data: Mapping[str, Any], prefix: str) -> list[str]:
    found = [
        prefix + name for name in TEXT_FIELDS if isinstance(data.get(name), str) and data[name]
    ]
    for index, source in enumerate(data.get("sources") or ()):
        if isinstance(source, Mapping) and source.get("quote"):
            found.append(f"{prefix}sources[{index}].quote")
    return found


def redact(data: Mapping[str, Any], fields: Sequence[str], text: str) -> dict[str, Any]:
    """A copy of `data` with each field path of `fields` replaced by `text` (the rest kept)."""
    result = dict(data)
    for path in fields:
        match = _PATH.match(path)
        if match is None:
            raise ValueError(f"not a redactable field: {path!r}")
        within, name, index = match.groups()
        target = result
        if within:
            target = result["changes"] = dict(result["changes"])
        if name:
            target[name] = text
        else:
            sources = target["sources"] = [dict(s) for s in target["sources"]]
            sources[int(index)]["quote"] = text
    return result
