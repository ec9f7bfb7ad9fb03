"""The property table is the one list of element properties; everything else derives from it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from connector.binding import BoundRequest
from connector.elements import (
    AUTH_TYPES,
    BOUND_FIELDS,
    KNOWN_PROPERTIES,
    PROPERTIES,
    REQUEST_FIELDS,
    AuthConfig,
    ElementConfig,
    Field,
)
from connector.http.auth import BearerAuth
from tests.helpers.elements import load_one

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "element-templates").glob("*.json"))


def _template_properties(path: Path) -> set[str]:
    template = json.loads(path.read_text(encoding="utf-8"))
    return {
        p["binding"]["name"]
        for p in template["properties"]
        if p["binding"]["type"] == "zeebe:property"
    }


def test_there_are_templates() -> None:
    assert len(TEMPLATES) == 2


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_table_and_template_list_the_same_properties(path: Path) -> None:
    offered = {p.name for p in PROPERTIES if p.in_template}
    in_template = _template_properties(path)
    assert in_template - offered == set(), "template properties missing from the table"
    assert offered - in_template == set(), "table rows the template does not offer"


def test_each_property_is_listed_once() -> None:
    names = [p.name for p in PROPERTIES]
    assert len(names) == len(set(names)) == len(KNOWN_PROPERTIES)
    fields = [p.field for p in PROPERTIES if p.field]
    assert len(fields) == len(set(fields))


def test_rows_name_real_element_config_attributes() -> None:
    for prop in PROPERTIES:
        if prop.field is not None:
            assert prop.field in ElementConfig.model_fields, prop.name
            assert prop.parse is not None, prop.name


def test_bound_fields_are_exactly_the_compared_request_fields() -> None:
    # Otherwise two different requests could share one coalescing digest (one HTTP call).
    compared = {f.name for f in dataclasses.fields(BoundRequest) if f.compare}
    assert set(BOUND_FIELDS) == compared
    assert all(p.stage == "request" for p in PROPERTIES if p.bound)


def _changed(name: str, value: Any) -> Any:
    if name == "auth":
        return BearerAuth(token="t")
    if value is None:
        return b"x" if name == "body" else "x"
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, tuple):
        return (*value, ("k", "v"))
    if name == "body":
        return b"{}"
    return value + "x"


@pytest.mark.parametrize("name", BOUND_FIELDS)
def test_every_bound_field_changes_the_coalescing_digest(name: str) -> None:
    base = BoundRequest(method="GET", url="https://example.com/a")
    other = dataclasses.replace(base, **{name: _changed(name, getattr(base, name))})
    assert other != base
    assert other.coalesce_key != base.coalesce_key


def test_defaults_of_absent_properties() -> None:
    config = load_one()
    for prop in PROPERTIES:
        if prop.field is None or prop.default is None:
            continue
        value = getattr(config, prop.field)
        if isinstance(value, Field):
            value = value.raw
        if isinstance(value, AuthConfig):
            value = value.type
        assert value == prop.default, prop.name


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({}, False),
        ({"headers": '={"X-Key": "{{secrets.KEY}}"}'}, True),
        ({"url": "https://example.com/{{secrets.PATH}}"}, True),
        ({"readTimeoutInSeconds": "{{secrets.T}}"}, True),
        ({"authentication.type": "bearer", "authentication.token": "{{secrets.TOKEN}}"}, True),
        ({"authentication.type": "bearer", "authentication.token": "literal"}, False),
    ],
)
def test_uses_secrets_is_computed_at_load(props: dict[str, str], expected: bool) -> None:
    assert load_one(**props).uses_secrets is expected


def test_request_fields_cover_every_request_row() -> None:
    assert set(REQUEST_FIELDS) == {p.field for p in PROPERTIES if p.stage == "request" and p.field}
    assert "auth" in REQUEST_FIELDS


def test_auth_types_are_one_list() -> None:
    assert AUTH_TYPES[0] == "noAuth"
    assert len(AUTH_TYPES) == len(set(AUTH_TYPES)) == 6
