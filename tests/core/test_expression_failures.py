"""Element expressions that fail as a whole: a runaway one (budget) or an unfulfilled assert.

Binding and correlation turn them into errors naming the element and the property; the
correlation side logs each once per element and property; an assertion's cause is withheld
when the property had secrets substituted into it.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from connector import binding, correlation
from connector.binding import BindingError, bind_request
from connector.correlation import CorrelationError, evaluate_response
from connector.http import HttpResponse
from connector.secrets import MappingSecretProvider
from tests.core.test_elements import load_one

SECRETS = MappingSecretProvider({"TOKEN": "t0k"})
RESPONSE = HttpResponse(status=200, reason="OK", headers={}, body={"n": 1, "state": "done"})
RUNAWAY = "=some x in 1..1000000000 satisfies x < 0"


@pytest.fixture(autouse=True)
def short_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binding, "EXPRESSION_BUDGET_SECONDS", 0.05)
    monkeypatch.setattr(correlation, "EXPRESSION_BUDGET_SECONDS", 0.05)
    correlation._warned.clear()
    binding._budget_warned.clear()


def _bind_error(**props: str) -> BindingError:
    with pytest.raises(BindingError) as info:
        bind_request(load_one(**props), {}, SECRETS)
    return info.value


def test_runaway_url_expression_is_a_binding_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="connector.binding")
    for _ in range(3):
        error = _bind_error(url="=if " + RUNAWAY[1:] + ' then "https://a" else "https://b"')
        assert error.property == "url"
        assert "evaluation exceeded its time budget" in str(error)
        assert "process 'p' element 'e0'" in str(error)
    # logged once for the element and property, however many instances and polls
    assert len([r for r in caplog.records if "time budget" in r.getMessage()]) == 1


def test_assert_in_a_request_property_carries_its_cause() -> None:
    error = _bind_error(url='=assert("https://h", false, "no host configured")')
    assert error.property == "url"
    assert "assertion failed: no host configured" in str(error)


def test_assert_cause_is_withheld_when_secrets_were_substituted() -> None:
    error = _bind_error(url='=assert("https://h", false, "token {{secrets.TOKEN}}")')
    assert "t0k" not in str(error)
    assert "cause withheld" in str(error)


def _evaluate(**props: str) -> Any:
    props.setdefault("correlationKeyExpression", "=body.n")
    return evaluate_response(load_one(**props), RESPONSE, {}, element_instance_key=7)


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("activationCondition", RUNAWAY),
        ("correlationKeyExpression", "=if " + RUNAWAY[1:] + " then 1 else 2"),
        ("resultExpression", "={x: " + RUNAWAY[1:] + "}"),
        ("messageIdExpression", "=string(count(for x in 1..1000000000 return x))"),
    ],
)
def test_runaway_response_expressions_fail_the_poll(
    prop: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="connector.correlation")
    for _ in range(3):
        with pytest.raises(CorrelationError) as info:
            _evaluate(**{prop: value})
        assert info.value.property == prop
        assert "time budget" in str(info.value) or "grew past" in str(info.value)
    # logged once for the element and property, not per poll
    logged = [r for r in caplog.records if prop in r.getMessage()]
    assert len(logged) == 1


def test_assert_in_the_activation_condition_fails_with_its_cause() -> None:
    with pytest.raises(CorrelationError) as info:
        _evaluate(activationCondition='=assert(body.state, body.state = "open", "not open yet")')
    assert info.value.property == "activationCondition"
    assert "assertion failed: not open yet" in str(info.value)


def test_assert_that_holds_passes_its_value() -> None:
    activation = _evaluate(activationCondition='=assert(body.state = "done", body.n = 1)')
    assert activation is not None


def test_response_evaluator_runs_off_the_loop_and_keeps_each_outcome() -> None:
    import asyncio
    import threading

    from connector.correlation import ResponseEvaluator

    good = load_one(activationCondition='=body.state = "done"', correlationKeyExpression="=body.n")
    bad = load_one(activationCondition=RUNAWAY, correlationKeyExpression="=body.n")
    threads: set[str] = set()
    original = correlation.evaluate_response

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.add(threading.current_thread().name)
        return original(*args, **kwargs)

    async def run() -> list[Any]:
        evaluator = ResponseEvaluator(4)
        try:
            futures = [evaluator.submit(good, RESPONSE, {}, k) for k in range(100)]
            futures.append(evaluator.submit(bad, RESPONSE, {}, 100))
            return await asyncio.gather(*futures, return_exceptions=True)
        finally:
            evaluator.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(correlation, "evaluate_response", spy)
        outcomes = asyncio.run(run())
    assert [o.element_instance_key for o in outcomes[:100]] == list(range(100))
    assert isinstance(outcomes[100], CorrelationError)
    assert threads and all(name.startswith("feel") for name in threads)
