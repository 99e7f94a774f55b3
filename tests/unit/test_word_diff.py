"""The word diff the CLI and the reading room share (domain/word_diff.py)."""

from __future__ import annotations

from domain.word_diff import word_diff


def test_a_replaced_run_is_its_deletion_then_its_insertion() -> None:
    assert word_diff("allowed in twelve countries", "allowed in Ukraine only") == [
        ("equal", "allowed in"),
        ("delete", "twelve countries"),
        ("insert", "Ukraine only"),
    ]


def test_equal_texts_are_one_run_and_the_runs_rebuild_both_texts() -> None:
    assert word_diff("a b", "a b") == [("equal", "a b")]
    runs = word_diff("one two three four", "zero one three five")
    old = " ".join(words for op, words in runs if op != "insert")
    new = " ".join(words for op, words in runs if op != "delete")
    assert (old, new) == ("one two three four", "zero one three five")
