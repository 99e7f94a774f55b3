"""A bounded load run on loopback: mixed GraphQL reads and writes against a real server,
reporting throughput, latency and errors (which must be zero), and checking that the answers
for a past `knownAt` (taken just before the load) did not change while the load rewrote
the same policy retroactively.

    python tests/soak/soak.py --seconds 120 --concurrency 8   # starts `timeline serve --demo`
    python tests/soak/soak.py --url http://127.0.0.1:8000 --token pt_...  # a running server
    TIMELINE_DATABASE_URL=postgresql://... python tests/soak/soak.py   # on PostgreSQL

Exit status 0 only when no request failed and every past answer is unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, run as a script too
from support.servers import ServerProcess, running

POLICY = "meta/hate-speech"
ACTION = "roskomnadzor/instagram-restriction"
MARCH = [datetime(2022, 3, day, hour, tzinfo=UTC) for day in range(1, 31) for hour in (0, 15)]

#: The codes of an answer that says why there is none (docs/api.md): an answer, not a failure.
ABSENCES = {"NOT_IN_FORCE", "NOT_YET_KNOWN", "NOT_FOUND"}

#: Point-in-time questions asked at a past knownAt before and after the load.
PAST_QUERIES = {
    "policy": """query($k: DateTime, $v: DateTime) { policy(id: "meta/hate-speech",
        validAt: $v, knownAt: $k) { id title version text summary
        clauses { id heading text scope expiresAt } responses { id status } } }""",
    "policyOn": """query($k: DateTime) { policyOn(id: "meta/hate-speech", date: "2022-03-11",
        timeZone: "Europe/Moscow", knownAt: $k) { version validFrom validTo text } }""",
    "policyHistory": """query($k: DateTime) { policyHistory(id: "meta/hate-speech",
        knownAt: $k) { version validFrom validTo summary } }""",
    "regulatoryAction": """query($k: DateTime, $v: DateTime) {
        regulatoryAction(id: "roskomnadzor/instagram-restriction", validAt: $v, knownAt: $k)
        { id status summary } }""",
    "timeline": """query($k: DateTime) { timeline(knownAt: $k, first: 200) {
        totalCount nodes { __typename } } }""",
    "policies": """query($k: DateTime) { policies(knownAt: $k, first: 200) {
        totalCount nodes { id version } } }""",
}
READS = [
    (
        "policy",
        'query($v: DateTime) { policy(id: "meta/hate-speech", validAt: $v) '
        "{ id version text clauses { id text } } }",
    ),
    (
        "policyOn",
        'query($d: Date!) { policyOn(id: "meta/hate-speech", date: $d, '
        'timeZone: "Europe/Moscow") { version validFrom } }',
    ),
    ("policies", "{ policies(first: 50) { totalCount nodes { id title } } }"),
    (
        "regulatoryActions",
        "query($v: DateTime) { regulatoryActions(validAt: $v) { nodes { id status } } }",
    ),
    ("timeline", "{ timeline(first: 50) { nodes { __typename } pageInfo { endCursor } } }"),
    ("events", "query($a: String) { events(after: $a, first: 50) { nodes { id position } } }"),
    ("policyHistory", '{ policyHistory(id: "meta/hate-speech") { version validFrom } }'),
    ("logHead", "{ logHead { position hash } }"),
]
REVISE = "mutation($i: RevisePolicyInput!) { revisePolicy(input: $i) { position } }"
STATEMENT = "mutation($i: RecordStatementInput!) { recordStatement(input: $i) { position } }"
ACTOR = "mutation($i: RegisterActorInput!) { registerActor(input: $i) { position } }"


@dataclass
class Report:
    """What a run measured; `ok` when nothing failed and the past did not change."""

    seconds: float = 0.0
    reads: int = 0
    writes: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    past_answers_unchanged: bool = False
    changed: list[str] = field(default_factory=list)
    writes_logged: bool = False
    present_rewritten: bool = False

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.past_answers_unchanged and self.writes_logged

    def summary(self) -> str:
        total = self.reads + self.writes
        ms = sorted(x * 1000 for x in self.latencies) or [0.0]

        def pct(p: float) -> float:
            return ms[min(len(ms) - 1, int(p * len(ms)))]

        return "\n".join(
            [
                f"duration        {self.seconds:.1f} s",
                f"requests        {total} ({self.reads} reads, {self.writes} writes)",
                f"throughput      {total / max(self.seconds, 1e-9):.1f} req/s",
                f"latency ms      p50 {pct(0.5):.1f}  p95 {pct(0.95):.1f}  p99 {pct(0.99):.1f}  "
                f"mean {statistics.fmean(ms):.1f}",
                f"errors          {self.errors}"
                + (f"  e.g. {self.error_samples[:3]}" if self.errors else ""),
                f"past answers    {'unchanged' if self.past_answers_unchanged else 'CHANGED'}"
                + (f" {self.changed}" if self.changed else ""),
                f"writes logged   {'all' if self.writes_logged else 'MISSING'}",
                "retroactive     the policy as known now "
                f"{'differs' if self.present_rewritten else 'does not differ'} from the answer at "
                "the past knownAt",
                f"verdict         {'OK' if self.ok else 'FAILED'}",
            ]
        )


class Client:
    """One HTTP/1.1 keep-alive client posting GraphQL and timing each call."""

    def __init__(self, url: str, token: str, report: Report) -> None:
        self.http = httpx.AsyncClient(
            base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}
        )
        self.report = report

    async def call(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        counted: bool = True,
        absence_ok: bool = False,
    ) -> dict[str, Any] | None:
        """POST one GraphQL request; a failure is counted. With `absence_ok`, an answer that
        says why there is none (NOT_IN_FORCE, NOT_YET_KNOWN, NOT_FOUND) is an answer."""
        started = time.perf_counter()
        try:
            response = await self.http.post(
                "/graphql", json={"query": query, "variables": variables or {}}
            )
            body: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as error:
            self._fail(f"{type(error).__name__}: {error}")
            return None
        if counted:
            self.report.latencies.append(time.perf_counter() - started)
        codes = {e.get("extensions", {}).get("code") for e in body.get("errors") or ()}
        if absence_ok and response.status_code == 200 and codes <= ABSENCES:
            return body
        if response.status_code != 200 or body.get("errors"):
            self._fail(f"{response.status_code} {json.dumps(body.get('errors'))[:200]}")
            return None
        return body

    def _fail(self, what: str) -> None:
        self.report.errors += 1
        if len(self.report.error_samples) < 10:
            self.report.error_samples.append(what)

    async def close(self) -> None:
        await self.http.aclose()


async def past_answers(client: Client, known_at: str) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for name, query in PAST_QUERIES.items():
        for valid_at in ("2022-03-11T12:00:00+00:00", "2022-03-14T12:00:00+00:00"):
            body = await client.call(
                query,
                {"k": known_at, "v": valid_at} if "$v" in query else {"k": known_at},
                counted=False,
                absence_ok=True,
            )
            answers[f"{name}@{valid_at}"] = body and {
                "data": body["data"],
                "reasons": sorted(e["extensions"]["code"] for e in body.get("errors") or ()),
            }
    return answers


async def worker(
    number: int,
    client: Client,
    deadline: float,
    write_share: float,
    acknowledged: list[int],
    seed: int,
) -> None:
    """Reads and writes until the deadline. Worker 0 alone revises the demo policy
    retroactively (one writer per aggregate: no conflicts); the others add statements and
    actors of their own."""
    rng = random.Random(seed + number)
    n = 0
    while time.monotonic() < deadline:
        n += 1
        if rng.random() < write_share:
            query, data = write_of(number, n, rng)
            body = await client.call(query, {"i": data})
            client.report.writes += 1
            if body:
                acknowledged.append(next(iter(body["data"].values()))["position"])
        else:
            _, query = rng.choice(READS)
            variables: dict[str, Any] = {
                "v": rng.choice(MARCH).isoformat(),
                "d": rng.choice(MARCH).date().isoformat(),
                "a": str(rng.randint(0, 30)),
            }
            wanted = {k: v for k, v in variables.items() if f"${k}" in query}
            await client.call(query, wanted, absence_ok=True)  # "not in force then" is an answer
            client.report.reads += 1


def write_of(number: int, n: int, rng: random.Random) -> tuple[str, dict[str, Any]]:
    key = f"soak-{os.getpid()}-{number}-{n}"
    if number == 0 and n % 2:
        return REVISE, {
            "id": POLICY,
            "summary": f"soak revision {n}",
            "amendClauses": [{"id": "tier-1-attacks", "text": f"Amended under load ({n})."}],
            "effectiveAt": "2022-03-12T06:00:00+00:00",
            "idempotencyKey": key,
        }
    if rng.random() < 0.5:
        return STATEMENT, {
            "id": f"meta/{key}",
            "actor": "meta",
            "kind": "post",
            "text": f"load statement {n} " + "x" * rng.randint(0, 2000),
            "effectiveAt": rng.choice(MARCH).isoformat(),
            "inResponseTo": [f"policy:{POLICY}"],
            "idempotencyKey": key,
        }
    return ACTOR, {
        "id": key,
        "name": f"Load actor {n}",
        "kind": "person",
        "effectiveAt": rng.choice(MARCH).isoformat(),
        "idempotencyKey": key,
    }


async def soak(
    url: str,
    token: str,
    seconds: float,
    concurrency: int = 8,
    write_share: float = 0.3,
    seed: int = 2022,
) -> Report:
    """Run the load and the checks; the report says what happened."""
    report = Report()
    clients = [Client(url, token, report) for _ in range(concurrency)]
    try:
        await asyncio.sleep(0.01)
        known_at = (datetime.now(UTC) - timedelta(milliseconds=1)).isoformat()
        before = await past_answers(clients[0], known_at)
        head = await clients[0].call("{ logHead { position } }", counted=False)
        head_before = head["data"]["logHead"]["position"] if head else 0
        acknowledged: list[int] = []
        started = time.monotonic()
        await asyncio.gather(
            *(
                worker(i, c, started + seconds, write_share, acknowledged, seed)
                for i, c in enumerate(clients)
            )
        )
        report.seconds = time.monotonic() - started
        after = await past_answers(clients[0], known_at)
        report.changed = sorted(k for k in before if before[k] != after.get(k))
        report.past_answers_unchanged = not report.changed and all(before.values())
        now = await past_answers(clients[0], datetime.now(UTC).isoformat())
        report.present_rewritten = (
            now["policy@2022-03-14T12:00:00+00:00"] != before["policy@2022-03-14T12:00:00+00:00"]
        )
        report.writes_logged = await all_logged(clients[0], head_before, acknowledged)
    finally:
        for client in clients:
            await client.close()
    return report


async def all_logged(client: Client, after: int, acknowledged: list[int]) -> bool:
    """Every acknowledged write's position is in the log after the starting head."""
    seen: set[int] = set()
    cursor = str(after)
    while True:
        body = await client.call(
            "query($a: String) { events(after: $a, first: 200) "
            "{ nodes { position } pageInfo { hasNextPage endCursor } } }",
            {"a": cursor},
            counted=False,
        )
        if body is None:
            return False
        page = body["data"]["events"]
        seen.update(node["position"] for node in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            return set(acknowledged) <= seen
        cursor = page["pageInfo"]["endCursor"]


# -- a server of its own ------------------------------------------------------------------


def _timeline() -> str:
    return shutil.which("timeline", path=str(Path(sys.executable).parent)) or "timeline"


@contextmanager
def own_server(database_url: str | None = None) -> Iterator[tuple[str, str]]:
    """`timeline serve --demo` on a free port (a fresh SQLite file unless a URL is given),
    with a write token; yields (url, token) once /readyz answers 200."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "TIMELINE_DATABASE_URL": database_url or f"sqlite:///{Path(tmp) / 'soak.db'}",
        }
        token = subprocess.run(
            [_timeline(), "token", "create", "--scope", "write", "--name", "soak"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()
        server = ServerProcess(
            lambda port: [_timeline(), "serve", "--demo", "--port", str(port)],
            env=env,
            log_path=Path(tmp) / "server.log",
        )
        with running(server, timeout=120):
            _wait_ready(server.url)
            yield server.url, token


def _wait_ready(url: str) -> None:
    """Up is not ready: wait until the projections caught up with the demo (/readyz)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if httpx.get(url + "/readyz", timeout=5).status_code == 200:
            return
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load (<=300)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--write-share", type=float, default=0.3)
    parser.add_argument("--url", help="a running server (else one is started)")
    parser.add_argument("--token", help="a write token for --url")
    parser.add_argument("--database-url", help="database of the started server")
    args = parser.parse_args(argv)
    seconds = min(args.seconds, 300.0)
    if args.url:
        if not args.token:
            parser.error("--url needs --token (timeline token create --scope write)")
        report = asyncio.run(
            soak(args.url, args.token, seconds, args.concurrency, args.write_share)
        )
    else:
        with own_server(args.database_url) as (url, token):
            report = asyncio.run(soak(url, token, seconds, args.concurrency, args.write_share))
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
