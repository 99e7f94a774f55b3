"""The word-level diff of two clause texts, shared by the CLI (`timeline diff`) and the
reading room's diff page: pure, so both render the same changes their own way."""

from __future__ import annotations

import difflib
from typing import Literal

#: What happened to a run of words: kept, deleted from the old text, inserted in the new.
Op = Literal["equal", "delete", "insert"]


def word_diff(before: str, after: str) -> list[tuple[Op, str]]:
    """Runs of words (split on single spaces, rejoined the same way) in reading order; a
    replaced run is its deletion followed by its insertion."""
    old, new = before.split(" "), after.split(" ")
    runs: list[tuple[Op, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new).get_opcodes():
        if op == "equal":
            runs.append(("equal", " ".join(old[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("delete", " ".join(old[i1:i2])))
        if j2 > j1:
            runs.append(("insert", " ".join(new[j1:j2])))
    return runs
