"""What every module of the data layer shares: the `Tx` handle, SQL value and row types, the
protocol migrations run against, and the one timestamp format stored in the tables.

Kept free of imports from the rest of `agent.data`, so `db` (the connection) and `schema`
(the migrations) both build on it without importing each other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")
Dialect = Literal["sqlite", "postgres"]
SqlValue = str | int | float | bytes | None
Params = Sequence[SqlValue]
# A result row, column name → value as the driver returns it. Only the data layer reads these;
# the repository turns them into typed records before they leave the package.
Row = dict[str, Any]


def utc_now() -> str:
    """The stored form of "now" for every `created_at`-style column: ISO-8601 UTC, seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Cursor(Protocol):
    """The part of a DB-API cursor (sqlite3 or psycopg) that `Tx` uses."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...

    def fetchone(self) -> object: ...

    def fetchall(self) -> Sequence[object]: ...

    def close(self) -> None: ...


class Tx:
    """Synchronous cursor-like handle, valid only inside `Database.transaction` / `run`."""

    def __init__(self, dialect: Dialect, raw_execute: Callable[[str, Params], Cursor]) -> None:
        self._dialect: Dialect = dialect
        self._raw_execute = raw_execute

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the affected row count."""
        cur = self._raw_execute(sql, params)
        try:
            return cur.rowcount
        finally:
            cur.close()

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        cur = self._raw_execute(sql, params)
        try:
            row = cur.fetchone()
            return None if row is None else _as_dict(cur, row)
        finally:
            cur.close()

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cur = self._raw_execute(sql, params)
        try:
            return [_as_dict(cur, row) for row in cur.fetchall()]
        finally:
            cur.close()

    def executescript(self, statements: Sequence[str]) -> None:
        for stmt in statements:
            self.execute(stmt)


def _as_dict(cur: Cursor, row: object) -> Row:
    if isinstance(row, dict):
        return dict(row)
    if isinstance(row, sqlite3.Row):
        return {k: row[k] for k in row.keys()}
    if not isinstance(row, Sequence) or cur.description is None:
        raise TypeError(f"unexpected database row type {type(row).__name__}")
    names = [d[0] for d in cur.description]
    return dict(zip(names, row, strict=True))


class Transactional(Protocol):
    """What migrations need from an open database (implemented by `db.Database`)."""

    @property
    def dialect(self) -> Dialect: ...

    async def transaction(self, fn: Callable[[Tx], T]) -> T: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...
