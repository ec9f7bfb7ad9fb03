"""Property-based fuzzing of every input the worker and the dev engine take from outside.

The rule under test is the project's: bad input gets a clear error of the documented kind,
never an unexpected exception, a hang or a crash. Hypothesis generates the inputs;
``derandomize`` makes every CI run try the same cases (a failure found once stays found),
and the example counts keep the whole file to seconds (``FUZZ_EXAMPLES`` raises them).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connector import feel
from connector.bpmn import PollingElement
from connector.correlation import CorrelationError, evaluate_response
from connector.devengine.engine import Engine
from connector.devengine.rest import Request, RestApi
from connector.elements import PROPERTIES, ElementConfig, build_config
from connector.errors import ElementConfigError
from connector.http.response import HttpResponse, NonFiniteNumberError, parse_body

#: ``FUZZ_EXAMPLES=20000 FUZZ_RANDOM=1 python -m pytest tests/fuzz`` for a deeper, fresh search.
FUZZ = settings(
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    deadline=None,
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# -- FEEL -----------------------------------------------------------------------------------

#: Pieces of FEEL that combine into mostly-almost-valid expressions: the interesting region
#: for a parser is near the grammar, not uniform noise.
FEEL_TOKENS = [
    *"()[]{}.,:+-*/<>=!?",
    "**", "..", "<=", ">=", "!=", "->", '"', '"a"', "`x y`", "@\"2024-02-29\"",
    "1", "0", "-1", "2.5", "1e3", ".5", "null", "true", "false",
    "x", "body", "status", "response.body", "a.b", "items[1]", "items[-1]", "items[x > 1]",
    "if", "then", "else", "for", "in", "return", "some", "every", "satisfies",
    "and", "or", "not", "between", "instance of", "function", "list", "context",
    "string(", "number(", "date(", "duration(", "count(", "sum(", "substring(",
    "matches(", "replace(", "get value(", "context put(", "is defined(", "assert(",
    "now()", "today()", "date and time(", "years and months duration(", " ",
]  # fmt: skip

feel_text = st.one_of(
    st.lists(st.sampled_from(FEEL_TOKENS), max_size=25).map("".join),
    st.lists(st.sampled_from(FEEL_TOKENS), max_size=25).map(" ".join),
    st.text(max_size=60),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
contexts = st.dictionaries(
    st.sampled_from(["x", "body", "status", "items", "a", "response", "y z"]), json_values
)


@FUZZ
@given(feel_text, contexts)
def test_feel_compiles_or_raises_a_syntax_error_and_evaluation_never_raises(
    text: str, context: dict[str, Any]
) -> None:
    try:
        expression = feel.compile("=" + text)
    except feel.FeelSyntaxError as error:
        assert str(error)  # says what is wrong
        return
    value, warnings = expression.evaluate_with_warnings(context, budget=0.5)
    assert isinstance(warnings, list)
    # whatever came out can leave FEEL as JSON (the one value mapper)
    json.dumps(feel.to_json_compatible(value))
    try:
        expression.evaluate_checked(context, budget=0.5)
    except feel.FeelEvaluationError as error:
        assert str(error)


# -- element properties ---------------------------------------------------------------------

PROPERTY_NAMES = [prop.name for prop in PROPERTIES]
PROPERTY_VALUES = st.one_of(
    st.sampled_from(
        [
            "", " ", "=", "==", "=x", "=1/0", '="a" +', "PT5S", "PT0S", "P1Y", "-PT1S",
            "PT999999999999H", "R/PT1S", "5", "-1", "0", "1e309", "abc", "GET", "get", "TRACE",
            "http://example.com/x", "https://", "ftp://x", "http://:80/", "http://[::1",
            "=if x then", "={a:1}", "=[1,2]", "true", "false", "null", "noAuth", "basic",
            "bearer", "oauth-client-credentials-flow", "apiKey", "headers", "query",
            "{{secrets.X}}", "{{secrets.}}", "\u0000", "\ud7ff" * 3,
        ]
    ),
    st.text(max_size=40),
)  # fmt: skip
properties = st.dictionaries(st.sampled_from(PROPERTY_NAMES), PROPERTY_VALUES, max_size=12)


@FUZZ
@given(properties)
# found by a deeper run: urlsplit raised ValueError out of element loading
@example({"url": "http://[::1"})
@example({"url": "http://h:99999/", "authentication.type": "oauth-client-credentials-flow"})
def test_any_property_values_give_a_config_or_errors_naming_element_and_property(
    values: dict[str, str],
) -> None:
    merged = {"inbound.type": "io.camunda:http-polling:1", "url": "http://example.com/a"}
    merged.update(values)
    element = PollingElement(
        process_id="fuzz-process",
        element_id="FuzzEvent",
        element_name=None,
        kind="intermediate",
        attached_to=None,
        message_name="fuzz-message",
        subscription_correlation_key="=x",
        properties=merged,
    )
    config, errors = build_config(element)
    assert (config is None) == bool(errors)
    for error in errors:
        assert isinstance(error, ElementConfigError)
        assert error.element_id == "FuzzEvent" and error.process_id == "fuzz-process"
        assert error.property and error.reason
        assert "FuzzEvent" in str(error)


# -- responses ------------------------------------------------------------------------------

CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-16",
        "application/problem+json",
        "text/plain; charset=latin-1",
        "text/plain; charset=nonsense",
        "application/xml",
        "application/octet-stream",
    ]
)
raw_bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.sampled_from([b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"[" * 50, b"\xff\xfe{"]),
)


@FUZZ
@given(raw_bodies, CONTENT_TYPES)
def test_any_body_parses_to_json_text_or_none_or_a_non_finite_number_error(
    raw: bytes, content_type: str | None
) -> None:
    try:
        body = parse_body(raw, content_type)
    except NonFiniteNumberError:
        return
    json.dumps(body, allow_nan=False)


CONDITION_CONFIG: dict[str, str] = {
    "inbound.type": "io.camunda:http-polling:1",
    "url": "http://example.com/a",
    "activationCondition": '=body.status = "done" or count(body) > 2 or body = "ok"',
    "correlationKeyExpression": "=body.id",
    "resultExpression": "={id: body.id, all: body, n: status}",
    "resultVariable": "result",
}


def fuzz_config() -> ElementConfig:
    element = PollingElement(
        process_id="fuzz-process",
        element_id="FuzzEvent",
        element_name=None,
        kind="intermediate",
        attached_to=None,
        message_name="fuzz-message",
        subscription_correlation_key="=x",
        properties=dict(CONDITION_CONFIG),
    )
    config, errors = build_config(element)
    assert config is not None, errors
    return config


@FUZZ
@given(raw_bodies, CONTENT_TYPES, st.integers(min_value=100, max_value=599), contexts)
def test_any_response_activates_or_not_or_raises_a_correlation_error(
    raw: bytes, content_type: str | None, status: int, variables: dict[str, Any]
) -> None:
    try:
        body = parse_body(raw, content_type)
    except NonFiniteNumberError:
        return
    response = HttpResponse(status=status, reason="", headers={}, body=body)
    try:
        activation = evaluate_response(
            FUZZ_CONFIG, response, variables, element_instance_key=2251799813685249
        )
    except CorrelationError as error:
        assert "FuzzEvent" in error.element and error.property and error.reason
        return
    if activation is not None:
        assert activation.message_name == "fuzz-message"
        assert isinstance(activation.correlation_key, str)
        json.dumps(activation.variables, allow_nan=False)


FUZZ_CONFIG = fuzz_config()

# -- the dev engine's REST API --------------------------------------------------------------

SEARCH_PATHS = [
    "/v2/process-definitions/search",
    "/v2/process-instances/search",
    "/v2/element-instances/search",
    "/v2/message-subscriptions/search",
    "/v2/variables/search",
    "/v2/incidents/search",
]
FIELD_NAMES = st.sampled_from(
    [
        "processDefinitionKey", "processDefinitionId", "processInstanceKey", "elementId",
        "isLatestVersion", "tenantId", "state", "messageSubscriptionState", "lastUpdatedDate",
        "name", "scopeKey", "version", "bogus", "$in", "$eq", "$gt", "$like", "$exists",
    ]
)  # fmt: skip
filters = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(FIELD_NAMES, inner, max_size=3)
    ),
    max_leaves=8,
)
search_bodies = st.fixed_dictionaries(
    {},
    optional={
        "filter": filters,
        "sort": st.lists(
            st.fixed_dictionaries(
                {"field": FIELD_NAMES},
                optional={"order": st.sampled_from(["ASC", "DESC", "asc", "sideways"])},
            ),
            max_size=3,
        ),
        "page": st.dictionaries(
            st.sampled_from(["limit", "from", "after", "before"]),
            st.one_of(st.integers(min_value=-5, max_value=20_000), st.text(max_size=12)),
            max_size=2,
        ),
        "bogus": json_values,
    },
)


@pytest.fixture(scope="module")
def rest_apis() -> dict[str, RestApi]:
    apis = {}
    for version in ("8.8", "8.9"):
        engine = Engine()
        engine.deploy([("fuzz.bpmn", FUZZ_BPMN.encode())])
        engine.create_process_instance("fuzz-p", variables={"orderId": "o-1", "n": 1})
        apis[version] = RestApi(engine, camunda_version=version)
    return apis


@FUZZ
@given(st.sampled_from(SEARCH_PATHS), search_bodies, st.sampled_from(["8.8", "8.9"]))
def test_any_search_body_is_answered_or_refused_with_a_problem_never_a_500(
    rest_apis: dict[str, RestApi], path: str, body: dict[str, Any], version: str
) -> None:
    request = Request("POST", path, {}, {}, accept="application/json")
    response = rest_apis[version].handle(request, raw_body=json.dumps(body).encode())
    assert response.status in (200, 400), (response.status, response.body)
    if response.status == 400:
        assert response.content_type == "application/problem+json"
        assert isinstance(response.body, dict) and response.body.get("detail")
    else:
        assert isinstance(response.body, dict) and "page" in response.body


@FUZZ
@given(st.binary(max_size=120), st.sampled_from([*SEARCH_PATHS, "/v2/messages/publication"]))
def test_any_raw_body_is_refused_cleanly(
    rest_apis: dict[str, RestApi], raw: bytes, path: str
) -> None:
    request = Request("POST", path, {}, {}, accept="application/json")
    response = rest_apis["8.8"].handle(request, raw_body=raw)
    assert response.status in (200, 400), (response.status, response.body)


FUZZ_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs" targetNamespace="x">
  <bpmn:message id="msg" name="fuzz-done">
    <bpmn:extensionElements><zeebe:subscription correlationKey="=orderId"/></bpmn:extensionElements>
  </bpmn:message>
  <bpmn:process id="fuzz-p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:messageEventDefinition messageRef="msg"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
