"""Customers (with their hashed PINs) and their orders; every order query is customer-scoped."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .records import Customer, Order, from_row
from .sql import Row, Tx, utc_now
from .store import Store

_PIN_ITERATIONS = 60_000


def hash_pin(pin: str, *, salt: str | None = None, iterations: int = _PIN_ITERATIONS) -> str:
    """PBKDF2-SHA256 hash, stored as `pbkdf2_sha256$iterations$salt$hexdigest`."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), iterations).hex()
    return f"pbkdf2_sha256${iterations}${salt}${digest}"


def check_pin(pin: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        algo, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "pbkdf2_sha256":
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), int(iterations)).hex()
    return hmac.compare_digest(candidate, digest)


class CustomerStore(Store):
    # -- customers ---------------------------------------------------------------------------

    async def customer_by_phone(self, phone_e164: str) -> Customer | None:
        row = await self.db.fetchone("SELECT * FROM customers WHERE phone_e164 = ?", (phone_e164,))
        return from_row(Customer, row) if row else None

    async def customer_by_id(self, customer_id: int) -> Customer | None:
        row = await self.db.fetchone("SELECT * FROM customers WHERE id = ?", (customer_id,))
        return from_row(Customer, row) if row else None

    async def upsert_customer(self, *, full_name: str, phone_e164: str, date_of_birth: str,
                              email: str | None = None, pin: str | None = None) -> Customer:
        """Insert a customer, or return the existing one with that phone number (idempotent)."""
        pin_hash = hash_pin(pin) if pin else None

        def work(tx: Tx) -> Row:
            tx.execute(
                "INSERT INTO customers (full_name, phone_e164, email, date_of_birth, pin_hash,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (phone_e164) DO NOTHING",
                (full_name, phone_e164, email, date_of_birth, pin_hash, utc_now()),
            )
            row = tx.fetchone("SELECT * FROM customers WHERE phone_e164 = ?", (phone_e164,))
            assert row is not None
            return row

        return from_row(Customer, await self.db.transaction(work))

    # -- orders (always scoped to a customer) -------------------------------------------------

    async def order_for_customer(self, customer_id: int, order_number: str) -> Order | None:
        row = await self.db.fetchone(
            "SELECT * FROM orders WHERE order_number = ? AND customer_id = ?",
            (order_number, customer_id),
        )
        return from_row(Order, row) if row else None

    async def orders_for_customer(self, customer_id: int, *, limit: int = 5) -> list[Order]:
        rows = await self.db.fetchall(
            "SELECT * FROM orders WHERE customer_id = ? ORDER BY placed_at DESC, id DESC LIMIT ?",
            (customer_id, limit),
        )
        return [from_row(Order, r) for r in rows]

    async def add_order(self, *, customer_id: int, order_number: str, status: str,
                        item_summary: str, total_cents: int, placed_at: str,
                        expected_delivery: str | None = None, carrier: str | None = None,
                        tracking_number: str | None = None) -> None:
        """Insert an order unless that order number exists (idempotent; used by the seed)."""
        await self.db.execute(
            "INSERT INTO orders (order_number, customer_id, status, item_summary, total_cents,"
            " placed_at, expected_delivery, carrier, tracking_number, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_number) DO NOTHING",
            (order_number, customer_id, status, item_summary, total_cents, placed_at,
             expected_delivery, carrier, tracking_number, utc_now()),
        )
