"""A cited event must exist: the stream's latest version is read with one indexed select."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput
from timeline.application import Timeline

AT = "2022-03-01T00:00:00+00:00"


def statement(slug: str, cites: str) -> dict[str, object]:
    return {"id": slug, "actor": "acme", "text": "t", "effectiveAt": AT, "inResponseTo": [cites]}


def test_a_citation_beyond_the_stream_is_refused(timeline: Timeline) -> None:
    timeline.execute(
        "registerActor", {"id": "acme", "name": "Acme", "kind": "organisation", "effectiveAt": AT}
    )
    timeline.execute(
        "announcePolicy",
        {
            "id": "p",
            "title": "P",
            "owner": "acme",
            "effectiveAt": AT,
            "clauses": [{"id": "c1", "text": "one"}],
        },
    )
    with pytest.raises(InvalidInput, match="has no event 2") as refused:
        timeline.execute("recordStatement", statement("s1", "policy:p@2"))
    assert refused.value.field == "inResponseTo[0]"
    timeline.execute(
        "revisePolicy",
        {
            "id": "p",
            "effectiveAt": "2022-03-02T00:00:00+00:00",
            "addClauses": [{"id": "c2", "text": "two"}],
        },
    )
    assert timeline.execute("recordStatement", statement("s1", "policy:p@2")).version == 1
    with pytest.raises(InvalidInput, match="has no event 3"):
        timeline.execute("recordStatement", statement("s2", "policy:p@3"))
