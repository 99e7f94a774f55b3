"""The one way the tests run a server in a subprocess: its command on a free port of
127.0.0.1, its output in a log file, up when `/healthz` answers 200, stopped with SIGTERM to
its process group (the lifespan's shutdown runs; killed after 30 s)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from support.ports import free_port


class ServerProcess:
    """A server started by `argv(port)`; `url`, `ws_url` and its `output()` for messages."""

    def __init__(
        self,
        argv: Callable[[int], list[str]],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.argv = argv(self.port)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 90, poll: float = 0.1) -> ServerProcess:
        """Start it and wait until it is healthy (RuntimeError with its log otherwise)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.output()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(poll)
        self.stop()
        raise RuntimeError(f"the server did not come up in {timeout}s:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        """Graceful stop, as an operator's restart: SIGTERM to the group, then SIGKILL."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


@contextmanager
def running(server: ServerProcess, timeout: float = 90) -> Iterator[ServerProcess]:
    """`server`, started and healthy, stopped afterwards."""
    server.start(timeout)
    try:
        yield server
    finally:
        server.stop()
