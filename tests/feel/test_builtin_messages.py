"""Warnings from built-in functions describe the problem without echoing argument text.

Argument values can carry credentials (a token pasted into a URL or header), and
warnings end up in logs: a string argument is described by its length only.
"""

from __future__ import annotations

import pytest

from connector import feel
from connector.feel.builtins._util import describe_text, redact_quotes

SECRET = "s3cr3t-T0ken-abcdef"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("date(v)", "is not a valid date"),
        ("time(v)", "is not a valid time"),
        ("date and time(v)", "is not a valid date and time"),
        ("duration(v)", "is not a valid duration"),
        ("number(v)", "is not a number"),
        ('number(v, ",", ".")', "is not a number"),
        ('number(v, " ", ",")', "is not a number"),
        ('date and time(@"2024-01-01T10:00:00", v)', "unknown timezone"),
        ('replace("abc", "(b)", "${" + v + "}")', "no group of that name"),
        ('matches("abc", "\\p{" + v + "}")', "property"),
        ('matches("abc", "(?<" + v + ">a)(?<" + v + ">b)")', "invalid pattern"),
    ],
)
def test_string_arguments_are_not_echoed(text: str, problem: str) -> None:
    value, warnings = feel.evaluate_with_warnings(text, {"v": SECRET})
    assert value is None
    assert len(warnings) == 1
    assert problem in warnings[0]
    assert SECRET not in warnings[0] and "s3cr" not in warnings[0]


def test_the_length_is_given_instead() -> None:
    _, warnings = feel.evaluate_with_warnings("date(v)", {"v": SECRET})
    assert f"a string of {len(SECRET)} characters" in warnings[0]


def test_describe_text() -> None:
    assert describe_text("") == "a string of 0 characters"
    assert describe_text("x") == "a string of 1 character"


def test_redact_quotes_keeps_short_fragments_only() -> None:
    assert redact_quotes("bad escape \\q at position 2") == "bad escape \\q at position 2"
    assert redact_quotes("unknown flag 'z'") == "unknown flag 'z'"
    assert redact_quotes("redefinition of group name 'token' as group 2") == (
        "redefinition of group name (a string of 5 characters) as group 2"
    )
    assert redact_quotes('name "longer one" here') == "name (a string of 10 characters) here"
