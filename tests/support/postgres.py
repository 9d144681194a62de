"""A throwaway PostgreSQL server for tests (Debian's postgresql binaries).

`initdb` runs into a fresh temp directory owned by the `postgres` OS user (postgres refuses to
run as root; when the tests do not run as root the current user is used). The server listens
only on 127.0.0.1 on a free port plus a unix socket inside the temp directory, requires a
random password (scram-sha-256), and is stopped and deleted at the end.

    with PostgresServer.start() as pg:
        url = pg.create_database("t1")    # postgresql://postgres:...@127.0.0.1:PORT/t1

`pytest` fixture: `postgres_server` (session scope) in tests that import it; it skips with a
clear reason only when the binaries are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def find_pg_bin() -> Path | None:
    """Directory holding initdb/pg_ctl: $PG_BIN, Debian's newest version, or PATH."""
    candidates = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]))
    candidates += sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
                         key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                         reverse=True)
    which = shutil.which("initdb")
    if which:
        candidates.append(Path(which).parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists() and (c / "postgres").exists():
            return c
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    bin_dir: Path
    base_dir: Path
    port: int
    password: str
    run_as: str | None  # OS user the server runs as (None: the current user)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def _cmd(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return [*prefix, *args]

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=timeout,
                              cwd=self.base_dir)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}):\n{proc.stdout}\n"
                               f"{proc.stderr}")
        return proc

    @classmethod
    @contextmanager
    def start(cls) -> Iterator[PostgresServer]:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl, postgres) not found")
        run_as: str | None = None
        if os.geteuid() == 0:
            run_as = "postgres"
            pw = pwd.getpwnam(run_as)  # KeyError if the Debian package's user is missing
        base = Path(tempfile.mkdtemp(prefix="pgtest-"))
        server = cls(bin_dir=bin_dir, base_dir=base, port=_free_port(),
                     password=secrets.token_urlsafe(16), run_as=run_as)
        started = False
        try:
            pwfile = base / "pwfile"
            pwfile.write_text(server.password + "\n")
            pwfile.chmod(0o600)
            if run_as:
                for path in (base, pwfile):
                    os.chown(path, pw.pw_uid, pw.pw_gid)
            server._run(str(bin_dir / "initdb"), "-D", str(server.data_dir), "-U", "postgres",
                        "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                        "--locale=C.UTF-8", "--no-sync", timeout=120)
            pwfile.unlink()
            options = (f"-c listen_addresses=127.0.0.1 -p {server.port} "
                       f"-c unix_socket_directories={base} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off")
            server._run(str(bin_dir / "pg_ctl"), "-D", str(server.data_dir), "-l",
                        str(base / "server.log"), "-o", options, "-w", "-t", "60", "start",
                        timeout=90)
            started = True
            yield server
        finally:
            if started:
                try:
                    server._run(str(bin_dir / "pg_ctl"), "-D", str(server.data_dir), "-m",
                                "immediate", "-w", "stop", timeout=60)
                except Exception:  # pragma: no cover - best effort
                    pass
            shutil.rmtree(base, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """Create a fresh database and return its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries not installed (apt-get install postgresql); "
                    "set PG_BIN to their directory")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install 'psycopg[binary]>=3.2,<4'")
    with PostgresServer.start() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def sqlite_and_postgres_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, once on SQLite and once on PostgreSQL (import `postgres_server`
    too in the test module)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/test.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"t_{secrets.token_hex(6)}")
