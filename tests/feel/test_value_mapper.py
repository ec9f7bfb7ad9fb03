"""The one value mapper: each FEEL value type renders as documented in connector.feel.convert."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

import pytest

from connector import feel
from connector.feel.convert import json_default, to_json_compatible, to_json_text, to_text
from tests.feel.value_renderings import RENDERINGS, context_expression, expected_json


@pytest.mark.parametrize(
    ("expression", "rendered", "text"),
    [pytest.param(e, r, t, id=n) for n, e, r, t in RENDERINGS],
)
def test_each_value_type_renders_as_documented(expression: str, rendered: Any, text: Any) -> None:
    value = feel.evaluate(expression)
    mapped = to_json_compatible(value)
    assert mapped == rendered and type(mapped) is type(rendered)
    if text is not None and not isinstance(rendered, list):  # lists: joined by the binder
        assert to_text(value) == text
    # the JSON text round-trips to the same rendering
    assert json.loads(to_json_text(value)) == rendered


def test_a_whole_context_maps_member_by_member() -> None:
    value = feel.evaluate(context_expression())
    assert to_json_compatible(value) == expected_json()
    assert json.loads(json.dumps(value, default=json_default)) == expected_json()


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, Decimal("1E+5000"), Decimal("NaN"), Decimal("-Inf")]
)
def test_non_finite_numbers_are_null_never_json_numbers(value: Any) -> None:
    assert to_json_compatible(value) is None
    assert to_json_compatible({"x": [value]}) == {"x": [None]}
    assert to_json_text([value]) == "[null]"  # allow_nan=False would raise on NaN


def test_caller_values_pass_through_unchanged_in_kind() -> None:
    value = {1: (1, 2.5), "d": dt.date(2024, 1, 2), "td": dt.timedelta(hours=-1)}
    assert to_json_compatible(value) == {"1": [1, 2.5], "d": "2024-01-02", "td": "-PT1H"}


def test_numbers_as_text_have_no_exponent() -> None:
    assert to_text(1e-7) == "0.0000001"
    assert to_text(Decimal("1E+3")) == "1000"
    assert to_text(2.0) == "2"
    assert to_text(None) == "null"


def test_unknown_objects_are_refused() -> None:
    with pytest.raises(TypeError):
        to_json_compatible(object())
