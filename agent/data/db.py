"""One small connection abstraction over sqlite3 and psycopg 3, with the same SQL for both.

SQL in this package is written once, portably, with `?` placeholders; for PostgreSQL they are
translated to psycopg's `%s` (see `translate_placeholders`). Every database call runs on one
dedicated worker thread per `Database`, so the event loop never blocks on I/O and the single
underlying connection is never used from two threads at once.

Transactions: `await db.transaction(fn)` runs the synchronous `fn(tx)` on the worker thread
inside BEGIN/COMMIT (ROLLBACK on any exception), so a multi-statement change is atomic.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..observability.secret_scrubber import SecretScrubber
from .schema import migrate as apply_migrations
from .sql import Cursor, Dialect, Params, Row, T, Tx

logger = logging.getLogger("phone-agent.data")


class DatabaseError(Exception):
    """Base class for data-layer errors that callers may want to handle."""


class IntegrityError(DatabaseError):
    """A UNIQUE / FOREIGN KEY / CHECK constraint rejected a write (same type on both engines)."""


class DatabaseUnavailable(DatabaseError):
    """The database could not be opened (server down, bad credentials, unreadable file).

    The message never contains the URL's password."""


# How long a statement waits for another connection's write lock on SQLite before it fails
# with "database is locked". A caller on the phone hears the filler after one second; two
# seconds later they get an answer ("nothing was changed, try again") instead of silence.
SQLITE_BUSY_TIMEOUT_S = 2.0
# How long opening a PostgreSQL connection may take before the call goes on without it.
CONNECT_TIMEOUT_S = 3


def translate_placeholders(sql: str) -> str:
    """`?` → `%s` (and a literal `%` → `%%`) outside quoted strings, for psycopg."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
            out.append("%%" if ch == "%" else ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


def sqlite_path(url: str) -> str:
    """`sqlite:///relative/path.db`, `sqlite:////abs/path.db` or `sqlite:///:memory:` → path."""
    if not url.startswith("sqlite:///"):
        raise ValueError("a SQLite URL must start with sqlite:///")
    return unquote(url[len("sqlite:///"):]) or ":memory:"


def dialect_of(url: str) -> Dialect:
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgres"
    raise ValueError("DATABASE_URL must start with sqlite:/// or postgresql://")


class Database:
    """An open database: `await Database.open(url)`, then `fetchone/fetchall/execute/transaction`.

    Not for direct use by tools; `agent.data.repository.Repository` is the typed API.
    """

    def __init__(self, url: str, dialect: Dialect, conn: Any, executor: ThreadPoolExecutor) -> None:
        self.url = url
        self.dialect: Dialect = dialect
        # sqlite3.Connection or psycopg.Connection: psycopg is an optional install, so the
        # driver object stays untyped here; nothing outside this class touches it.
        self._conn = conn
        self._executor = executor
        self._closed = False

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Database:
        """Connect (creating the SQLite file and its directory if needed) and apply migrations."""
        dialect = dialect_of(url)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"db-{dialect}")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, _connect, url, dialect)
        except Exception as exc:
            executor.shutdown(wait=False)
            raise DatabaseUnavailable(_without_password(f"{type(exc).__name__}: {exc}", url)
                                      ) from None  # the cause may quote the URL
        db = cls(url, dialect, conn, executor)
        if migrate:
            await apply_migrations(db)
        return db

    # -- async API -----------------------------------------------------------------------------

    async def run(self, fn: Callable[[Tx], T]) -> T:
        """Run `fn(tx)` on the worker thread without an explicit transaction (autocommit)."""
        return await self._submit(lambda: fn(self._tx()))

    async def transaction(self, fn: Callable[[Tx], T]) -> T:
        """Run `fn(tx)` on the worker thread inside one transaction (rolled back on error)."""
        return await self._submit(lambda: self._in_transaction(fn))

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self.run(lambda tx: tx.execute(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self.run(lambda tx: tx.fetchone(sql, params))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self.run(lambda tx: tx.fetchall(sql, params))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._conn.close)
        finally:
            self._executor.shutdown(wait=False)

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- worker-thread internals ---------------------------------------------------------------

    async def _submit(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise DatabaseError("the database is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    def _tx(self) -> Tx:
        return Tx(self.dialect, self._raw_execute)

    def _in_transaction(self, fn: Callable[[Tx], T]) -> T:
        tx = self._tx()
        if self.dialect == "sqlite":
            # IMMEDIATE takes the write lock up front, so two writers never deadlock upgrading.
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(tx)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return result
        self._ensure_pg_connection()
        try:
            with self._conn.transaction():
                return fn(tx)
        except Exception as exc:
            mapped = _map_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def _raw_execute(self, sql: str, params: Params) -> Cursor:
        try:
            if self.dialect == "sqlite":
                return self._conn.execute(sql, tuple(params))
            self._ensure_pg_connection()
            return self._conn.execute(translate_placeholders(sql), tuple(params))
        except Exception as exc:
            mapped = _map_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def _ensure_pg_connection(self) -> None:
        """Reconnect once if PostgreSQL dropped the connection (server restart, idle timeout)."""
        if self._conn.closed or getattr(self._conn, "broken", False):
            logger.warning("database connection lost; reconnecting")
            self._conn = _connect(self.url, "postgres")


def _connect(url: str, dialect: Dialect) -> Any:
    if dialect == "sqlite":
        path = sqlite_path(url)
        if path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=SQLITE_BUSY_TIMEOUT_S
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        if path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
        return conn
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DatabaseError(
            "PostgreSQL support needs psycopg: pip install 'phone-agent[postgres]'"
        ) from exc
    return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)


def _without_password(text: str, url: str) -> str:
    """`text` with the password of `url` (plain and URL-encoded) scrubbed."""
    password = urlparse(url).password
    if not password:
        return text
    return SecretScrubber([password, unquote(password)]).scrub(text)


def _map_error(exc: BaseException) -> BaseException:
    if isinstance(exc, IntegrityError):
        return exc
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(str(exc))
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return exc
    if isinstance(exc, psycopg.errors.IntegrityError):
        return IntegrityError(str(exc))
    return exc
