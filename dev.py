"""Set up a virtual environment and run the service or the tests: needs only Python 3.11+ and pip.

    python3 dev.py run [ARGS...]    # install, then `timeline serve --demo` on the SQLite default
                                    # (GraphiQL at http://127.0.0.1:8000/graphql)
    python3 dev.py test [ARGS...]   # install with the test extras, then the checks (ruff, mypy,
                                    # the import contracts) and pytest (whole suite)
    python3 dev.py lint             # the checks alone: ruff, mypy, the import contracts
    python3 dev.py bench [ARGS...]  # the benchmarks (python -m bench)

The environment lives in .venv (or TIMELINE_VENV) and is installed once per change of
pyproject.toml; pip needs only the package registry.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("TIMELINE_VENV", ROOT / ".venv")).resolve()
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed"

#: The extras each command needs; `run` needs none, so a newcomer's first install is lean.
EXTRAS = {"run": set(), "test": {"test", "dev"}, "lint": {"dev"}, "bench": {"test"}}


def installed_extras(fingerprint: str) -> set[str] | None:
    """The extras installed for this pyproject.toml, or None if it changed since."""
    if not STAMP.exists():
        return None
    lines = STAMP.read_text().splitlines()
    if lines and len(lines) == 1 and lines[0].startswith(fingerprint):  # the first format
        lines = [fingerprint, lines[0][len(fingerprint) :]]
    if not lines or lines[0] != fingerprint:
        return None
    return set(lines[1].split(",")) - {""} if len(lines) > 1 else set()


def ensure_environment(extras: set[str]) -> None:
    """Create the virtual environment and install the project (editable) when needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 -- dev.py runs under any python3
        sys.exit(f"Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    fingerprint = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    have = installed_extras(fingerprint)
    if have is not None and extras <= have:
        return
    wanted = extras | (have or set())
    if not PYTHON.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    spec = f"{ROOT}[{','.join(sorted(wanted))}]" if wanted else str(ROOT)
    print(
        f"installing policy-timeline{('[' + ','.join(sorted(wanted)) + ']') if wanted else ''}"
        f" into {VENV} (once per change of pyproject.toml)",
        flush=True,
    )
    result = subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", spec],
        check=False,
    )
    if result.returncode != 0:
        sys.exit("pip install failed (see above); is the package registry reachable?")
    STAMP.write_text(fingerprint + "\n" + ",".join(sorted(wanted)) + "\n")


def main(argv: list[str]) -> int:
    """Dispatch `run`, `test`, `lint` and `bench`; any further arguments go to the command."""
    if not argv or argv[0] not in EXTRAS:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_environment(EXTRAS[command])
    os.chdir(ROOT)
    if command == "run":
        # GraphiQL in the browser at /graphql: this is a developer's machine.
        os.environ.setdefault("TIMELINE_DEVELOPMENT", "1")
        argv = [str(BIN / "timeline"), "serve", "--demo", *rest]
        if os.name == "posix":
            os.execv(argv[0], argv)  # the server takes this process: Ctrl-C/SIGTERM reach it
        return subprocess.call(argv)
    if command == "bench":
        return subprocess.call([str(PYTHON), "-m", "bench", *rest])
    if command == "lint":
        return checks(rest)
    # The checks first: they take seconds, the suite minutes; a broken rule stops the run.
    return checks([]) or subprocess.call([str(PYTHON), "-m", "pytest", *rest])


def checks(ruff_args: list[str]) -> int:
    """ruff, mypy and the import contracts (pyproject.toml); non-zero when any fails."""
    for argv in (
        [str(PYTHON), "-m", "ruff", "check", ".", *ruff_args],
        [str(PYTHON), "-m", "mypy"],
        [str(BIN / "lint-imports"), "--no-logo"],
    ):
        print("$", Path(argv[0]).name, *argv[1:3], flush=True)
        code = subprocess.call(argv)
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
