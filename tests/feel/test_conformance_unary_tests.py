"""FEEL conformance: an expression used as the test of ``value in ...`` (feel-scala).

After ``in``, a test that is neither a comparison (``< 5``) nor an interval (``[1..5]``) is
an expression, and feel-scala reads its result in this order: ``true`` matches whatever the
value; a list matches when it holds the value; a result equal to the value matches;
``false`` matches nothing else; a list that neither holds nor equals the value does not
match; a result that cannot be compared with the value gives null. An expression that uses
``?`` is a condition on the value: only a boolean result counts, anything else is null.
One quirk of feel-scala's grammar is kept: a bare ``true``/``false`` that ends the whole
text is compared with the value instead of being a condition.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.feel.conftest import Case, cases, check

CONDITIONS: list[Case] = [
    # a test that evaluates to a boolean decides, whatever the value's type
    ("order in (order.total > 100)", {"order": {"total": 150}}, True),
    ("order in (order.total > 100)", {"order": {"total": 50}}, False),
    ('"pending" in (count(jobs) = 0)', {"jobs": []}, True),
    ('"pending" in (count(jobs) = 0)', {"jobs": [1]}, False),
    ("7 in (ready)", {"ready": True}, True),
    ("7 in (ready)", {"ready": False}, False),
    ("7 in (ready, 8)", {"ready": False}, False),
    ("7 in (ready, 7)", {"ready": False}, True),
    ('@"2024-05-01" in (list contains(["a"], "a"))', None, True),
    ("true in (2 > 1)", None, True),
    ("true in (1 > 2)", None, False),
    # a result that is neither true nor equal: false for null or a boolean, null otherwise
    ("true in (true and null)", None, False),
    ("true in (false or null)", None, False),
    ("true in (null)", None, False),
    ('true in ("yes")', None, None),
    ('3 in ("3")', None, None),
    ("3 in (null)", None, False),
    ("null in (null)", None, True),
    # false compared with false is equal, so it matches
    ("false in (false)", None, True),
    ("false in (1 > 2)", None, True),
    ("4 in (false)", None, False),
]

LISTS: list[Case] = [
    # a list matches the value it holds, or a list equal to it as a whole
    ("[] in []", None, True),
    ("[3, 4] in [3, 4]", None, True),
    ("[3, 4] in ([3, 4])", None, True),
    ('tags in ["a", "b"]', {"tags": ["a", "b"]}, True),
    ("[4, 3] in [3, 4]", None, False),
    ("[3] in [3, 4]", None, False),
    ("[3] in [[3], [4]]", None, True),
    ("{k: 1} in [{k: 1}, {k: 2}]", None, True),
    ("{k: 3} in [{k: 1}, {k: 2}]", None, False),
    ('2 in [1, "two", 2]', None, True),
    ('"b" in [1, "two", 2]', None, False),
    ("5 in [1, [4..6]]", None, True),
    ("9 in [1, [4..6]]", None, False),
]

INPUT_CONDITIONS: list[Case] = [
    # with '?', only a boolean result decides; any other result is null
    ("12 in (? > 10)", None, True),
    ("12 in (? < 10)", None, False),
    ("12 in (?)", None, None),
    ("12 in (? * 2)", None, None),
    ("12 in (string(?))", None, None),
    ("12 in (? + missing)", None, None),
    ('"abc" in (starts with(?, "a"))', None, True),
    ("null in (? = null)", None, True),
    ("null in (? != null)", None, False),
    ("null in (? > 1)", None, None),
    ("null in (even(?) or ? = null)", None, True),
    ("null in (even(?) and ? != null)", None, False),
    ("[1, 2] in (count(?) = 2)", None, True),
]

BOOLEAN_LITERAL_AT_END: list[Case] = [
    # a bare boolean that ends the text is compared with the value...
    ("false in true", None, False),
    ("false in false", None, True),
    ("true in false", None, False),
    ("flag in true", {"flag": True}, True),
    ("3 in true", None, None),
    # ... in parentheses or followed by more text it is a condition
    ("false in (true)", None, True),
    ("if false in true then 1 else 2", None, 1),
]


@pytest.mark.parametrize(("expression", "context", "expected"), cases(CONDITIONS))
def test_a_boolean_test_is_a_condition(
    expression: str, context: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(LISTS))
def test_a_list_test_holds_or_equals_the_value(
    expression: str, context: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(INPUT_CONDITIONS))
def test_a_test_using_the_input_value_must_be_boolean(
    expression: str, context: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(BOOLEAN_LITERAL_AT_END))
def test_a_final_boolean_literal_is_compared(
    expression: str, context: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, context, expected)


def test_membership_of_mixed_lists_warns_about_nothing() -> None:
    # feel-scala looks the value up in the list: items of other types are just not it
    from connector import feel

    result, warnings = feel.evaluate_with_warnings('2 in [1, "two", 2, [3]]')
    assert result is True
    assert warnings == []
