"""The demo data set: Meta, Instagram and Russia, February-March 2022, as the domain's commands.

Encodes `shared/facts/march-2022.md` in the project's own words, with the public reporting as
sources. Every command carries an idempotency key (`demo:<n>`), so `load_demo` can run on every
start (`timeline serve --demo`) and adds nothing the second time.

How the uncertain instants are recorded (see docs/time-model.md):
- Actors are registered as of 2021-01-01 UTC, the start of this data set, not their founding;
  only the rename of Facebook, Inc. to Meta Platforms, Inc. (2021-10-28) is dated.
- The Hate Speech baseline is recorded as in force from 2022-01-01 UTC (the policy is older).
- The allowance's own effective date is not public ("in force on or before 10 March"): it is
  recorded as effective 2022-03-10T00:00Z with the Reuters report as its source; a later
  correction can move it without rewriting what was said before.
- Facts dated only to a day take 00:00 local time of the actor (MSK = +03:00; UTC for Meta's
  internal post of 13 March). "Evening" times are approximate: the Reuters report at 18:00 UTC,
  Andy Stone's post after it at 20:00 UTC, Roskomnadzor's announcement at 19:00 MSK.
"""

from __future__ import annotations

from typing import Any, Protocol

from timeline.store import CommandResult

MSK = "+03:00"
PT = "-08:00"  # Pacific Standard Time: the US moved to daylight time only on 13 March 2022

ALLOWANCE_SCOPE = ["AM", "AZ", "EE", "GE", "HU", "LV", "LT", "PL", "RO", "RU", "SK", "UA"]

#: Slugs that clients, tests and docs refer to.
POLICY = "meta/hate-speech"
ALLOWANCE_CLAUSE = "russia-ukraine-allowance"
BASELINE_CLAUSE = "tier-1-attacks"
INSTAGRAM_RESTRICTION = "roskomnadzor/instagram-restriction"
FACEBOOK_RESTRICTION = "roskomnadzor/facebook-slowdown"
FACEBOOK_BLOCK = "roskomnadzor/facebook-block"
PROSECUTOR_REQUEST = "prosecutor-general-ru/meta-extremism-request"

# -- sources ---------------------------------------------------------------------------------

_META_RENAME = {
    "url": "https://about.fb.com/news/2021/10/facebook-company-is-now-meta/",
    "title": "Introducing Meta: A Social Technology Company",
    "publisher": "Meta Newsroom",
    "publishedAt": "2021-10-28T00:00:00-07:00",
}
_HATE_SPEECH_STANDARD = {
    "url": "https://transparency.fb.com/policies/community-standards/hate-speech/",
    "title": "Hate Speech (Community Standards)",
    "publisher": "Meta Transparency Center",
}
_REUTERS = {
    "url": "https://www.reuters.com/world/europe/exclusive-facebook-instagram-temporarily-allow-"
    "calls-violence-against-russians-2022-03-10/",
    "title": "Exclusive: Facebook, Instagram temporarily allow calls for violence against Russians",
    "publisher": "Reuters",
    "publishedAt": "2022-03-10T18:00:00+00:00",
    "quote": "spirit-of-the-policy allowance",
}
_BUSINESS_STANDARD = {
    "url": "https://www.business-standard.com/article/international/ukraine-crisis-russia-puts-"
    "partial-restriction-on-facebook-access-122022501602_1.html",
    "title": "Ukraine crisis: Russia puts partial restriction on Facebook access",
    "publisher": "Business Standard",
}
_MONOCLE = {
    "url": "https://monocle.ru/2022/03/4/rkn-zablokiroval-facebook-v-rossii",
    "title": "Roskomnadzor blocked Facebook in Russia (title translated)",
    "publisher": "Monocle.ru",
}
_DIGITAL_POLICY_ALERT = {
    "url": "https://digitalpolicyalert.org/event/3727",
    "title": "Russia: Roskomnadzor blocks access to Facebook",
    "publisher": "Digital Policy Alert",
}
_TRT_WORLD = {
    "url": "https://www.trtworld.com/",
    "title": "Report quoting Andy Stone's post on the temporary allowance",
    "publisher": "TRT World",
    "quote": "death to the Russian invaders",
}
_REGNUM = {
    "url": "https://regnum.ru/news/3530465",
    "title": "Prosecutor General's Office asks to restrict Instagram and to recognise Meta "
    "as extremist",
    "publisher": "Regnum",
    "publishedAt": f"2022-03-11T15:22:00{MSK}",
}
_RBC = {
    "url": "https://www.rbc.ru/technology_and_media/11/03/2022/622b82ea9a794703dac5672b",
    "title": "Roskomnadzor to restrict access to Instagram",
    "publisher": "RBC",
    "publishedAt": f"2022-03-11T19:00:00{MSK}",
}
_META_NEWSROOM = {
    "url": "https://about.fb.com/news/2022/02/metas-ongoing-efforts-regarding-russias-invasion-"
    "of-ukraine/",
    "title": "Meta's Ongoing Efforts Regarding Russia's Invasion of Ukraine",
    "publisher": "Meta Newsroom",
}
_BLOOMBERG = {
    "url": "https://www.bloomberg.com/news/articles/2022-03-14/facebook-parent-says-users-can-t-"
    "post-calls-to-assassinate-putin",
    "title": "Facebook parent says users can't post calls to assassinate Putin",
    "publisher": "Bloomberg",
    "quote": "never to be interpreted as condoning violence against Russians in general",
}
_PULSE = {
    "url": "https://pulse.internetsociety.org/shutdowns/incremental-service-limitation-in-russia",
    "title": "Incremental service limitation in Russia",
    "publisher": "Internet Society Pulse",
}

# -- texts, in the project's own words ---------------------------------------------------

_BASELINE_TEXT = (
    "Direct attacks on people because of protected characteristics, national origin among them, "
    "are not allowed. The most severe tier, violent speech and calls for violence against such "
    "people, is removed wherever it is posted."
)
_ALLOWANCE_TEXT = (
    "Violent speech of the most severe tier that this policy would otherwise remove is allowed "
    "when it targets Russian soldiers (prisoners of war excepted), or Russians where the context "
    "is plainly the invasion of Ukraine. Attacks on Russians as such stay prohibited. Calls for "
    "the death of the Russian or Belarusian head of state are allowed in some countries unless "
    "they name other targets or carry two signs of credibility."
)
_NARROWED_TEXT = (
    "Violent speech of the most severe tier that this policy would otherwise remove is allowed "
    "only in Ukraine and only about the invasion of Ukraine, when it targets Russian soldiers "
    "(prisoners of war excepted). The allowance never condones violence against Russians in "
    "general, and calls for the death of a head of state are not allowed."
)
_FACEBOOK_SLOWDOWN_TEXT = (
    "Roskomnadzor slows access to Facebook after Meta restricted the accounts of four Russian "
    "media outlets on 24 February."
)
_FACEBOOK_BLOCK_TEXT = (
    "Roskomnadzor blocks Facebook, citing 26 cases in which it says Russian media were "
    "discriminated against on the platform."
)
_PROSECUTOR_TEXT = (
    "The Prosecutor General asks Roskomnadzor to restrict Instagram and a court to designate Meta "
    "an extremist organisation, over the allowance for violent speech against Russians."
)
_INSTAGRAM_TEXT = (
    "Roskomnadzor announces that access to Instagram will be restricted, the procedure completing "
    "at 00:00 MSK on 14 March to leave users a 48-hour transition period. It says that on 11 March "
    "Meta allowed calls for violence against Russian citizens."
)
_STONE_TEXT = (
    "Meta has temporarily allowed some forms of political expression that would normally break its"
    " rules, such as violent speech against the Russian invaders; credible calls for violence "
    "against Russian civilians remain forbidden."
)
_CLEGG_TEXT = (
    "Meta narrows the allowance in public: the policy will be applied only in Ukraine itself, and "
    "Meta says it has no quarrel with the Russian people."
)
_MOSSERI_TEXT = (
    "Instagram will be blocked in Russia on Monday, cutting 80 million people off from one "
    "another; Mosseri calls the decision wrong."
)

# -- the commands ----------------------------------------------------------------------------

_START = "2021-01-01T00:00:00+00:00"


def _actor(
    slug: str, name: str, kind: str, parent: str | None = None
) -> tuple[str, dict[str, Any]]:
    data: dict[str, Any] = {"id": slug, "name": name, "kind": kind, "effectiveAt": _START}
    if parent:
        data["parent"] = parent
    return "registerActor", data


_ACTORS: list[tuple[str, dict[str, Any]]] = [
    _actor("meta", "Facebook, Inc.", "organisation"),
    (
        "renameActor",
        {
            "id": "meta",
            "name": "Meta Platforms, Inc.",
            "effectiveAt": "2021-10-28T00:00:00-07:00",
            "sources": [_META_RENAME],
        },
    ),
    _actor("facebook", "Facebook", "platform", parent="meta"),
    _actor("instagram", "Instagram", "platform", parent="meta"),
    _actor("whatsapp", "WhatsApp", "platform", parent="meta"),
    _actor("roskomnadzor", "Roskomnadzor", "authority"),
    _actor("prosecutor-general-ru", "Prosecutor General of Russia", "authority"),
    _actor("andy-stone", "Andy Stone", "person", parent="meta"),
    _actor("nick-clegg", "Nick Clegg", "person", parent="meta"),
    _actor("adam-mosseri", "Adam Mosseri", "person", parent="instagram"),
]

_POLICY: list[tuple[str, dict[str, Any]]] = [
    (
        "announcePolicy",
        {
            "id": POLICY,
            "title": "Hate Speech",
            "owner": "meta",
            "summary": "Meta's Community Standard on hate speech, as in force when this data set "
            "begins (the policy itself is older).",
            "clauses": [
                {
                    "id": BASELINE_CLAUSE,
                    "heading": "Attacks on people for who they are",
                    "text": _BASELINE_TEXT,
                }
            ],
            "effectiveAt": "2022-01-01T00:00:00+00:00",
            "sources": [_HATE_SPEECH_STANDARD],
        },
    ),
    (
        "revisePolicy",
        {
            "id": POLICY,
            "summary": "A temporary spirit-of-the-policy allowance for violent speech about the "
            "invasion of Ukraine, in twelve countries. Its own effective date is not public: it "
            "was in force on or before 10 March, when Reuters reported it.",
            "addClauses": [
                {
                    "id": ALLOWANCE_CLAUSE,
                    "heading": "Temporary allowance: the invasion of Ukraine",
                    "text": _ALLOWANCE_TEXT,
                    "scope": ALLOWANCE_SCOPE,
                }
            ],
            "effectiveAt": "2022-03-10T00:00:00+00:00",
            "announcedAt": "2022-03-10T18:00:00+00:00",
            "sources": [_REUTERS],
        },
    ),
    (
        "revisePolicy",
        {
            "id": POLICY,
            "summary": "The allowance narrowed: Ukraine only, speech about the invasion only, and "
            "no calls for the death of a head of state. Posted internally on 13 March, reported "
            "on 14 March.",
            "amendClauses": [
                {
                    "id": ALLOWANCE_CLAUSE,
                    "text": _NARROWED_TEXT,
                    "scope": ["UA"],
                }
            ],
            "effectiveAt": "2022-03-13T00:00:00+00:00",
            "announcedAt": "2022-03-14T00:00:00+00:00",
            "sources": [_BLOOMBERG],
        },
    ),
]

_ACTIONS: list[tuple[str, dict[str, Any]]] = [
    (
        "announceRegulatoryAction",
        {
            "id": FACEBOOK_RESTRICTION,
            "authority": "roskomnadzor",
            "jurisdiction": "RU",
            "targets": ["facebook"],
            "kind": "restriction",
            "summary": "Partial restriction (slow-down) of Facebook in Russia.",
            "text": _FACEBOOK_SLOWDOWN_TEXT,
            "effectiveAt": f"2022-02-25T00:00:00{MSK}",
            "sources": [_BUSINESS_STANDARD],
        },
    ),
    (
        "announceRegulatoryAction",
        {
            "id": FACEBOOK_BLOCK,
            "authority": "roskomnadzor",
            "jurisdiction": "RU",
            "targets": ["facebook"],
            "kind": "block",
            "summary": "Full block of Facebook in Russia.",
            "text": _FACEBOOK_BLOCK_TEXT,
            "effectiveAt": f"2022-03-04T00:00:00{MSK}",
            "sources": [_MONOCLE, _DIGITAL_POLICY_ALERT],
        },
    ),
    (
        "announceRegulatoryAction",
        {
            "id": PROSECUTOR_REQUEST,
            "authority": "prosecutor-general-ru",
            "jurisdiction": "RU",
            "targets": ["meta", "instagram"],
            "kind": "investigation",
            "summary": "Request to restrict Instagram and to have Meta designated an extremist "
            "organisation; a criminal case opened the same day.",
            "text": _PROSECUTOR_TEXT,
            "inResponseTo": [f"policy:{POLICY}@2"],
            "effectiveAt": f"2022-03-11T15:22:00{MSK}",
            "sources": [_REGNUM],
        },
    ),
    (
        "announceRegulatoryAction",
        {
            "id": INSTAGRAM_RESTRICTION,
            "authority": "roskomnadzor",
            "jurisdiction": "RU",
            "targets": ["instagram"],
            "kind": "restriction",
            "summary": "Instagram to be restricted in Russia after a 48-hour transition period.",
            "text": _INSTAGRAM_TEXT,
            "inResponseTo": [f"policy:{POLICY}@2", f"regulatory-action:{PROSECUTOR_REQUEST}"],
            "announcedAt": f"2022-03-11T19:00:00{MSK}",
            "effectiveAt": f"2022-03-14T00:00:00{MSK}",
            "sources": [_RBC, _PULSE],
        },
    ),
]

_STATEMENTS: list[tuple[str, dict[str, Any]]] = [
    (
        "recordStatement",
        {
            "id": "andy-stone/2022-03-10-temporary-allowances",
            "actor": "andy-stone",
            "kind": "post",
            "summary": "Meta confirms temporary allowances for violent political speech about the "
            "invasion, while still not allowing credible calls for violence against Russian "
            "civilians.",
            "text": _STONE_TEXT,
            "inResponseTo": [f"policy:{POLICY}@2"],
            "effectiveAt": "2022-03-10T20:00:00+00:00",
            "sources": [_TRT_WORLD],
        },
    ),
    (
        "recordStatement",
        {
            "id": "nick-clegg/2022-03-11-ukraine-only",
            "actor": "nick-clegg",
            "kind": "blog-post",
            "summary": "The allowance will only be applied in Ukraine itself.",
            "text": _CLEGG_TEXT,
            "inResponseTo": [f"policy:{POLICY}@2"],
            "effectiveAt": f"2022-03-11T15:30:00{PT}",
            "sources": [{**_META_NEWSROOM, "quote": "We have no quarrel with the Russian people"}],
        },
    ),
    (
        "recordStatement",
        {
            "id": "adam-mosseri/2022-03-11-instagram-blocked",
            "actor": "adam-mosseri",
            "kind": "post",
            "summary": "The head of Instagram calls the coming block in Russia wrong.",
            "text": _MOSSERI_TEXT,
            "inResponseTo": [f"regulatory-action:{INSTAGRAM_RESTRICTION}"],
            "effectiveAt": f"2022-03-11T16:00:00{PT}",
            "sources": [{**_META_NEWSROOM, "quote": "This is wrong."}],
        },
    ),
]


def _keyed(commands: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, {**data, "idempotencyKey": f"demo:{n}"})
        for n, (name, data) in enumerate(commands, start=1)
    ]


#: The demo as (wire command name, camelCase input) pairs, in the order they must run.
DEMO_COMMANDS: list[tuple[str, dict[str, Any]]] = _keyed(
    [*_ACTORS, *_POLICY, *_ACTIONS, *_STATEMENTS]
)


class Executes(Protocol):
    """What `load_demo` needs: `Timeline.execute` and the log head."""

    def execute(self, name: str, data: dict[str, Any]) -> CommandResult: ...

    def head_position(self) -> int: ...


def load_demo(timeline: Executes) -> int:
    """Run every demo command; returns how many events this call added (0 the second time)."""
    head = timeline.head_position()
    results = [timeline.execute(name, data) for name, data in DEMO_COMMANDS]
    return sum(1 for result in results if result.position > head)
