"""The document limits are computed once per fragment (linear in the document) and the
document cache is bounded by bytes, not entries."""

from __future__ import annotations

from graphql import GraphQLError, parse

from api.document_limits import DocumentCache, DocumentTooLarge, Limits, measure
from api.schema import build_schema

LIMITS = Limits(
    max_depth=12,
    max_aliases=30,
    max_cost=10**30,
    max_repeated_fields=10,
    default_page_size=50,
    max_page_size=200,
)


def chain(levels: int) -> str:
    parts = ["fragment G1 on Query { logHead { position } }"]
    parts += [f"fragment G{n} on Query {{ ...G{n - 1} ...G{n - 1} }}" for n in range(2, levels + 1)]
    return " ".join(parts) + f" query {{ ...G{levels} }}"


def test_a_fragment_chain_is_measured_exactly_without_expanding_it() -> None:
    schema = build_schema()._schema
    # logHead (1) + position (1) = 2 per copy, 2^(n-1) copies: 2^n, for a 90-level chain too
    # (expanding it would take longer than the universe has existed)
    for levels in (1, 10, 90):
        (figures,) = measure(schema, parse(chain(levels)), LIMITS)
        assert figures.cost == 2**levels
        assert figures.depth == 1


def test_list_fields_multiply_by_the_page_they_ask_for() -> None:
    schema = build_schema()._schema
    query = "query($n: Int) { events(first: $n) { nodes { id } } }"
    (small,) = measure(schema, parse(query), LIMITS, {"n": 2})
    (default,) = measure(schema, parse(query), LIMITS, {})
    (huge,) = measure(schema, parse(query), LIMITS, {"n": 10**9})  # clamped to the page limit
    assert small.cost == 1 + 2 * 2
    assert default.cost == 1 + 50 * 2
    assert huge.cost == 1 + 200 * 2


def test_a_cost_over_the_limit_names_it() -> None:
    schema = build_schema()._schema
    limits = Limits(12, 30, 1000, 10, 50, 200)
    try:
        measure(schema, parse(chain(12)), limits)
    except DocumentTooLarge as refusal:
        assert refusal.limit == "maxCost" and "4096" in refusal.message
    else:
        raise AssertionError("a cost of 4096 passed a limit of 1000")


def test_the_document_cache_is_bounded_by_bytes() -> None:
    cache = DocumentCache(total_bytes=1_000_000, entry_bytes=200_000)
    document = parse("{ logHead { position } }")
    no_errors: list[GraphQLError] = []
    for n in range(512):  # 512 distinct ~10 KB documents
        cache.put(f"# {n}\n" + "x" * 10_000, document, no_errors)
    assert cache.used <= 1_000_000
    assert sum(len(q) * DocumentCache.AST_FACTOR for q in cache.entries) == cache.used
    cache.put("y" * 100_000, document, no_errors)  # over the per-entry maximum: not kept
    assert "y" * 100_000 not in cache.entries
