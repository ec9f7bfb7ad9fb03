"""Decide from a response whether a waiting instance moves on, and with which message.

:func:`evaluate_response` is pure (apart from logging): it evaluates the activation
condition, correlation key (payload), message id and result mapping of an element against
the response and returns the :class:`Activation` to publish, or ``None``.

FEEL context: the waiting instance's variables, overlaid with the response fields
``status``, ``headers``, ``body``, ``reason`` and ``response`` (all four together). On a name
clash the response wins, so expressions written for Camunda's runtime (which sees only the
response) behave the same, while new expressions can also use instance variables, e.g.
``=list contains(body.closed, ticketId)`` with correlation key (payload) ``=ticketId``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import decimal
import functools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connector import feel
from connector.elements import EXPRESSION_BUDGET_SECONDS, ElementConfig
from connector.errors import ElementPropertyError
from connector.feel.convert import to_json_compatible
from connector.http.response import HttpResponse

log = logging.getLogger(__name__)


class CorrelationError(ElementPropertyError):
    """An expression of the element gave an unusable result (names element + property)."""


@dataclass(frozen=True, slots=True)
class Activation:
    """A message to publish because a waiting instance's condition was met."""

    message_name: str
    correlation_key: str
    message_id: str
    ttl: dt.timedelta
    variables: dict[str, Any] = field(repr=False)
    process_id: str = ""
    element_id: str = ""
    element_instance_key: int = 0


_warned_lock = threading.Lock()
_warned: set[tuple[str, str, str, str]] = set()


def response_context(response: HttpResponse, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The FEEL context of the correlation expressions (response names win)."""
    fields = response.as_feel()
    context = dict(variables)
    context.update(fields)
    context["response"] = fields
    return context


def evaluate_response(
    config: ElementConfig,
    response: HttpResponse,
    variables: Mapping[str, Any],
    *,
    element_instance_key: int,
) -> Activation | None:
    """The message for this response, or ``None`` when the activation condition is not met.

    ``element_instance_key`` is the key of the waiting element instance: the catch event's,
    or for a boundary event the attached activity's (the instance that owns the
    subscription). The default message id is ``<element id><element instance key>``, using
    the activity's id for a boundary event, as Camunda's runtime does.

    Raises :class:`CorrelationError` when an expression gives an unusable result.
    """
    context = response_context(response, variables)
    if not _condition_met(config, context, element_instance_key):
        return None
    correlation_key = _correlation_key(config, context)
    message_id = _message_id(config, context, element_instance_key)
    return Activation(
        message_name=config.message_name,
        correlation_key=correlation_key,
        message_id=message_id,
        ttl=config.effective_message_ttl,
        variables=_result_variables(config, context, response),
        process_id=config.process_id,
        element_id=config.element_id,
        element_instance_key=element_instance_key,
    )


def _evaluate(
    config: ElementConfig, prop: str, expression: feel.Expression, context: dict[str, Any]
) -> Any:
    """Evaluate one of the element's expressions within the budget.

    A failed evaluation (budget ran out, unfulfilled ``assert``) is logged once per element
    and property, and raised as :class:`CorrelationError` for this poll.
    """
    try:
        return expression.evaluate_checked(context, budget=EXPRESSION_BUDGET_SECONDS)
    except feel.FeelEvaluationError as exc:
        _warn_once(config, prop, expression, str(exc))
        raise CorrelationError(config.label, prop, str(exc)) from None


def _condition_met(config: ElementConfig, context: dict[str, Any], instance: int) -> bool:
    if config.activation_condition is None:
        return True
    result = _evaluate(config, "activationCondition", config.activation_condition, context)
    if result is True:
        return True
    if result is not False and result is not None:
        _warn_once(
            config,
            "activationCondition",
            config.activation_condition,
            f"gave {_kind(result)}, not a boolean; treated as not met",
        )
    log.debug("%s instance %s: activation condition not met", config.label, instance)
    return False


def _warn_once(config: ElementConfig, prop: str, expression: feel.Expression, reason: str) -> None:
    # Keyed by the expression too: a new version of the process whose expression was edited
    # (and still misbehaves) is worth a warning of its own.
    key = (config.process_id, config.element_id, prop, expression.text)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning("%s property '%s': %s", config.label, prop, reason)


def _correlation_key(config: ElementConfig, context: dict[str, Any]) -> str:
    value = _evaluate(
        config, "correlationKeyExpression", config.correlation_key_expression, context
    )
    text = _key_text(value)
    if text is None:
        raise CorrelationError(
            config.label,
            "correlationKeyExpression",
            f"must give a string or a number, but gave {_kind(value)}",
        )
    return text


def _message_id(config: ElementConfig, context: dict[str, Any], instance: int) -> str:
    if config.message_id_expression is None:
        owner = config.attached_to if config.kind == "boundary" and config.attached_to else None
        return f"{owner or config.element_id}{instance}"
    value = _evaluate(config, "messageIdExpression", config.message_id_expression, context)
    text = _key_text(value)
    if not text:
        raise CorrelationError(
            config.label,
            "messageIdExpression",
            f"must give a non-empty string or a number, but gave {_kind(value)}",
        )
    return text


def _result_variables(
    config: ElementConfig, context: dict[str, Any], response: HttpResponse
) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    if config.result_variable:
        variables[config.result_variable] = to_json_compatible(response.as_feel())
    if config.result_expression is not None:
        value = _evaluate(config, "resultExpression", config.result_expression, context)
        if value is None:
            raise CorrelationError(
                config.label, "resultExpression", "gave null; it must give a context"
            )
        if not isinstance(value, Mapping):
            raise CorrelationError(
                config.label, "resultExpression", f"must give a context, but gave {_kind(value)}"
            )
        variables.update(to_json_compatible(value))
    return variables


def _key_text(value: Any) -> str | None:
    """String or number as text (integral numbers without a fraction), else ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, decimal.Decimal):
        if value == value.to_integral_value():
            return str(int(value))
        return format(value.normalize(), "f")
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, Mapping):
        return "a context"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float | decimal.Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


# ---------------------------------------------------------------- off the event loop


#: Responses evaluated per call into a FEEL thread (a batch of one element's deliveries).
BATCH_SIZE = 64
#: A batch is spread over several threads only in pieces of at least this many responses:
#: each thread hop costs about as much CPU as evaluating a few simple conditions.
MIN_SPREAD = 8


#: Called in the event loop with an evaluation's outcome: ``(True, activation or None)``,
#: or ``(False, the exception it raised)``; an evaluation that never ran because the
#: evaluator shut down gets ``(False, asyncio.CancelledError())``.
Outcome = Callable[[bool, Any], None]


class ResponseEvaluator:
    """Evaluates responses in a thread pool, so no FEEL runs on the event loop.

    Deliveries made in the same loop iteration are batched per element (one thread hop for
    many instances, which keeps the cost per poll low); an element may occupy at most
    ``threads - 1`` threads at once, so a runaway expression delays only its own element
    while every other element still finds a thread.
    """

    def __init__(self, threads: int = 4) -> None:
        self._threads = max(2, threads)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._threads, thread_name_prefix="feel"
        )
        self._pending: dict[tuple[str, str], list[_Job]] = {}
        self._slots: dict[tuple[str, str], asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(
        self,
        config: ElementConfig,
        response: HttpResponse,
        variables: Mapping[str, Any],
        element_instance_key: int,
    ) -> asyncio.Future[Activation | None]:
        """A future of :func:`evaluate_response`'s outcome (its exceptions included)."""
        future: asyncio.Future[Activation | None] = asyncio.get_running_loop().create_future()
        self.submit_then(
            config, response, variables, element_instance_key, functools.partial(_settle, future)
        )
        return future

    def submit_then(
        self,
        config: ElementConfig,
        response: HttpResponse,
        variables: Mapping[str, Any],
        element_instance_key: int,
        then: Outcome,
    ) -> None:
        """Evaluate as :meth:`submit` does and call ``then`` with the outcome, in the event
        loop: no future per evaluation (the cheapest hand-back for one poll)."""
        key = (config.process_id, config.element_id)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = []
            # after the deliveries of this iteration
            asyncio.get_running_loop().call_soon(self._start, key)
        pending.append(_Job(config, response, variables, element_instance_key, then))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _start(self, key: tuple[str, str]) -> None:
        jobs = self._pending.pop(key, [])
        # at most BATCH_SIZE per thread hop, but spread over all the element's threads, so
        # one slow instance holds up few others of its element (at most MIN_SPREAD - 1 when
        # the batch is small)
        spread = min(-(-len(jobs) // MIN_SPREAD), self._threads - 1)
        chunks = max(-(-len(jobs) // BATCH_SIZE), spread)
        size = -(-len(jobs) // chunks) if jobs else 1
        for start in range(0, len(jobs), size):
            task = asyncio.ensure_future(self._run(key, jobs[start : start + size]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, key: tuple[str, str], jobs: list[_Job]) -> None:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.Semaphore(self._threads - 1)
        loop = asyncio.get_running_loop()
        try:
            async with slot:
                outcomes = await loop.run_in_executor(self._pool, _evaluate_all, jobs)
        except BaseException as exc:  # pool shut down or task cancelled: nobody may hang
            failure = exc if isinstance(exc, Exception) else asyncio.CancelledError()
            for job in jobs:
                _hand_back(job, False, failure)
            if not isinstance(exc, Exception):
                raise
            return
        for job, (ok, value) in zip(jobs, outcomes, strict=True):
            _hand_back(job, ok, value)


@dataclass(frozen=True, slots=True)
class _Job:
    config: ElementConfig
    response: HttpResponse
    variables: Mapping[str, Any]
    element_instance_key: int
    then: Outcome = field(compare=False)


def _hand_back(job: _Job, ok: bool, value: Any) -> None:
    try:
        job.then(ok, value)
    except Exception:  # one delivery's bug must not keep the others of its batch waiting
        log.exception("handing back an evaluation failed")


def _settle(future: asyncio.Future[Activation | None], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    elif isinstance(value, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(value)


def _evaluate_all(jobs: list[_Job]) -> list[tuple[bool, Any]]:
    """In a FEEL thread: each job's activation (or the exception it raised)."""
    outcomes: list[tuple[bool, Any]] = []
    for job in jobs:
        try:
            activation = evaluate_response(
                job.config,
                job.response,
                job.variables,
                element_instance_key=job.element_instance_key,
            )
        except Exception as exc:  # handed to the job's own delivery
            outcomes.append((False, exc))
        else:
            outcomes.append((True, activation))
    return outcomes
