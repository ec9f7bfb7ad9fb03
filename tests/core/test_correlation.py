"""From a response to an Activation: condition, keys, message id, TTL, variables."""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial
from typing import Any

import pytest

from connector.correlation import Activation, CorrelationError, evaluate_response
from connector.elements import load_elements
from connector.http import HttpResponse
from tests.helpers.bpmn import diagram
from tests.helpers.elements import load_one

ISSUE = HttpResponse(
    status=200,
    reason="OK",
    headers={"Content-Type": "application/json", "X-Count": ["1", "2"]},
    body={
        "number": 212,
        "state": "closed",
        "labels": [{"name": "bug"}, {"name": "needs review"}],
        "html_url": "https://github.com/o/r/issues/212",
    },
)


def evaluate(
    response: HttpResponse = ISSUE, variables: dict[str, Any] | None = None, **props: str
) -> Activation | None:
    props.setdefault("correlationKeyExpression", "=body.number")
    config = load_one(**props)
    return evaluate_response(config, response, variables or {}, element_instance_key=7)


def test_seed_scenario_github_issue() -> None:
    activation = evaluate(
        activationCondition='=(body.state = "closed")',
        resultExpression=(
            "={issueUrl:body.html_url, "
            'needsReview: list contains((body.labels).name, "needs review")}'
        ),
    )
    assert activation is not None
    assert activation.message_name == "msg"
    assert activation.correlation_key == "212"
    assert activation.message_id == "e07"
    assert activation.ttl == dt.timedelta(hours=1)
    assert activation.variables == {
        "issueUrl": "https://github.com/o/r/issues/212",
        "needsReview": True,
    }
    assert (activation.process_id, activation.element_id) == ("p", "e0")
    assert activation.element_instance_key == 7


def test_condition_not_met_is_none(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="connector.correlation")
    assert evaluate(activationCondition='=body.state = "open"') is None
    assert "not met" in caplog.text
    assert evaluate(activationCondition="=body.missing.path") is None  # null: not met


def test_condition_sees_status_headers_reason_and_response() -> None:
    assert evaluate(activationCondition='=status = 200 and reason = "OK"') is not None
    assert evaluate(activationCondition='=get value(headers, "Content-Type") = "application/json"')
    assert evaluate(activationCondition="=response.status = 200") is not None
    assert evaluate(activationCondition="=response.body.number = 212") is not None


def test_non_boolean_condition_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    # An expression no other test uses: the warning is once per element, property and
    # expression for the whole process, whichever test ran before.
    config = load_one(activationCondition="=body.number + 0", correlationKeyExpression="=1")
    for _ in range(3):
        assert evaluate_response(config, ISSUE, {}, element_instance_key=1) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "activationCondition" in warnings[0].getMessage()


def test_instance_variables_visible_and_response_wins() -> None:
    shared = HttpResponse(200, "OK", {}, {"closed": ["T-1", "T-3"]})
    props = {
        "activationCondition": "=list contains(body.closed, ticketId)",
        "correlationKeyExpression": "=ticketId",
    }
    assert evaluate(shared, {"ticketId": "T-2"}, **props) is None
    activation = evaluate(shared, {"ticketId": "T-3"}, **props)
    assert activation is not None and activation.correlation_key == "T-3"
    # A variable named like a response field is hidden by the response.
    hidden = evaluate(shared, {"body": {"closed": ["T-9"]}, "ticketId": "T-9"}, **props)
    assert hidden is None


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("=body.number", "212"),
        ('="k-" + string(body.number)', "k-212"),
        ("=12345.0", "12345"),
        ("=1.5", "1.5"),
        ('=""', ""),
    ],
)
def test_correlation_key_values(expression: str, expected: str) -> None:
    activation = evaluate(correlationKeyExpression=expression)
    assert activation is not None and activation.correlation_key == expected


@pytest.mark.parametrize("expression", ["=body.missing", "=true", "=body.labels", "={a: 1}"])
def test_bad_correlation_keys(expression: str) -> None:
    with pytest.raises(CorrelationError) as exc:
        evaluate(correlationKeyExpression=expression)
    assert exc.value.property == "correlationKeyExpression"
    assert "process 'p' element 'e0'" in str(exc.value)


def test_message_id_and_ttl() -> None:
    activation = evaluate(messageIdExpression='="issue-" + string(body.number)', messageTtl="PT0S")
    assert activation is not None
    assert activation.message_id == "issue-212"
    assert activation.ttl == dt.timedelta(0)
    with pytest.raises(CorrelationError) as exc:
        evaluate(messageIdExpression="=body.nothing")
    assert exc.value.property == "messageIdExpression"


def test_boundary_default_message_id_uses_the_activity() -> None:
    [config], _ = load_elements(
        diagram({"url": "https://h/", "correlationKeyExpression": "=1"}, boundary=True)
    )
    activation = evaluate_response(config, ISSUE, {}, element_instance_key=99)
    assert activation is not None and activation.message_id == "task99"


def test_result_variable_and_expression() -> None:
    activation = evaluate(resultVariable="issue", resultExpression="={n: body.number, s: status}")
    assert activation is not None
    assert activation.variables == {
        "issue": {
            "status": 200,
            "headers": {"Content-Type": "application/json", "X-Count": ["1", "2"]},
            "body": ISSUE.body,
            "reason": "OK",
        },
        "n": 212,
        "s": 200,
    }
    assert evaluate(resultVariable="", resultExpression="").variables == {}  # type: ignore[union-attr]


@pytest.mark.parametrize("expression", ["=body.number", "=null", "=[1]"])
def test_result_expression_must_be_a_context(expression: str) -> None:
    with pytest.raises(CorrelationError) as exc:
        evaluate(resultExpression=expression)
    assert exc.value.property == "resultExpression"


def test_variables_are_plain_json() -> None:
    activation = evaluate(resultExpression='={d: date("2024-01-02"), x: 2.50, t: duration("PT1M")}')
    assert activation is not None
    assert activation.variables == {"d": "2024-01-02", "x": 2.5, "t": "PT1M"}


def test_text_body_and_reference_expression() -> None:
    text = HttpResponse(200, "OK", {}, "DONE")
    activation = evaluate(
        text, activationCondition='=body = "DONE"', correlationKeyExpression='="k"'
    )
    assert activation is not None


BODIES: list[Any] = [None, "", "text", 0, [], {}, {"number": None}, {"number": [1]}, [{"a": 1}]]


@pytest.mark.parametrize("body", BODIES)
def test_any_body_evaluates_or_fails_cleanly(body: Any) -> None:
    config = load_one(
        activationCondition="=body.number != 0",
        correlationKeyExpression="=body.number",
        messageIdExpression="=string(body.number)",
        resultExpression="={n: body.number}",
        resultVariable="r",
    )
    response = HttpResponse(200, "OK", {}, body)
    try:
        evaluate_response(config, response, {"number": 1}, element_instance_key=1)
    except CorrelationError as exc:
        assert exc.property in {"correlationKeyExpression", "messageIdExpression"}


def test_evaluations_hand_their_outcome_back_in_the_event_loop() -> None:
    import asyncio
    import threading

    from connector.correlation import ResponseEvaluator

    met = load_one(activationCondition='=body.state = "closed"', correlationKeyExpression="=x")
    seen: list[tuple[int, bool, str, str]] = []

    async def run() -> None:
        evaluator = ResponseEvaluator(2)
        loop_thread = threading.current_thread().name
        done = asyncio.Event()

        def then(key: int, ok: bool, value: Any) -> None:
            seen.append((key, ok, type(value).__name__, threading.current_thread().name))
            if len(seen) == 2:
                done.set()

        try:
            for key in (1, 2):
                evaluator.submit_then(
                    met, ISSUE, {"x": 5} if key == 1 else {}, key, partial(then, key)
                )
            await asyncio.wait_for(done.wait(), 10)
        finally:
            evaluator.close()
        assert {thread for *_, thread in seen} == {loop_thread}

    asyncio.run(run())
    # Only the instance with a variable x gets a correlation key.
    assert sorted(seen)[0][:3] == (1, True, "Activation")
    assert sorted(seen)[1][:3] == (2, False, "CorrelationError")
