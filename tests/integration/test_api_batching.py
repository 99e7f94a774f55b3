"""Dataloaders batch the nested reads: a page of policies with their responses and actor names
costs the same number of SQL statements for 10 policies as for 50 (real databases)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from api.context import Context
from api.schema import build_schema
from timeline.bootstrap import Services, bootstrap
from timeline.settings import Settings

PAGE = """query($first: Int) { policies(first: $first, validAt: "2022-03-15T00:00:00Z") {
  nodes { id title ownerActor { name } responses { id status authorityActor { name } } }
} }"""


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    """50 policies, each cited by one regulatory action, projected."""
    services = bootstrap(settings)
    timeline = services.timeline
    for slug, kind in (("meta", "organisation"), ("roskomnadzor", "authority")):
        timeline.register_actor(
            {
                "id": slug,
                "name": slug.title(),
                "kind": kind,
                "effectiveAt": "2021-01-01T00:00:00+00:00",
            }
        )
    for n in range(50):
        timeline.announce_policy(
            {
                "id": f"meta/policy-{n:02}",
                "title": f"Policy {n}",
                "owner": "meta",
                "clauses": [{"id": "c1", "text": "A clause."}],
                "effectiveAt": "2022-01-01T00:00:00+00:00",
            }
        )
        timeline.announce_regulatory_action(
            {
                "id": f"roskomnadzor/action-{n:02}",
                "authority": "roskomnadzor",
                "jurisdiction": "RU",
                "kind": "restriction",
                "inResponseTo": [f"policy:meta/policy-{n:02}"],
                "effectiveAt": "2022-03-01T00:00:00+00:00",
            }
        )
    services.projections.catch_up()
    try:
        yield services
    finally:
        services.close()


def statements_for(services: Services, first: int) -> tuple[int, dict[str, Any]]:
    """Run the page query in-process (no projector running) and count its SQL statements."""
    schema = build_schema(services.settings)
    count = 0
    lock = threading.Lock()

    def counted(*_: Any) -> None:
        nonlocal count
        with lock:
            count += 1

    engine = services.timeline.engine
    event.listen(engine, "before_cursor_execute", counted)
    try:
        outcome = asyncio.run(
            schema.execute(
                PAGE,
                variable_values={"first": first},
                context_value=Context(services, authorization=None),
            )
        )
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    assert outcome.errors is None, outcome.errors
    assert outcome.data is not None
    return count, outcome.data


def test_a_page_of_50_policies_with_responses_costs_no_more_statements_than_10(
    services: Services,
) -> None:
    ten, small = statements_for(services, 10)
    fifty, large = statements_for(services, 50)
    assert len(small["policies"]["nodes"]) == 10
    assert len(large["policies"]["nodes"]) == 50
    assert all(
        len(p["responses"]) == 1 and p["ownerActor"]["name"] == "Meta"
        for p in large["policies"]["nodes"]
    )
    assert large["policies"]["nodes"][7]["responses"][0]["authorityActor"]["name"] == "Roskomnadzor"
    # no statement per policy; the first page may also fetch clause texts the second finds cached
    assert 0 < fifty <= ten


def run_query(services: Services, query: str, **variables: Any) -> dict[str, Any]:
    outcome = asyncio.run(
        build_schema(services.settings).execute(
            query, variable_values=variables, context_value=Context(services, authorization=None)
        )
    )
    assert outcome.errors is None, outcome.errors
    assert outcome.data is not None
    return outcome.data


def test_every_edge_cursor_resumes_right_after_its_node(services: Services) -> None:
    for field, filters in (
        ("policies", ""),
        ("regulatoryActions", ""),
        ("timeline", '(from: "2022-01-01T00:00:00Z")'),
    ):
        args = f"first: 4{', ' + filters[1:-1] if filters else ''}"
        first = run_query(
            services,
            f"{{ {field}({args}) {{ edges {{ cursor node {{ id }} }} "
            "pageInfo { endCursor } } }",
        )[field]
        edges = first["edges"]
        assert len(edges) == 4
        assert edges[-1]["cursor"] == first["pageInfo"]["endCursor"]
        resumed = run_query(
            services,
            f"query($after: String) {{ {field}({args}, after: $after) {{ nodes {{ id }} }} }}",
            after=edges[1]["cursor"],
        )[field]
        assert [n["id"] for n in resumed["nodes"]][:2] == [e["node"]["id"] for e in edges[2:]]
