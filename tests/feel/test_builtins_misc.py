"""Boolean and miscellaneous built-ins: not, get or else, assert, is, fromAi."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from connector.feel.values import AssertionFailed
from tests.helpers.feel import call


def test_not_uses_three_valued_logic() -> None:
    assert call("not", True) is False
    assert call("not", False) is True
    assert call("not", None) is None
    assert call("not", 1) is None
    assert call("not", negand=False) is True


def test_get_or_else() -> None:
    assert call("get or else", "this", "default") == "this"
    assert call("get or else", None, "default") == "default"
    assert call("get or else", None, None) is None
    assert call("get or else", False, True) is False


def test_assert_fails_the_whole_evaluation() -> None:
    # feel-scala: an unfulfilled assert is an evaluation failure carrying the cause
    assert call("assert", 4, True) == 4
    with pytest.raises(AssertionFailed, match=r"^The condition is not fulfilled$"):
        call("assert", None, False)
    with pytest.raises(AssertionFailed, match=r"^'x' should be positive$"):
        call("assert", -1, False, "'x' should be positive")
    with pytest.raises(AssertionFailed):
        call("assert", 1, None)


def test_is_requires_same_type_and_zone() -> None:
    berlin = dt.datetime(2021, 2, 13, 10, tzinfo=ZoneInfo("Europe/Berlin"))
    same_instant = dt.datetime(2021, 2, 13, 9, tzinfo=dt.UTC)
    assert call("is", dt.date(2021, 2, 13), dt.date(2021, 2, 13)) is True
    assert call("is", dt.date(2021, 2, 13), dt.datetime(2021, 2, 13)) is False
    assert call("is", berlin, berlin) is True
    assert call("is", berlin, same_instant) is False
    assert call("is", 1, 1) is True
    assert call("is", 1, "1") is False
    assert call("is", None, None) is True
    assert call("is", value1=[1, "a"], value2=[1, "a"]) is True


def test_from_ai_returns_the_value_unchanged() -> None:
    assert call("fromAi", "q") == "q"
    assert call("fromAi", 1, "the id", "number") == 1
    assert call("fromAi", value=5, type="number") == 5
