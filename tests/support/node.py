"""Node.js clients for the conformance tests: npm packages installed at test time into a
cache outside the repository (TIMELINE_NPM_CACHE, else ~/.cache/policy-timeline/npm), one
directory per set of pinned packages, reused by later runs.

Without `node` the tests skip on a laptop; in CI (TIMELINE_REQUIRE_POSTGRES set, as for the
PostgreSQL tests) they fail instead."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import IO

import pytest
from conftest import REQUIRE_POSTGRES

TIMEOUT = 300  # seconds for one npm install; the registry may be slow


def cache_root() -> Path:
    configured = os.environ.get("TIMELINE_NPM_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "policy-timeline" / "npm"


def require_node() -> tuple[str, str]:
    """`node` and `npm` on the PATH, or a skip (laptop) / failure (CI)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        return node, npm
    if REQUIRE_POSTGRES:
        pytest.fail("Node.js and npm are required in CI (TIMELINE_REQUIRE_POSTGRES=1)")
    pytest.skip("Node.js/npm not installed")


def packages(*specs: str) -> Path:
    """A node_modules directory holding `specs` (such as "graphql-http@1.22.4"), installed
    once per set; concurrent test processes wait for each other's install."""
    _, npm = require_node()
    key = hashlib.sha256(json.dumps(sorted(specs)).encode()).hexdigest()[:16]
    root = cache_root() / key
    root.mkdir(parents=True, exist_ok=True)
    done = root / ".installed"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            (root / "package.json").write_text('{"private": true}\n')
            result = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(root), *specs],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
            if result.returncode != 0:
                pytest.fail(f"npm install {' '.join(specs)} failed:\n{result.stderr[-2000:]}")
            done.write_text("\n".join(specs) + "\n")
    return root / "node_modules"


def run_script(
    script: str, *args: str, modules: Path, timeout: float = 300, stdin: IO[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a Node.js script (its text) with `modules` on its NODE_PATH."""
    node, _ = require_node()
    env = {**os.environ, "NODE_PATH": str(modules)}
    return subprocess.run(
        [node, "-e", script, "--", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def start_script(script: str, *args: str, modules: Path) -> subprocess.Popen[str]:
    """Start a Node.js script (its text) in the background, `modules` on its NODE_PATH;
    the caller reads its output with `communicate`."""
    node, _ = require_node()
    env = {**os.environ, "NODE_PATH": str(modules)}
    return subprocess.Popen(
        [node, "-e", script, "--", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
