"""The documented rendering of every FEEL value type (see :mod:`connector.feel.convert`).

Shared by the unit test of the value mapper and the end-to-end test that sends each value
through every exit of the worker (published variables, request body, query, headers).
Each row: a name usable as a context key and header suffix, a FEEL expression, its JSON
rendering and its text rendering (``None``: the value is left out of query and headers).
"""

from __future__ import annotations

from typing import Any

RENDERINGS: list[tuple[str, str, Any, str | None]] = [
    ("null", "null", None, None),
    ("yes", "true", True, "true"),
    ("no", "false", False, "false"),
    ("text", '"a b/ü"', "a b/ü", "a b/ü"),
    ("int", "42", 42, "42"),
    ("negative", "-7", -7, "-7"),
    ("big", "12345678901234567890", 12345678901234567890, "12345678901234567890"),
    ("integral", "2.50 * 2", 5, "5"),
    ("fraction", "0.1", 0.1, "0.1"),
    ("third", "1 / 3", 0.3333333333333333, "0.3333333333333333"),
    ("tiny", "0.0000001", 1e-07, "0.0000001"),
    ("date", '@"2024-03-31"', "2024-03-31", "2024-03-31"),
    ("localtime", '@"14:55:00"', "14:55", "14:55"),
    ("localsec", '@"14:55:30"', "14:55:30", "14:55:30"),
    ("localfrac", '@"14:55:30.25"', "14:55:30.250", "14:55:30.250"),
    ("offsettime", '@"14:55:00+02:00"', "14:55:00+02:00", "14:55:00+02:00"),
    ("utctime", '@"14:55:00Z"', "14:55:00Z", "14:55:00Z"),
    (
        "zonetime",
        'time("14:55:00@Europe/Berlin")',
        "14:55:00@Europe/Berlin",
        "14:55:00@Europe/Berlin",
    ),
    ("localdt", '@"2024-03-31T14:55:00"', "2024-03-31T14:55:00", "2024-03-31T14:55:00"),
    ("fracdt", '@"2024-03-31T14:55:00.5"', "2024-03-31T14:55:00.5", "2024-03-31T14:55:00.5"),
    (
        "offsetdt",
        '@"2024-03-31T14:55:00-05:00"',
        "2024-03-31T14:55:00-05:00",
        "2024-03-31T14:55:00-05:00",
    ),
    ("utcdt", '@"2024-03-31T14:55:00Z"', "2024-03-31T14:55:00Z", "2024-03-31T14:55:00Z"),
    (
        "zonedt",
        '@"2024-03-31T14:55:00@Europe/Berlin"',
        "2024-03-31T14:55:00+02:00[Europe/Berlin]",
        "2024-03-31T14:55:00+02:00[Europe/Berlin]",
    ),
    (
        "winterdt",
        'date and time("2024-01-15T08:00:00@America/New_York")',
        "2024-01-15T08:00:00-05:00[America/New_York]",
        "2024-01-15T08:00:00-05:00[America/New_York]",
    ),
    ("duration", '@"P1DT2H30M"', "P1DT2H30M", "P1DT2H30M"),
    ("halfsec", 'duration("PT0.5S")', "PT0.5S", "PT0.5S"),
    ("negdur", '-@"PT1H"', "-PT1H", "-PT1H"),
    ("zerodur", '@"PT0S"', "P0D", "P0D"),
    ("ymdur", 'duration("P1Y2M")', "P1Y2M", "P1Y2M"),
    ("ym14", 'years and months duration(date("2023-01-01"), date("2024-03-01"))', "P1Y2M", "P1Y2M"),
    ("negym", '-duration("P2M")', "-P2M", "-P2M"),
    ("range", "[1..5]", None, None),
    ("function", "function(x) x + 1", None, None),
    ("list", '[1, "a", @"2024-03-31", null]', [1, "a", "2024-03-31", None], "1, a, 2024-03-31"),
    (
        "context",
        '{d: duration("P1Y"), t: @"10:00:00", n: 1.5}',
        {"d": "P1Y", "t": "10:00", "n": 1.5},
        '{"d":"P1Y","t":"10:00","n":1.5}',
    ),
]


def context_expression() -> str:
    """One FEEL context holding every row's value under its name."""
    return "{" + ", ".join(f"{name}: {expr}" for name, expr, _, _ in RENDERINGS) + "}"


def expected_json() -> dict[str, Any]:
    return {name: rendered for name, _, rendered, _ in RENDERINGS}


def expected_texts() -> dict[str, str]:
    return {name: text for name, _, _, text in RENDERINGS if text is not None}
