"""The graphql-http audit (the GraphQL-over-HTTP spec's own test suite, npm `graphql-http`)
against the real server: every MUST, SHOULD and MAY check passes, no warnings."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from support import node
from test_api_server import ApiServer, default_server

pytestmark = pytest.mark.e2e

AUDIT = """
const { auditServer } = require('graphql-http');
auditServer({ url: process.argv[process.argv.length - 1] }).then((results) => {
  console.log(JSON.stringify(results.map((r) => ({
    id: r.id, name: r.name, status: r.status, reason: r.reason || null,
  }))));
});
"""


@pytest.fixture(name="api")
def api_fixture(sqlite_url: str) -> Iterator[ApiServer]:
    yield from default_server(sqlite_url)


def test_the_graphql_http_audit_passes_without_warnings(api: ApiServer) -> None:
    modules = node.packages("graphql-http@1.22.4", "graphql@16.9.0")
    run = node.run_script(AUDIT, api.url + "/graphql", modules=modules)
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert len(results) >= 50  # the audit ran its checks
    assert [r for r in results if r["status"] != "ok"] == []
