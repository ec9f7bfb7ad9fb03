"""Range built-ins (DMN 1.4 interval algebra), with the specification's examples."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from connector.feel.values import FeelFunctionError, Range
from tests.helpers.feel import call


def r(text: str) -> Range:
    """``"[1..5)"`` -> Range; an empty bound is unbounded."""
    low, high = text[1:-1].split("..")
    return Range(
        Decimal(low) if low else None,
        text[0] == "[",
        Decimal(high) if high else None,
        text[-1] == "]",
    )


CASES = [
    ("before", (1, 10), True),
    ("before", (10, 1), False),
    ("before", (1, r("[2..5]")), True),
    ("before", (1, r("(1..5]")), True),
    ("before", (1, r("[1..5]")), False),
    ("before", (r("[1..5]"), 10), True),
    ("before", (r("[1..5)"), 5), True),
    ("before", (r("[1..5]"), 5), False),
    ("before", (r("[1..5]"), r("[6..8]")), True),
    ("before", (r("[1..5]"), r("[5..8]")), False),
    ("before", (r("[1..5)"), r("[5..8]")), True),
    ("before", (r("[1..5]"), r("(5..8]")), True),
    ("before", (r("[1..5]"), r("[1..8]")), False),
    ("before", (r("[1..]"), 100), False),
    ("before", (r("[..5]"), 6), True),
    ("after", (10, 5), True),
    ("after", (5, 10), False),
    ("after", (12, r("[2..5]")), True),
    ("after", (5, r("[1..5)")), True),
    ("after", (5, r("[1..5]")), False),
    ("after", (r("[11..20]"), 10), True),
    ("after", (r("(10..20]"), 10), True),
    ("after", (r("[10..20]"), 10), False),
    ("after", (r("[11..20]"), r("[1..10]")), True),
    ("after", (r("[1..10]"), r("[11..20]")), False),
    ("after", (r("(10..20]"), r("[1..10]")), True),
    ("after", (r("[10..20]"), r("[1..10]")), False),
    ("meets", (r("[1..5]"), r("[5..10]")), True),
    ("meets", (r("[1..3]"), r("[4..6]")), False),
    ("meets", (r("[1..5)"), r("[5..10]")), False),
    ("meets", (r("[1..5]"), r("(5..10]")), False),
    ("met by", (r("[5..10]"), r("[1..5]")), True),
    ("met by", (r("[5..10]"), r("[1..5)")), False),
    ("met by", (r("(5..10]"), r("[1..5]")), False),
    ("overlaps", (r("[1..5]"), r("[3..8]")), True),
    ("overlaps", (r("[3..8]"), r("[1..5]")), True),
    ("overlaps", (r("[1..8]"), r("[3..5]")), True),
    ("overlaps", (r("[3..5]"), r("[1..8]")), True),
    ("overlaps", (r("[1..5]"), r("[6..8]")), False),
    ("overlaps", (r("[1..5]"), r("[5..8]")), True),
    ("overlaps", (r("[1..5]"), r("(5..8]")), False),
    ("overlaps", (r("[1..5)"), r("[5..8]")), False),
    ("overlaps", (r("(5..8]"), r("[1..5)")), False),
    ("overlaps before", (r("[1..5]"), r("[3..8]")), True),
    ("overlaps before", (r("[1..5]"), r("[6..8]")), False),
    ("overlaps before", (r("[1..5]"), r("[5..8]")), True),
    ("overlaps before", (r("[1..5]"), r("(5..8]")), False),
    ("overlaps before", (r("[1..5)"), r("(1..5]")), True),
    ("overlaps before", (r("(1..5]"), r("[1..5]")), False),
    ("overlaps before", (r("[1..5]"), r("[1..5]")), False),
    ("overlaps after", (r("[3..8]"), r("[1..5]")), True),
    ("overlaps after", (r("[6..8]"), r("[1..5]")), False),
    ("overlaps after", (r("[5..8]"), r("[1..5]")), True),
    ("overlaps after", (r("(5..8]"), r("[1..5]")), False),
    ("overlaps after", (r("(1..5]"), r("[1..5)")), True),
    ("overlaps after", (r("[1..5]"), r("[1..5]")), False),
    ("finishes", (10, r("[1..10]")), True),
    ("finishes", (10, r("[1..10)")), False),
    ("finishes", (r("[5..10]"), r("[1..10]")), True),
    ("finishes", (r("[5..10)"), r("[1..10]")), False),
    ("finishes", (r("[1..10]"), r("[1..10]")), True),
    ("finishes", (r("(1..10]"), r("[1..10]")), True),
    ("finished by", (r("[1..10]"), 10), True),
    ("finished by", (r("[1..10)"), 10), False),
    ("finished by", (r("[1..10]"), r("[5..10]")), True),
    ("finished by", (r("[1..10]"), r("[5..10)")), False),
    ("finished by", (r("[1..10]"), r("(1..10]")), True),
    ("includes", (r("[1..10]"), 5), True),
    ("includes", (r("[1..10]"), 12), False),
    ("includes", (r("[1..10]"), 1), True),
    ("includes", (r("(1..10]"), 1), False),
    ("includes", (r("[1..10]"), r("[4..6]")), True),
    ("includes", (r("[1..10]"), r("[1..5]")), True),
    ("includes", (r("(1..10]"), r("[1..5]")), False),
    ("includes", (r("[1..10)"), r("[5..10]")), False),
    ("includes", (r("[1..]"), r("[5..1000]")), True),
    ("during", (5, r("[1..10]")), True),
    ("during", (12, r("[1..10]")), False),
    ("during", (1, r("(1..10]")), False),
    ("during", (r("[4..6]"), r("[1..10]")), True),
    ("during", (r("[1..5]"), r("(1..10]")), False),
    ("during", (r("(1..5]"), r("(1..10]")), True),
    ("starts", (1, r("[1..5]")), True),
    ("starts", (1, r("(1..8]")), False),
    ("starts", (r("[1..5]"), r("[1..10]")), True),
    ("starts", (r("(1..5]"), r("[1..10]")), False),
    ("starts", (r("[1..10]"), r("[1..10]")), True),
    ("starts", (r("[1..10]"), r("[1..10)")), False),
    ("started by", (r("[1..10]"), 1), True),
    ("started by", (r("(1..10]"), 1), False),
    ("started by", (r("[1..10]"), r("[1..5]")), True),
    ("started by", (r("(1..10]"), r("[1..5]")), False),
    ("started by", (r("[1..10]"), r("[1..10)")), True),
    ("coincides", (5, 5), True),
    ("coincides", (3, 4), False),
    ("coincides", (r("[1..5]"), r("[1..5]")), True),
    ("coincides", (r("(1..5]"), r("[1..5)")), False),
    ("coincides", (r("[1..5]"), r("[2..6]")), False),
]


@pytest.mark.parametrize(("name", "args", "expected"), CASES)
def test_range_functions(name: str, args: tuple[Any, ...], expected: bool) -> None:
    assert call(name, *args) is expected


def test_range_functions_on_dates_and_named_parameters() -> None:
    week = Range(dt.date(2024, 1, 1), True, dt.date(2024, 1, 7), True)
    assert call("includes", week, dt.date(2024, 1, 3)) is True
    assert call("before", point=dt.date(2023, 12, 31), range=week) is True
    assert call("after", range1=week, range2=Range(None, False, dt.date(2023, 1, 1), True)) is True


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("before", (1, "a")),
        ("before", (None, 1)),
        ("includes", (r("[1..5]"), "a")),
        ("meets", (1, 2)),
        ("includes", (1, r("[1..5]"))),
        ("during", (r("[1..5]"), 3)),
    ],
)
def test_range_functions_reject_invalid_arguments(name: str, args: tuple[Any, ...]) -> None:
    with pytest.raises(FeelFunctionError, match=f"^{name}: "):
        call(name, *args)
