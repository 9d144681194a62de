"""Order status for the verified caller, and how an order is described on the phone."""

from __future__ import annotations

from livekit.agents import RunContext, ToolError, function_tool

from agent.call_state import CallState
from agent.data.repository import Order

from .audit import audited
from .services import services_of
from .validation import Text, parse_order_number
from .verification import require_verified
from .wording import day, money

_ORDER_STATUS = {
    "processing": "is being prepared and hasn't shipped yet",
    "shipped": "has shipped",
    "out_for_delivery": "is out for delivery today",
    "delivered": "was delivered",
    "cancelled": "was cancelled",
    "returned": "was returned and refunded",
}


def describe_order(order: Order) -> str:
    text = f"Order {order.order_number} ({order.item_summary}, {money(order.total_cents)}) " \
           f"{_ORDER_STATUS.get(order.status, order.status)}"
    if order.carrier and order.status in ("shipped", "out_for_delivery"):
        text += f" with {order.carrier}"
        if order.tracking_number:
            text += f", tracking number ending {order.tracking_number[-4:]}"
    if order.expected_delivery and order.status in ("processing", "shipped",
                                                    "out_for_delivery"):
        text += f"; expected delivery {day(order.expected_delivery)}"
    return text + "."


@function_tool
@audited("read")
async def check_order_status(ctx: RunContext[CallState], order_number: Text = "") -> str:
    """Tell a verified caller the status of one of their own orders.

    Requires verify_identity first. Works only for orders on the caller's own account; other
    customers' orders are never shown, whatever the caller says. Leave order_number empty to
    hear the caller's most recent orders.

    Args:
        order_number: The six-digit order number from the order confirmation, digits only.
    """
    customer = await require_verified(ctx)
    repo = services_of(ctx).repo
    if not str(order_number).strip():
        orders = await repo.orders_for_customer(customer.id, limit=3)
        if not orders:
            return "There are no orders on this account."
        return "Most recent orders: " + " ".join(describe_order(o) for o in orders)
    number = parse_order_number(order_number)
    order = await repo.order_for_customer(customer.id, number)
    if order is None:
        # Same answer whether the order exists for someone else or not at all.
        raise ToolError(f"I couldn't find order {number} on this account. Please check the "
                        "number on the confirmation email.")
    return describe_order(order)
