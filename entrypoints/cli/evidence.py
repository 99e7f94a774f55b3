"""CLI commands: `timeline evidence` writes an evidence bundle (and its printable report);
`timeline verify-evidence` checks one offline, with no database and no server, and proves
with `--consistent-with` that the log only grew since a head saved earlier (docs/evidence.md).

The verifier imports only timeline/evidence_check.py (the domain, RFC 9162 hashing and
Ed25519): a bundle is checked on a machine that has no database at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from domain.errors import InvalidInput
from domain.values import check_slug
from entrypoints.cli.console import INSTANT_HELP, parse_instant

#: Exit code when a bundle, a head or a consistency proof does not verify (as `verify`'s).
EXIT_UNVERIFIED = 5


def register(app: typer.Typer) -> None:
    """Add `timeline evidence` and `timeline verify-evidence` to the root app."""
    app.command("evidence")(evidence)
    app.command("verify-evidence")(verify_evidence)


def evidence(
    kind: Annotated[
        str, typer.Argument(metavar="KIND", help="policy, regulatory-action or statement.")
    ],
    slug: Annotated[str, typer.Argument(metavar="ID", help="Its id, e.g. meta/hate-speech.")],
    valid_at: Annotated[
        str, typer.Option("--valid-at", help=f"The moment in the world. {INSTANT_HELP}")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Write the bundle (JSON) here.")],
    known_at: Annotated[
        str | None,
        typer.Option("--known-at", help=f"As known at this moment. {INSTANT_HELP} Default: now."),
    ] = None,
    position: Annotated[
        int | None,
        typer.Option("--position", min=0, help="As known right after this log position."),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the printable HTML report here.")
    ] = None,
) -> None:
    """Write an evidence bundle: the answer at --valid-at as known at --known-at or right
    after --position (not both), every event folded into it with its inclusion proof
    against one signed head, and the public key; --html adds the report to print."""
    from entrypoints.cli.console import err, log
    from timeline import evidence as bundles
    from timeline import evidence_report
    from timeline.evidence_check import KINDS

    if kind not in KINDS:
        raise InvalidInput("KIND", f"must be one of {', '.join(KINDS)}, not {kind!r}")
    check_slug("ID", slug)
    if known_at is not None and position is not None:
        raise InvalidInput("--position", "give --known-at or --position, not both")
    valid = parse_instant("--valid-at", valid_at)
    known = None if known_at is None else parse_instant("--known-at", known_at)
    with log() as timeline:
        bundle = bundles.build(timeline, kind, slug, valid, known, position)
    output.write_text(bundles.dumps(bundle), encoding="utf-8")
    if html is not None:
        html.write_text(evidence_report.render(bundle), encoding="utf-8")
    err().print(
        f"wrote {output}: {len(bundle['events'])} events, head {bundle['head']['treeSize']}"
    )
    typer.echo(bundle["citation"])


def _read_json(path: Path, option: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidInput(option, f"{path} is not UTF-8 text") from error
    except ValueError as error:
        raise InvalidInput(option, f"{path} is not JSON ({error})") from error


def _key(text: str | None) -> bytes | None:
    """--key: a file (the key's JSON, PEM or base64) or the base64 key itself."""
    from timeline.evidence_check import read_key

    if text is None:
        return None
    path = Path(text)
    return read_key(path.read_text(encoding="utf-8") if path.is_file() else text)


def _old_head(value: Any) -> dict[str, Any]:
    """The head a --consistent-with file holds: a signed head (REST /log/head, GraphQL
    logHead, alone or as {"logHead": ...} or {"data": {"logHead": ...}}) or an earlier
    bundle's head."""
    from timeline.evidence_check import FORMAT

    if isinstance(value, dict) and value.get("format") == FORMAT:
        value = value.get("head")
    if isinstance(value, dict) and isinstance(value.get("data"), dict):
        value = value["data"]
    if isinstance(value, dict) and isinstance(value.get("logHead"), dict):
        value = value["logHead"]
    if not isinstance(value, dict) or "treeSize" not in value:
        raise InvalidInput("--consistent-with", "holds no signed head (treeSize, rootHash, ...)")
    return value


def _consistency_from_server(server: str, first: int, second: int | None) -> dict[str, Any]:
    import httpx

    params = {"from": str(first)} | ({} if second is None else {"to": str(second)})
    with httpx.Client(base_url=server.rstrip("/"), timeout=30) as client:
        response = client.get("/log/proofs/consistency", params=params)
        if response.status_code != 200:
            raise InvalidInput("--server", f"{response.status_code}: {response.text[:300]}")
        found: dict[str, Any] = response.json()
        found["key"] = client.get("/.well-known/timeline-key").json()
    return found


def _consistency_from_log(first: int, second: int | None) -> dict[str, Any]:
    from entrypoints.cli.console import log
    from timeline import proofs, signing

    with log() as timeline:
        found = proofs.prove_consistency(timeline.engine, first, second)
        signer = signing.signer(timeline.settings)
        return {
            "path": [p.hex() for p in found.path],
            "toHead": signing.head_json(signer.sign(found.second)),
            "key": signing.key_json(signer),
        }


def verify_evidence(
    bundle_file: Annotated[
        Path | None, typer.Argument(metavar="BUNDLE", help="The bundle (JSON) to check.")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="The public key you trust: a file (the JSON of /.well-known/timeline-key, "
            "PEM, or base64) or the base64 key. Default: the key the bundle carries.",
        ),
    ] = None,
    consistent_with: Annotated[
        Path | None,
        typer.Option(
            "--consistent-with",
            help="A signed head saved earlier (or an earlier bundle): prove that the log only "
            "grew since (the proof comes from --server, else from TIMELINE_DATABASE_URL).",
        ),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option("--server", help="The service's URL, for --consistent-with's proof."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Check an evidence bundle offline: the head's signature, every event's inclusion proof
    and payload, and that the reference fold of the events gives exactly the answer. Exit 0
    when all holds, 5 naming each part that failed, 1 when a file cannot be read."""
    from timeline import evidence_check as check

    if bundle_file is None and consistent_with is None:
        raise InvalidInput("BUNDLE", "give a bundle to check, or --consistent-with OLD_HEAD")
    trusted = _key(key)
    bundle = None if bundle_file is None else _read_json(bundle_file, "BUNDLE")
    verdict = check.verify_bundle(bundle, trusted) if bundle is not None else check.Verdict()
    if consistent_with is not None:
        old = _old_head(_read_json(consistent_with, "--consistent-with"))
        new = bundle.get("head") if isinstance(bundle, dict) else None
        size = new.get("treeSize") if isinstance(new, dict) else None
        first = old.get("treeSize")
        if not isinstance(first, int) or first < 0:
            raise InvalidInput("--consistent-with", "treeSize must be a non-negative integer")
        asked = max(first, 1)  # from the empty tree every log grew: any proof will do
        found = (
            _consistency_from_server(server, asked, size)
            if server is not None
            else _consistency_from_log(asked, size)
        )
        if first == 0:
            found["path"] = []
        if new is None:
            new = found["toHead"]
        if trusted is None:
            carried = bundle.get("key") if isinstance(bundle, dict) else found["key"]
            trusted = check.read_key(json.dumps(carried)) if carried else None
        if trusted is None or not isinstance(new, dict):
            raise InvalidInput("--key", "needed to check the heads' signatures")
        check.verify_consistency(verdict, old, new, found["path"], trusted)
        verdict.notes.append(
            f"the log of {new.get('treeSize')} leaves extends the old head of {first} leaves"
            if verdict.ok
            else "the log was not proved to extend the old head"
        )
    _report(verdict, as_json, bundle is not None)


def _report(verdict: Any, as_json: bool, bundled: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": verdict.ok,
                    "failures": verdict.failures,
                    "events": verdict.events,
                    "notes": verdict.notes,
                }
            )
        )
    else:
        for note in verdict.notes:
            typer.echo(f"note: {note}", err=True)
        for failure in verdict.failures:
            typer.echo(f"error: {failure}", err=True)
        if verdict.ok:
            typer.echo(f"ok: verified ({verdict.events} events)" if bundled else "ok: verified")
    if not verdict.ok:
        raise typer.Exit(EXIT_UNVERIFIED)
