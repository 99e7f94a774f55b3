"""A seeded, reproducible history of the kind the service keeps: policies with clauses that are
revised (some retroactively), corrected and retracted, and regulatory actions citing them.

`History(seed).commands()` yields `(wire name, data)` pairs for `Timeline.execute`, one event
each. Policies live for about `events_per_policy` events and then retire, so a history of N
events holds about N / events_per_policy policies and each policy's own history is the same
size at every N: what grows is the total, which is what a lookup must not feel. A few
policies (`window`) are written at once, so that even a 1k history holds finished policies.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Command = tuple[str, dict[str, Any]]

JURISDICTIONS = (
    "RU",
    "UA",
    "DE",
    "FR",
    "US",
    "GB",
    "IN",
    "BR",
    "TR",
    "JP",
    "PL",
    "EU",
    "KZ",
    "ID",
    "NG",
    "AU",
    "CA",
    "MX",
    "KR",
    "ZA",
)
ACTION_KINDS = ("restriction", "block", "fine", "designation", "investigation")
WORDS = (
    "content",
    "users",
    "violent",
    "speech",
    "accounts",
    "removed",
    "platform",
    "context",
    "review",
    "appeal",
    "policy",
    "allowed",
    "except",
    "threat",
    "public",
    "figure",
    "news",
    "reporting",
    "satire",
    "credible",
    "incitement",
    "region",
    "temporary",
    "enforcement",
    "label",
    "warning",
    "restricted",
    "minors",
    "advertising",
    "election",
)
EPOCH = datetime(2012, 1, 1, tzinfo=UTC)
#: Share of each kind of event in the stream (the rest are forward revisions of policies).
MIX = {"action": 0.07, "lift": 0.02, "retroactive": 0.09, "correction": 0.08, "retraction": 0.03}


@dataclass
class PolicyPlan:
    """What the generator knows of one policy: enough to emit only commands that fold."""

    slug: str
    owner: str
    quota: int
    version: int = 0
    announced: datetime = EPOCH
    latest: datetime = EPOCH
    clauses: list[str] = field(default_factory=list)  # removable (added) clauses
    next_clause: int = 0
    facts: list[int] = field(default_factory=list)  # correctable versions
    retractable: list[int] = field(default_factory=list)  # text-only changes of base clauses


@dataclass
class ActionPlan:
    slug: str
    in_effect: datetime


class History:
    """The command stream of one seeded history; `prefix` keeps concurrent writers apart."""

    BASE_CLAUSES = ("scope", "prohibited", "enforcement")

    def __init__(
        self,
        seed: int = 7,
        *,
        prefix: str = "",
        events_per_policy: int = 100,
        window: int = 4,
        policies_per_owner: int = 10,
    ) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.events_per_policy = events_per_policy
        self.window = window
        self.policies_per_owner = policies_per_owner
        self.active: list[PolicyPlan] = []
        self.retired: list[PolicyPlan] = []
        self.actions: list[ActionPlan] = []
        self.action_count = 0
        self.owners: set[str] = set()
        self.policies = 0
        self.emitted = 0
        self.authorities = [f"{prefix}authority-{code.lower()}" for code in JURISDICTIONS]

    def finished(self) -> list[str]:
        """Slugs of the policies whose whole history has been emitted."""
        return [p.slug for p in self.retired]

    # -- the stream ----------------------------------------------------------------------------

    def commands(self) -> Iterator[Command]:
        """An endless stream; take as many as the history should hold."""
        for slug, code in zip(self.authorities, JURISDICTIONS, strict=True):
            yield self._emit(
                "registerActor",
                {
                    "id": slug,
                    "name": f"Regulator of {code}",
                    "kind": "authority",
                    "effectiveAt": _instant(EPOCH),
                },
            )
        while True:
            yield self._next()

    def _emit(self, name: str, data: dict[str, Any]) -> Command:
        self.emitted += 1
        return name, data

    def _next(self) -> Command:
        roll = self.rng.random()
        known = self.active + self.retired
        if roll < MIX["action"] and any(p.version for p in known):
            return self._announce_action(known)
        roll -= MIX["action"]
        if roll < MIX["lift"] and self.actions:
            return self._lift()
        policy = self._policy()
        if policy.version == 0:
            return self._announce(policy)
        if policy.version >= policy.quota:
            self.active.remove(policy)
            self.retired.append(policy)
            if self.rng.random() < 0.2:
                return self._withdraw(policy)
            return self._next()
        roll = self.rng.random()
        for kind in ("retroactive", "correction", "retraction"):
            if roll < MIX[kind]:
                made: Command | None = getattr(self, f"_{kind}")(policy)
                if made is not None:
                    return made
                break
            roll -= MIX[kind]
        return self._revise(policy)

    def _policy(self) -> PolicyPlan:
        if len(self.active) < self.window:
            owner_index = self.policies // self.policies_per_owner
            self.policies += 1
            quota = max(5, int(self.rng.gauss(self.events_per_policy, self.events_per_policy / 4)))
            plan = PolicyPlan(
                f"{self.prefix}org-{owner_index}/policy-{self.policies}",
                f"{self.prefix}org-{owner_index}",
                quota,
            )
            self.active.append(plan)
            return plan
        return self.rng.choice(self.active)

    # -- policies ------------------------------------------------------------------------------

    def _announce(self, policy: PolicyPlan) -> Command:
        if policy.owner not in self.owners:
            self.owners.add(policy.owner)
            self.active.remove(policy)  # announce it on the next turn, after its owner exists
            self.active.insert(0, policy)
            return self._emit(
                "registerActor",
                {
                    "id": policy.owner,
                    "name": f"Organisation {policy.owner}",
                    "kind": "organisation",
                    "effectiveAt": _instant(EPOCH),
                },
            )
        at = EPOCH + timedelta(days=self.rng.uniform(0, 3650))
        policy.announced = policy.latest = at
        policy.version = 1
        policy.facts.append(1)
        return self._emit(
            "announcePolicy",
            {
                "id": policy.slug,
                "title": self._words(4).title(),
                "owner": policy.owner,
                "summary": self._words(20),
                "clauses": [self._clause(cid) for cid in self.BASE_CLAUSES],
                "effectiveAt": _instant(at),
                "sources": [self._source(at)],
            },
        )

    def _revise(self, policy: PolicyPlan) -> Command:
        at = policy.latest + timedelta(hours=self.rng.uniform(1, 24 * 30))
        data: dict[str, Any] = {
            "id": policy.slug,
            "summary": self._words(15),
            "effectiveAt": _instant(at),
            "announcedAt": _instant(at + timedelta(hours=self.rng.uniform(-48, 48))),
        }
        roll = self.rng.random()
        text_only = False
        if roll < 0.35 or not policy.clauses:
            policy.next_clause += 1
            clause_id = f"c{policy.next_clause}"
            policy.clauses.append(clause_id)
            data["addClauses"] = [self._clause(clause_id)]
        elif roll < 0.55 and len(policy.clauses) > 2:
            removed = policy.clauses.pop(self.rng.randrange(len(policy.clauses)))
            data["removeClauses"] = [removed]
        elif roll < 0.8:
            data["amendClauses"] = [
                {"id": self.rng.choice(policy.clauses), "text": self._words(60)}
            ]
        else:
            data["amendClauses"] = [
                {"id": self.rng.choice(self.BASE_CLAUSES), "text": self._words(60)}
            ]
            text_only = True
        policy.latest = at
        return self._changed(policy, "revisePolicy", data, text_only)

    def _retroactive(self, policy: PolicyPlan) -> Command | None:
        """A revision recorded now but effective in the past: amends a base clause, which
        exists at every moment of the policy's life, so the history still folds."""
        if policy.latest <= policy.announced:
            return None
        span = (policy.latest - policy.announced).total_seconds()
        at = policy.announced + timedelta(seconds=self.rng.uniform(1, span))
        data = {
            "id": policy.slug,
            "summary": "Retroactive: " + self._words(10),
            "amendClauses": [{"id": self.rng.choice(self.BASE_CLAUSES), "text": self._words(60)}],
            "effectiveAt": _instant(at),
        }
        return self._changed(policy, "revisePolicy", data, text_only=True)

    def _changed(
        self, policy: PolicyPlan, name: str, data: dict[str, Any], text_only: bool
    ) -> Command:
        policy.version += 1
        policy.facts.append(policy.version)
        if text_only:
            policy.retractable.append(policy.version)
        return self._emit(name, data)

    def _correction(self, policy: PolicyPlan) -> Command | None:
        target = self.rng.choice(policy.facts)
        policy.version += 1
        return self._emit(
            "correctEvent",
            {
                "event": f"policy:{policy.slug}@{target}",
                "changes": {"summary": "Corrected: " + self._words(12)},
                "reason": "the summary misquoted the source",
            },
        )

    def _retraction(self, policy: PolicyPlan) -> Command | None:
        if not policy.retractable:
            return None
        target = policy.retractable.pop(self.rng.randrange(len(policy.retractable)))
        policy.facts.remove(target)
        policy.version += 1
        return self._emit(
            "retractEvent",
            {
                "event": f"policy:{policy.slug}@{target}",
                "reason": "reported in error: the change never happened",
            },
        )

    def _withdraw(self, policy: PolicyPlan) -> Command:
        at = policy.latest + timedelta(days=self.rng.uniform(1, 90))
        policy.version += 1
        return self._emit(
            "withdrawPolicy",
            {"id": policy.slug, "summary": "Withdrawn.", "effectiveAt": _instant(at)},
        )

    # -- regulatory actions --------------------------------------------------------------------

    def _announce_action(self, known: list[PolicyPlan]) -> Command:
        cited = self.rng.choice([p for p in known if p.version])
        index = self.rng.randrange(len(self.authorities))
        effective = cited.latest + timedelta(hours=self.rng.uniform(1, 240))
        announced = effective - timedelta(hours=self.rng.uniform(0, 72))
        self.action_count += 1
        slug = f"{self.authorities[index]}/action-{self.action_count}"
        self.actions.append(ActionPlan(slug, effective))
        return self._emit(
            "announceRegulatoryAction",
            {
                "id": slug,
                "authority": self.authorities[index],
                "jurisdiction": JURISDICTIONS[index],
                "targets": [cited.owner],
                "kind": self.rng.choice(ACTION_KINDS),
                "summary": self._words(12),
                "text": self._words(50),
                "inResponseTo": [f"policy:{cited.slug}@{self.rng.randint(1, cited.version)}"],
                "effectiveAt": _instant(effective),
                "announcedAt": _instant(announced),
                "sources": [self._source(announced)],
            },
        )

    def _lift(self) -> Command:
        action = self.actions.pop(self.rng.randrange(len(self.actions)))
        at = action.in_effect + timedelta(days=self.rng.uniform(1, 400))
        return self._emit(
            "liftRegulatoryAction",
            {"id": action.slug, "summary": "Lifted.", "effectiveAt": _instant(at)},
        )

    # -- text ----------------------------------------------------------------------------------

    def _words(self, n: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(n))

    def _clause(self, clause_id: str) -> dict[str, Any]:
        scope = sorted(self.rng.sample(JURISDICTIONS, self.rng.randint(0, 3)))
        return {
            "id": clause_id,
            "heading": self._words(3).capitalize(),
            "text": self._words(60),
            "scope": scope,
        }

    def _source(self, at: datetime) -> dict[str, Any]:
        return {
            "url": f"https://news.example.org/{self.rng.getrandbits(40):x}",
            "title": self._words(6),
            "publisher": "Example News",
            "publishedAt": _instant(at),
        }


def _instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")
