"""A throwaway PostgreSQL server for the tests that stop, kill or restart one: `initdb` into a
temporary directory, `pg_ctl` on a free port of 127.0.0.1 (its unix socket inside that
directory), stopped and deleted afterwards. The machine's own server is never touched.

The binaries come from TIMELINE_TEST_POSTGRES_BINDIR, else `pg_config --bindir`, else the
newest /usr/lib/postgresql/*/bin, else `initdb` on the PATH (Debian: the `postgresql` package).
initdb refuses to run as root, so as root the server runs as the `postgres` OS user."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from conftest import REQUIRE_POSTGRES

from support.ports import free_port

BINDIR_VARIABLE = "TIMELINE_TEST_POSTGRES_BINDIR"
SERVER_USER = "postgres"  # the OS user the server runs as when the tests run as root
TIMEOUT = 120  # seconds for one pg_ctl command; generous, the machine may be busy


class PostgresBinariesMissing(RuntimeError):
    """No usable `initdb` and `pg_ctl` (or, as root, no `postgres` OS user to run them)."""


def _has_server_binaries(directory: Path) -> bool:
    return all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


def _version_key(directory: Path) -> tuple[int, ...]:
    """/usr/lib/postgresql/15/bin -> (15,): the newest version sorts last."""
    return tuple(int(part) for part in re.findall(r"\d+", directory.parent.name))


def find_bindir() -> Path:
    """The directory holding `initdb`, `pg_ctl` and `postgres`; raises PostgresBinariesMissing."""
    override = os.environ.get(BINDIR_VARIABLE)
    if override:
        if _has_server_binaries(Path(override)):
            return Path(override)
        raise PostgresBinariesMissing(f"{BINDIR_VARIABLE}={override} has no initdb and pg_ctl")
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        found = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30
        )
        if found.returncode == 0:
            candidates.append(Path(found.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key)[::-1]
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for candidate in candidates:
        if _has_server_binaries(candidate):
            return candidate
    raise PostgresBinariesMissing(
        "the PostgreSQL server binaries (initdb, pg_ctl) were not found: install them "
        f"(Debian: apt-get install postgresql) or set {BINDIR_VARIABLE}"
    )


def require_postgres_binaries() -> Path:
    """The binaries' directory; skip the test when they are missing (a laptop), or fail it
    under TIMELINE_REQUIRE_POSTGRES=1 (CI), as tests/conftest.py does for the server."""
    try:
        bindir = find_bindir()
        if os.geteuid() == 0:
            pwd.getpwnam(SERVER_USER)
    except KeyError:
        reason = f"running as root, and there is no {SERVER_USER!r} OS user to run initdb as"
    except PostgresBinariesMissing as missing:
        reason = str(missing)
    else:
        return bindir
    if REQUIRE_POSTGRES:
        pytest.fail(f"PostgreSQL is required (TIMELINE_REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(reason)


class PostgresServer:
    """One PostgreSQL cluster in `directory`, listening on 127.0.0.1:`port`, user `postgres`
    with trust authentication. `stop()` shuts it down cleanly, `kill()` as a crash would
    (no checkpoint: the next `start()` replays the WAL), `start()` brings it back."""

    def __init__(self, bindir: Path, directory: Path) -> None:
        self.bindir = bindir
        self.directory = directory
        self.data = directory / "data"
        self.socket_dir = directory / "socket"
        self.log = directory / "server.log"
        self.port = free_port()
        self._account = pwd.getpwnam(SERVER_USER) if os.geteuid() == 0 else None

    @property
    def dsn(self) -> str:
        """A libpq connection string for psycopg."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL for Settings(database_url=...)."""
        return self.dsn.replace("postgresql://", "postgresql+psycopg://", 1)

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a server binary (as the `postgres` user when we are root); raise on failure
        with its output and the end of the server log."""
        account = self._account
        done = subprocess.run(
            [str(self.bindir / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT,
            cwd=self.directory,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}\n{log}"
            )
        return done

    def _give(self, path: Path) -> None:
        if self._account:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)

    def init(self) -> None:
        """Create the cluster and write its settings (port, socket, localhost only)."""
        self._give(self.directory)
        self.socket_dir.mkdir()
        self._give(self.socket_dir)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        self.configure()

    def configure(self) -> None:
        """(Re)write the listening settings: the port may change when it was taken."""
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "shared_buffers": "'16MB'",
        }
        conf = self.data / "postgresql.auto.conf"
        conf.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        self._give(conf)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "90", "start")

    def stop(self) -> None:
        """A clean shutdown ('fast': open sessions are ended, a checkpoint is written)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "90", "stop")

    def kill(self) -> None:
        """A crash: every server process quits at once, nothing is flushed or checkpointed."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "90", "stop")

    def is_running(self) -> bool:
        """True while the postmaster runs (whether or not it accepts connections yet)."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "status")
        except RuntimeError:
            return False
        return True

    def accepts_connections(self) -> bool:
        """True when a new connection gets in and answers SELECT 1."""
        try:
            with psycopg.connect(self.dsn, connect_timeout=5) as connection:
                return connection.execute("SELECT 1").fetchone() == (1,)
        except psycopg.OperationalError:
            return False


@contextmanager
def throwaway_postgres(bindir: Path | None = None) -> Iterator[PostgresServer]:
    """A fresh running server; stopped and its directory deleted afterwards, also when the
    test fails or the server never started."""
    directory = Path(tempfile.mkdtemp(prefix="timeline-pg-"))
    server = PostgresServer(bindir or find_bindir(), directory)
    try:
        server.init()
        for attempt in range(3):  # the free port may be taken between choosing and binding
            try:
                server.start()
                break
            except RuntimeError:
                if attempt == 2 or server.is_running():
                    raise
                server.port = free_port()
                server.configure()
        yield server
    finally:
        try:
            if server.data.exists() and server.is_running():
                server.kill()  # nothing in it is worth a checkpoint
        finally:
            shutil.rmtree(directory, ignore_errors=True)
