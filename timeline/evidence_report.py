"""The printable HTML report of an evidence bundle (what a paralegal prints): the text in
force, the sources, the events, the signed head and the citation line. One Jinja2 template
(timeline/templates/evidence.html), autoescaped, with its stylesheet inline: no external
asset, so the file opens and prints the same anywhere, offline."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

#: Answer fields shown in the report's own sections, not in its table of facts.
_SECTIONS = {"clauses", "text", "sources", "slug"}


@cache
def _environment() -> Environment:
    directory = str(files("timeline") / "templates")
    return Environment(loader=FileSystemLoader(directory), autoescape=select_autoescape(["html"]))


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def render(bundle: dict[str, Any]) -> str:
    """The report of `bundle` (as timeline/evidence.py builds it) as one HTML document."""
    question = bundle["question"]
    answer = bundle.get("answer")
    facts = (
        []
        if answer is None
        else [
            (name.replace("_", " "), _shown(value))
            for name, value in answer.items()
            if name not in _SECTIONS
        ]
    )
    sources: dict[str, dict[str, Any]] = {}
    for source in (answer or {}).get("sources") or ():
        sources.setdefault(source["url"], source)
    for event in bundle["events"]:
        for source in event["sources"]:
            sources.setdefault(source["url"], source)
    basis = (
        f"as known at {question['knownAt']}"
        if question.get("knownAt")
        else f"as known right after log position {bundle['head']['position']}"
    )
    title = (answer or {}).get("title") or f"{question['kind']} {question['id']}"
    return (
        _environment()
        .get_template("evidence.html")
        .render(
            bundle=bundle,
            q=question,
            answer=answer,
            facts=facts,
            sources=list(sources.values()),
            basis=basis,
            title=title,
        )
    )
