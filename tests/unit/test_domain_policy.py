"""The Policy aggregate and its fold, without a store: clauses, scopes, expiry, withdrawal."""

from __future__ import annotations

from typing import Any

import pytest
from factories import as_recorded, at, clause, in_memory, policy, revision

from domain import RULES, InvalidRevision, NothingChanged, Policy, UnfoldableHistory
from domain.fold import state_at
from domain.policy import ACTIVE, WITHDRAWN
from domain.values import aggregate_uuid
from timeline.commands import RevisePolicy
from timeline.validation import validate

NOW = at("2030-01-01T00:00:00+00:00")


def _policy(*changes: tuple[str, dict[str, Any]]) -> Policy:
    aggregates = in_memory([("announcePolicy", policy()), *changes])
    found = aggregates[("policy", "acme/conduct")]
    assert isinstance(found, Policy)
    return found


def _at(aggregate: Policy, valid_at: str) -> Any:
    return state_at(RULES["policy"], as_recorded(aggregate.facts), at(valid_at), NOW)


def test_the_same_slug_is_always_the_same_stream() -> None:
    first = _policy()
    assert first.id == aggregate_uuid("policy", "acme/conduct")
    assert _policy().id == first.id
    assert aggregate_uuid("actor", "acme/conduct") != first.id


def test_a_revision_adds_amends_and_removes_clauses_from_its_effective_time() -> None:
    aggregate = _policy(
        (
            "revisePolicy",
            revision(
                addClauses=[clause("c2", "Be brief.", scope=["UA", "PL"])],
                amendClauses=[{"id": "c1", "text": "Be kind, always."}],
            ),
        ),
        ("revisePolicy", revision(effective_at="2022-03-01T00:00:00+00:00", removeClauses=["c1"])),
    )
    before = _at(aggregate, "2022-01-31T23:59:59+00:00")
    assert [(c.id, c.text) for c in before.clauses] == [("c1", "Be kind.")]
    february = _at(aggregate, "2022-02-01T00:00:00+00:00")
    assert [(c.id, c.text, c.scope) for c in february.clauses] == [
        ("c1", "Be kind, always.", ()),
        ("c2", "Be brief.", ("UA", "PL")),
    ]
    assert february.revision == 2 and february.changed_by == 2
    march = _at(aggregate, "2022-03-15T00:00:00+00:00")
    assert [c.id for c in march.clauses] == ["c2"]


def test_the_policy_does_not_exist_before_its_announcement_takes_effect() -> None:
    assert _at(_policy(), "2021-12-31T23:59:59+00:00") is None


def test_amending_an_unknown_clause_is_refused_naming_the_clause_field() -> None:
    aggregate = _policy()
    with pytest.raises(InvalidRevision) as refused:
        aggregate.revise(**_payload(revision(amendClauses=[{"id": "nope", "text": "x"}])))
    assert refused.value.field == "amendClauses[0].id"
    assert "nope" in refused.value.reason
    assert aggregate.version == 1 and len(aggregate.facts) == 1


def test_adding_a_clause_that_exists_is_refused() -> None:
    with pytest.raises(InvalidRevision) as refused:
        _policy(("revisePolicy", revision(addClauses=[clause("c1")])))
    assert refused.value.field == "addClauses[0].id"


def test_a_revision_before_the_announcement_takes_effect_is_refused() -> None:
    with pytest.raises(UnfoldableHistory) as refused:
        _policy(("revisePolicy", revision(effective_at="2021-06-01T00:00:00+00:00")))
    assert refused.value.field == "effectiveAt"


def test_a_withdrawn_policy_keeps_its_clauses_and_cannot_be_revised() -> None:
    aggregate = _policy(
        ("withdrawPolicy", {"id": "acme/conduct", "effectiveAt": "2022-02-01T00:00:00+00:00"})
    )
    state = _at(aggregate, "2022-02-02T00:00:00+00:00")
    assert state.status == WITHDRAWN and [c.id for c in state.clauses] == ["c1"]
    assert _at(aggregate, "2022-01-15T00:00:00+00:00").status == ACTIVE
    with pytest.raises(InvalidRevision) as refused:
        aggregate.revise(**_payload(revision(effective_at="2022-03-01T00:00:00+00:00")))
    assert "withdrawn" in refused.value.reason


def test_a_temporary_clause_ends_by_itself_at_its_expiry() -> None:
    aggregate = _policy(
        (
            "revisePolicy",
            revision(
                addClauses=[clause("allowance", "For now.", expiresAt="2022-03-01T00:00:00+00:00")]
            ),
        )
    )
    assert _at(aggregate, "2022-02-28T23:59:59+00:00").clause("allowance") is not None
    assert _at(aggregate, "2022-03-01T00:00:00+00:00").clause("allowance") is None


def test_amending_an_expired_clause_is_refused() -> None:
    aggregate = _policy(
        (
            "revisePolicy",
            revision(
                addClauses=[clause("allowance", "For now.", expiresAt="2022-03-01T00:00:00+00:00")]
            ),
        )
    )
    with pytest.raises(InvalidRevision) as refused:
        aggregate.revise(
            **_payload(
                revision(
                    effective_at="2022-03-02T00:00:00+00:00",
                    amendClauses=[{"id": "allowance", "text": "Longer."}],
                )
            )
        )
    assert refused.value.field == "amendClauses[0].id"


def test_a_policy_text_joins_headings_and_clauses_in_order() -> None:
    aggregate = _policy(("revisePolicy", revision(addClauses=[clause("c2", "Be brief.")])))
    assert _at(aggregate, "2022-02-01T00:00:00+00:00").text == "C1\nBe kind.\n\nC2\nBe brief."


def test_sources_accumulate_without_duplicates() -> None:
    aggregate = _policy(
        (
            "revisePolicy",
            revision(
                sources=[
                    {"url": "https://example.org/report"},
                    {"url": "https://example.org/other"},
                ]
            ),
        )
    )
    state = _at(aggregate, "2022-02-01T00:00:00+00:00")
    assert [s.url for s in state.sources] == [
        "https://example.org/report",
        "https://example.org/other",
    ]


def _payload(data: dict[str, Any]) -> dict[str, Any]:
    return validate(RevisePolicy, data).payload()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "Code of conduct"}, "title"),
        ({"amendClauses": [{"id": "c1", "text": "Be kind."}]}, "amendClauses"),
        ({"amendClauses": [{"id": "c1"}]}, "amendClauses"),
        ({"amendClauses": [{"id": "c1", "heading": "C1", "scope": []}]}, "amendClauses"),
        ({"removeClauses": ["c1"], "addClauses": [clause("c1")]}, "removeClauses"),
        ({"title": "Code of conduct", "sources": [{"url": "https://example.org/report"}]}, "title"),
    ],
    ids=[
        "same-title",
        "same-text",
        "empty-amendment",
        "same-fields",
        "remove-readd",
        "same-source",
    ],
)
def test_a_revision_that_changes_nothing_is_refused_naming_what_it_gave(
    changes: dict[str, Any], field: str
) -> None:
    aggregate = _policy()
    command = validate(RevisePolicy, {**revision(**changes), "summary": "says nothing new"})
    with pytest.raises(NothingChanged) as refused:
        aggregate.revise(**command.payload())
    assert refused.value.field == field
    assert "changes nothing" in refused.value.reason
    assert aggregate.version == 1 and not aggregate.collect_events()[1:]


def test_a_revision_that_only_cites_a_new_source_or_reorders_clauses_is_a_change() -> None:
    aggregate = _policy(("revisePolicy", revision(addClauses=[clause("c2", "Be brief.")])))
    cited = revision(title="Code of conduct", sources=[{"url": "https://example.org/new"}])
    aggregate.revise(**validate(RevisePolicy, cited).payload())
    reorder = revision(removeClauses=["c1"], addClauses=[clause("c1")])
    aggregate.revise(**validate(RevisePolicy, reorder).payload())
    assert aggregate.version == 4
    assert [c.id for c in _at(aggregate, "2022-02-02T00:00:00+00:00").clauses] == ["c2", "c1"]


def test_a_retroactive_revision_is_judged_against_the_policy_at_its_effective_time() -> None:
    """The clause reads 'Be kind, always.' from February; the same text set in January, before
    that change, is a change; set again in March, after it, is not."""
    aggregate = _policy(("revisePolicy", revision()))
    same = [{"id": "c1", "text": "Be kind, always."}]
    aggregate.revise(
        **validate(
            RevisePolicy, revision(effective_at="2022-01-15T00:00:00+00:00", amendClauses=same)
        ).payload()
    )
    with pytest.raises(NothingChanged):
        aggregate.revise(
            **validate(
                RevisePolicy, revision(effective_at="2022-03-01T00:00:00+00:00", amendClauses=same)
            ).payload()
        )
    assert aggregate.version == 3


def test_a_revision_restoring_an_expired_clause_is_a_change() -> None:
    temporary = clause("c2", "For now.", expiresAt="2022-02-15T00:00:00+00:00")
    aggregate = _policy(("revisePolicy", revision(addClauses=[temporary])))
    again = revision(
        effective_at="2022-03-01T00:00:00+00:00", addClauses=[clause("c2", "For now.")]
    )
    aggregate.revise(**validate(RevisePolicy, again).payload())
    assert aggregate.version == 3
