"""The redaction rule (domain/redaction.py): which fields are erased, and erasing them leaves
everything else as it was, in an event and inside a correction's changes."""

from __future__ import annotations

import pytest

from domain.redaction import placeholder, redact, redactable_fields

STATEMENT = {
    "slug": "jane-roe/post",
    "actor": "jane-roe",
    "summary": "A private post",
    "text": "Jane Roe lives at 12 Elm Street",
    "sources": [
        {"url": "https://example.org/a", "quote": "12 Elm Street"},
        {"url": "https://example.org/b", "quote": None},
    ],
}


def test_the_summary_the_text_and_each_quote_held_are_erased_and_nothing_else() -> None:
    fields = redactable_fields(STATEMENT)
    assert fields == ["summary", "text", "sources[0].quote"]
    mark = placeholder("statement:jane-roe/post@2")
    erased = redact(STATEMENT, fields, mark)
    assert erased == {
        **STATEMENT,
        "summary": mark,
        "text": mark,
        "sources": [{"url": "https://example.org/a", "quote": mark}, STATEMENT["sources"][1]],
    }
    assert STATEMENT["sources"][0]["quote"] == "12 Elm Street"  # the input is not changed


def test_a_correction_is_erased_inside_its_changes() -> None:
    correction = {"target": 1, "reason": "typo", "changes": {"text": "again", "kind": "post"}}
    fields = redactable_fields(correction)
    assert fields == ["changes.text"]
    assert redact(correction, fields, "x")["changes"] == {"text": "x", "kind": "post"}


def test_an_event_without_text_has_nothing_to_erase() -> None:
    assert redactable_fields({"name": "Ofcom", "kind": "authority", "sources": []}) == []


def test_a_field_outside_the_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="not a redactable field"):
        redact(STATEMENT, ["actor"], "x")
