"""Validating polling elements into ElementConfig (one bad element never stops the others)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from connector.bpmn import BpmnError
from connector.elements import load_elements
from tests.helpers.bpmn import diagram
from tests.helpers.elements import BASE, errors_of, load_one

FIXTURES = Path(__file__).with_name("fixtures")


def test_defaults() -> None:
    config = load_one()
    assert config.process_id == "p"
    assert config.element_id == "e0"
    assert config.message_name == "msg"
    assert config.subscription_correlation_key == "=orderId"
    assert config.kind == "intermediate"
    assert config.interval == dt.timedelta(seconds=50)
    assert config.method.raw == "GET"
    assert config.auth.type == "noAuth"
    assert config.message_ttl is None
    assert config.effective_message_ttl == dt.timedelta(hours=1)
    assert config.follow_redirects is False
    assert config.request_uses_variables is False
    assert config.activation_condition is None


def test_config_is_frozen() -> None:
    config = load_one()
    with pytest.raises(ValueError):
        config.element_id = "other"  # type: ignore[misc]


def test_all_camunda_fixtures_load() -> None:
    for path in sorted(FIXTURES.glob("*.bpmn")):
        configs, errors = load_elements(path.read_bytes(), source=path.name)
        assert errors == [], path
        assert len(configs) == 1, path


def test_boundary_fixture_details() -> None:
    [config], _ = load_elements((FIXTURES / "camunda-boundary-oauth.bpmn").read_bytes())
    assert config.kind == "boundary"
    assert config.attached_to == "Activity_Pack"
    assert config.auth.type == "oauth-client-credentials-flow"
    assert config.auth.client_authentication == "credentialsBody"
    assert set(config.auth.fields) >= {"oauthTokenEndpoint", "clientId", "clientSecret"}
    assert config.message_ttl == dt.timedelta(0)
    assert config.result_variable == "cancellation"
    assert config.interval == dt.timedelta(seconds=30)
    assert config.request_uses_variables is True


def test_v1_template_lowercase_method() -> None:
    [config], errors = load_elements((FIXTURES / "camunda-v1-intermediate.bpmn").read_bytes())
    assert errors == []
    assert config.method.raw == "GET"
    assert config.interval == dt.timedelta(seconds=2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT3M", dt.timedelta(minutes=3)),
        ("P1D", dt.timedelta(days=1)),
        ("PT1H30M10.5S", dt.timedelta(seconds=5410.5)),
        ('=duration("PT2M")', dt.timedelta(minutes=2)),
    ],
)
def test_intervals(text: str, expected: dt.timedelta) -> None:
    assert load_one(httpRequestInterval=text).interval == expected


@pytest.mark.parametrize(
    ("props", "prop", "reason"),
    [
        ({"httpRequestInterval": "50 seconds"}, "httpRequestInterval", "ISO 8601"),
        ({"httpRequestInterval": "P1M"}, "httpRequestInterval", "months"),
        ({"httpRequestInterval": "PT0S"}, "httpRequestInterval", "positive"),
        ({"messageTtl": "soon"}, "messageTtl", "ISO 8601"),
        ({"method": "FETCH"}, "method", "not one of"),
        ({"url": ""}, "url", "required"),
        ({"url": "ftp://host/file"}, "url", "http"),
        ({"correlationKeyExpression": ""}, "correlationKeyExpression", "required"),
        ({"activationCondition": "=body.status = "}, "activationCondition", "line 1, column"),
        ({"resultExpression": "={a: }"}, "resultExpression", "invalid FEEL"),
        ({"authentication.type": "digest"}, "authentication.type", "not one of"),
        ({"authentication.type": "bearer"}, "authentication.token", "required"),
        ({"authentication.type": "basic"}, "authentication.username", "required"),
        ({"connectionTimeoutInSeconds": "soon"}, "connectionTimeoutInSeconds", "seconds"),
        ({"followRedirects": "maybe"}, "followRedirects", "true or false"),
        ({"resultVariable": "not a name"}, "resultVariable", "variable name"),
        ({"authenticationConfiguration": "cred-1"}, "authenticationConfiguration", "not"),
        (
            {"authentication.type": "apiKey", "authentication.name": "k"},
            "authentication.value",
            "required",
        ),
        (
            {
                "authentication.type": "apiKey",
                "authentication.name": "k",
                "authentication.value": "v",
                "authentication.apiKeyLocation": "cookie",
            },
            "authentication.apiKeyLocation",
            "not one of",
        ),
    ],
)
def test_precise_errors(props: dict[str, str], prop: str, reason: str) -> None:
    errors = errors_of(**props)
    matching = [e for e in errors if e.property == prop]
    assert matching, errors
    assert reason in matching[0].reason
    text = str(matching[0])
    assert text.startswith(f"test.bpmn: process 'p' element 'e0' property '{prop}': ")


def test_one_bad_element_does_not_stop_the_others() -> None:
    xml = diagram(BASE, {**BASE, "httpRequestInterval": "often"}, {**BASE, "method": "POST"})
    configs, errors = load_elements(xml)
    assert [c.element_id for c in configs] == ["e0", "e2"]
    assert [(e.element_id, e.property) for e in errors] == [("e1", "httpRequestInterval")]


def test_missing_message_is_reported() -> None:
    xml = diagram(BASE).replace('<bpmn:message id="m" name="msg">', '<bpmn:message id="m">')
    configs, errors = load_elements(xml)
    assert configs == []
    assert errors[0].property == "message"


def test_feel_request_fields_need_variables() -> None:
    assert load_one(url='=baseUrl + "/x"').request_uses_variables is True
    assert load_one(headers='={"a": "b"}').request_uses_variables is True
    assert load_one(headers='{"a": "b"}').request_uses_variables is False


@pytest.mark.parametrize(
    ("props", "names"),
    [
        ({}, set()),  # the default correlation key reads only the response
        ({"url": '=baseUrl + "/x"'}, {"baseUrl"}),
        ({"headers": '={"a": "b"}'}, set()),  # FEEL, but constant
        ({"body": "={ids: for o in orders return o.id}", "method": "POST"}, {"orders"}),
        ({"queryParameters": "={q: string length(term)}"}, {"term"}),
        ({"activationCondition": "=list contains(body.closed, ticketId)"}, {"ticketId"}),
        ({"activationCondition": '=status = 200 and response.body.x = "y"'}, set()),
        ({"correlationKeyExpression": "=orderId"}, {"orderId"}),
        ({"messageIdExpression": '=body.id + "-" + attempt'}, {"attempt"}),
        ({"resultExpression": "={a: body.a, b: a, who: assignee}"}, {"assignee"}),
        ({"resultExpression": "={x: headers, y: reason}"}, set()),
        ({"url": '="https://h/" + secrets.PATH + "/" + tenant'}, {"tenant"}),
        ({"readTimeoutInSeconds": "=timeoutSeconds"}, {"timeoutSeconds"}),
        (
            {"authentication.type": "bearer", "authentication.token": "=accessToken"},
            {"accessToken"},
        ),
    ],
)
def test_variable_names_are_computed_once_from_the_expressions(
    props: dict[str, str], names: set[str]
) -> None:
    config = load_one(**props)
    assert config.variable_names == names
    assert config.needs_variables is bool(names)


def test_response_names_count_as_variables_in_request_fields() -> None:
    # Request fields see only the instance's variables: "status" is a variable there.
    config = load_one(url='="https://h/" + status', correlationKeyExpression="=body.id + status")
    assert config.request_variable_names == {"status"}
    assert config.variable_names == {"status"}
    assert load_one(correlationKeyExpression="=status").variable_names == set()


def test_secrets_in_feel_are_syntax_checked_with_a_stand_in() -> None:
    config = load_one(url='="https://h/" + secrets.PATH + "?k={{secrets.KEY}}"')
    assert config.url.expression is None  # compiled per binding, after substitution
    assert config.url.has_secrets
    errors = errors_of(url="={{secrets.KEY}} +")
    assert errors[0].property == "url"


def test_secrets_are_refused_in_correlation_expressions() -> None:
    errors = errors_of(activationCondition="=body.key = {{secrets.KEY}}")
    assert "secrets" in errors[0].reason


def test_field_repr_hides_literal_values() -> None:
    config = load_one(**{"authentication.type": "bearer", "authentication.token": "lit-3r3t"})
    assert "lit-3r3t" not in repr(config.auth)


def test_unparseable_xml_raises() -> None:
    with pytest.raises(BpmnError):
        load_elements("<oops")


NASTY = ["", " ", "=", "=(", "={", "{{secrets.}}", "{{secrets.X}}", "=secrets.X", "P99999999999D"]
NASTY += ["-PT5S", "PT", "=null", "=1/0", '="x"', "=[1,2]", "true", "0", "-1", "1e400", "ä€"]


@pytest.mark.parametrize("value", NASTY)
def test_never_crashes_on_any_property_value(value: str) -> None:
    from connector.elements import KNOWN_PROPERTIES

    for prop in sorted(KNOWN_PROPERTIES - {"inbound.type"}):
        configs, errors = load_elements(diagram({**BASE, prop: value}))
        assert len(configs) + len({e.element_id for e in errors}) == 1, (prop, value)
        for error in errors:
            assert error.reason, (prop, value)
