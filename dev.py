"""Set up a virtual environment and run the service or the tests: needs only Python 3.11+ and pip.

    python3 dev.py run [ARGS...]    # install, then `timeline serve --demo` on the SQLite default
    python3 dev.py test [ARGS...]   # install with test extras, then pytest
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("TIMELINE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_environment(extras: str) -> None:
    """Create the virtual environment and install the project once per change of pyproject.toml."""
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    stamp_text = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest() + extras
    stamp = VENV / ".installed"
    if stamp.exists() and stamp.read_text() == stamp_text:
        return
    if not PYTHON.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(f"installing policy-timeline[{extras}] (first run only)", flush=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-e", f"{ROOT}[{extras}]"],
        check=True,
    )
    stamp.write_text(stamp_text)


def main(argv: list[str]) -> int:
    """Dispatch `run` and `test`; any further arguments go to the command."""
    if not argv or argv[0] not in {"run", "test"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_environment("test,dev")
    os.chdir(ROOT)
    if command == "run":
        args = [str(BIN / "timeline"), "serve", "--demo", *rest]
    else:
        args = [str(PYTHON), "-m", "pytest", *rest]
    return subprocess.call(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
