"""FEEL conformance: expressions as users write them in HTTP polling connector fields (URLs,
headers, query parameters, activation conditions, correlation keys, result expressions), plus
the warning and threading contract of the API."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from tests.feel.conftest import Case, cases, check

ORDER = {
    "orderId": 4711,
    "customer": {"id": "C-17", "tier": "gold"},
    "apiToken": "t0k3n",
    "page": 2,
    "body": {
        "orderId": "A-4711",
        "status": "SHIPPED",
        "stockLevel": 4,
        "total": 99.9,
        "date": "2024-05-06",
        "time": "10:00",
        "type": "order",
        "string": "s",
        "count": 3,
        "duration": "P1D",
        "content-type": "application/json",
        "items": [
            {"id": 1, "status": "ready", "qty": 2},
            {"id": 2, "status": "pending", "qty": 1},
            {"id": 3, "status": "ready", "qty": 5},
        ],
        "tracking": {"carrier": "DHL", "number": "JD0142"},
        "errors": [],
    },
    "response": {"status": 200, "headers": {"Content-Type": "application/json", "X-Total": "3"}},
}

CONNECTOR_FIELDS: list[Case] = [
    (
        '="https://api.example.com/orders/" + string(orderId)',
        ORDER,
        "https://api.example.com/orders/4711",
    ),
    (
        '"https://api.example.com/customers/" + customer.id + "/orders?page=" + string(page)',
        ORDER,
        "https://api.example.com/customers/C-17/orders?page=2",
    ),
    ('={"Accept": "application/json"}', ORDER, {"Accept": "application/json"}),
    (
        '={"Authorization": "Bearer " + apiToken, "X-Customer": customer.id}',
        ORDER,
        {"Authorization": "Bearer t0k3n", "X-Customer": "C-17"},
    ),
    ('={page: string(page + 1), size: "50"}', ORDER, {"page": "3", "size": "50"}),
    ('=(body.status = "SHIPPED")', ORDER, True),
    ('=body.status = "OK"', ORDER, False),
    ("=body.stockLevel < 10", ORDER, True),
    ("=body.orderId", ORDER, "A-4711"),
    ("=string(body.tracking.number)", ORDER, "JD0142"),
    ('=body.items[status = "ready"].id', ORDER, [1, 3]),
    ('=count(body.items[status = "ready"]) > 0', ORDER, True),
    ('=every i in body.items satisfies i.status = "ready"', ORDER, False),
    ("=sum(body.items.qty)", ORDER, 8),
    ("=is empty(body.errors)", ORDER, True),
    ('=if body.total > 50 then "big" else "small"', ORDER, "big"),
    ("=body.total * 2", ORDER, 199.8),
    (
        '={carrier: body.tracking.carrier, shipped: body.status = "SHIPPED"}',
        ORDER,
        {
            "carrier": "DHL",
            "shipped": True,
        },
    ),
    ("=body.missingField", ORDER, None),
    ('=get or else(body.missingField, "n/a")', ORDER, "n/a"),
    ("=body.date", ORDER, "2024-05-06"),
    ("=body.time", ORDER, "10:00"),
    ("=body.type", ORDER, "order"),
    ("=body.string", ORDER, "s"),
    ("=body.count", ORDER, 3),
    ("=body.duration", ORDER, "P1D"),
    ("=body.`content-type`", ORDER, "application/json"),
    ('=get value(response.headers, "Content-Type")', ORDER, "application/json"),
    ("=number(response.headers.`X-Total`)", ORDER, 3),
    ("=response.status >= 200 and response.status < 300", ORDER, True),
    ('=date(body.date) + duration("P30D")', ORDER, dt.date(2024, 6, 5)),
    ('="order-" + body.orderId + "-" + customer.tier', ORDER, "order-A-4711-gold"),
    ('=upper case(customer.tier) + ":" + string(orderId)', ORDER, "GOLD:4711"),
    ("=string(orderId) = body.orderId", ORDER, False),
    ('=substring after(body.orderId, "-")', ORDER, "4711"),
    ('=number(substring after(body.orderId, "-")) = orderId', ORDER, True),
    (
        '={messageId: body.orderId + "-" + body.status, correlationKey: body.orderId}',
        ORDER,
        {"messageId": "A-4711-SHIPPED", "correlationKey": "A-4711"},
    ),
    (
        "=for i in body.items return {id: i.id, total: i.qty * body.total}",
        ORDER,
        [{"id": 1, "total": 199.8}, {"id": 2, "total": 99.9}, {"id": 3, "total": 499.5}],
    ),
]


@pytest.mark.parametrize(("expression", "context", "expected"), cases(CONNECTOR_FIELDS))
def test_connector_fields(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


def test_missing_variable_gives_null_and_a_warning() -> None:
    from connector import feel

    result, warnings = feel.compile("orderNumber + 1").evaluate_with_warnings({})
    assert result is None
    assert any("orderNumber" in warning for warning in warnings), warnings


def test_type_mismatch_gives_null_and_a_warning() -> None:
    from connector import feel

    result, warnings = feel.compile('"order-" + 42').evaluate_with_warnings({})
    assert result is None
    assert warnings


def test_clean_evaluation_has_no_warnings() -> None:
    from connector import feel

    result, warnings = feel.compile('"order-" + string(42)').evaluate_with_warnings({})
    assert result == "order-42"
    assert warnings == []


def test_missing_path_gives_null_and_a_warning() -> None:
    from connector import feel

    result, warnings = feel.compile("body.tracking.number").evaluate_with_warnings({"body": {}})
    assert result is None
    assert warnings


def test_one_compiled_expression_serves_many_threads() -> None:
    from connector import feel

    expression = feel.compile('{id: "order-" + string(n), double: n * 2, big: n > 500}')
    failures: list[str] = []

    def worker(offset: int) -> None:
        for n in range(offset, 1000, 8):
            result = expression.evaluate({"n": n})
            if result != {"id": f"order-{n}", "double": n * 2, "big": n > 500}:
                failures.append(f"{n}: {result!r}")

    threads = [threading.Thread(target=worker, args=(offset,)) for offset in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
