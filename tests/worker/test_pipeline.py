"""The poll pipeline in isolation: the bind cache's reuse rule, the duplicate-publish check,
HTTP failures as poll outcomes, and the kept activation's retry policy."""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import connector.pipeline
from connector.cluster_health import ClusterHealth
from connector.config import Settings
from connector.correlation import ResponseEvaluator
from connector.discovery import WaitingInstance
from connector.elements import ElementConfig, load_elements
from connector.http import HttpClient, HttpResponse, HttpStatusError, HttpTransportError
from connector.observability import ActivityLog, Metrics
from connector.pipeline import BindCache, PollPipeline, Publications, http_failure
from connector.scheduler import STOPPED, Poller, PollFailure, Prepared
from connector.secrets import MappingSecretProvider
from connector.variables import VariableLoader
from tests.helpers.bpmn import catch_process, polling_properties

pytestmark = pytest.mark.anyio

SETTINGS = Settings(grpc_address="127.0.0.1:9", rest_address="http://127.0.0.1:9")
DONE = HttpResponse(200, "OK", {}, {"status": "done", "id": "order-1"})
RUNNING = HttpResponse(200, "OK", {}, {"status": "running", "id": "order-1"})
LABEL = "process 'p' element 'Wait'"  # the element's name in its activity log


def _config(url: str, **kwargs: Any) -> ElementConfig:
    configs, errors = load_elements(catch_process("p", polling_properties(url, **kwargs)))
    assert not errors, errors
    return configs[0]


def _instance(config: ElementConfig, key: int = 7, process_instance: int = 70) -> WaitingInstance:
    return WaitingInstance(key, process_instance, 1, "p", "Wait", "m", None, None, config)


# ---------------------------------------------------------------------------- bind cache

KEY = (7, "Wait")
REQUEST = object()  # the cache never looks inside a request


def _stored(cache: BindCache, config: ElementConfig, scope: dict[str, Any], now: float) -> None:
    cache.store(KEY, config, Prepared("digest", "h", REQUEST, scope), now)


def test_the_bind_cache_reuses_a_request_while_the_variables_it_reads_hold() -> None:
    config = _config('=base + "/items/" + id', correlation="=body.id + suffix")
    cache = BindCache()
    _stored(cache, config, {"base": "http://h", "id": "a", "suffix": "-1"}, 0.0)
    # Only the correlation reads "suffix": same request, the new variables as its context.
    scope = {"base": "http://h", "id": "a", "suffix": "-2"}
    reused = cache.reuse(KEY, config, scope, 1.0)
    assert reused is not None and reused.request is REQUEST and reused.context is scope
    assert reused.coalesce_key == "digest" and reused.host == "h"
    # A variable the request reads changed, went missing, or changed JSON type.
    assert cache.reuse(KEY, config, {**scope, "id": "b"}, 1.0) is None
    assert cache.reuse(KEY, config, {"base": "http://h", "suffix": "-2"}, 1.0) is None
    assert cache.reuse(KEY, config, {**scope, "id": ["a"]}, 1.0) is None
    assert cache.reuse(KEY, config, scope, 1.0) is not None  # none of those replaced it


def test_the_bind_cache_keeps_the_variables_last_read_with_the_request() -> None:
    config = _config('=base + "/items/" + id')
    cache = BindCache()
    assert cache.variables(KEY) is None
    bound = {"base": "http://h", "id": "a"}
    _stored(cache, config, bound, 0.0)
    assert cache.variables(KEY) is bound
    reused = cache.reuse(KEY, config, {"base": "http://h", "id": "a"}, 1.0)
    assert reused is not None and cache.variables(KEY) is reused.context
    # A failed binding keeps the variables it read (polls go on with them while the
    # cluster is unreachable), but no request to reuse.
    failed = {"base": "http://h", "id": 5}
    cache.failed(KEY, config, failed)
    assert cache.variables(KEY) is failed and len(cache) == 1
    assert cache.reuse(KEY, config, failed, 1.0) is None


def test_the_bind_cache_rebinds_when_a_read_variable_appears() -> None:
    config = _config('=base + "/items/" + string(id)')
    cache = BindCache()
    _stored(cache, config, {"base": "http://h"}, 0.0)
    assert cache.reuse(KEY, config, {"base": "http://h", "unread": 1}, 1.0) is not None
    assert cache.reuse(KEY, config, {"base": "http://h", "id": 1}, 1.0) is None


def test_the_bind_cache_tells_json_types_apart() -> None:
    config = _config('=base + "/n/" + string(id)')
    cache = BindCache()
    _stored(cache, config, {"base": "http://h", "id": 1}, 0.0)
    assert cache.reuse(KEY, config, {"base": "http://h", "id": 1}, 1.0) is not None
    assert cache.reuse(KEY, config, {"base": "http://h", "id": True}, 1.0) is None
    assert cache.reuse(KEY, config, {"base": "http://h", "id": 1.0}, 1.0) is None


def test_the_bind_cache_rebinds_after_a_redeployment() -> None:
    url = "http://127.0.0.1:9/x"
    cache = BindCache()
    _stored(cache, _config(url), {}, 0.0)
    # An equal configuration from another deployment is another object: bound afresh.
    assert cache.reuse(KEY, _config(url), {}, 1.0) is None


def test_requests_with_secrets_are_rebound_now_and_then() -> None:
    with_secret = _config("http://h/{{secrets.PATH}}/x")
    plain = _config("http://h/x")
    assert with_secret.uses_secrets and not plain.uses_secrets
    cache = BindCache(rebind_seconds=60.0)
    _stored(cache, with_secret, {}, 100.0)
    assert cache.reuse(KEY, with_secret, {}, 159.9) is not None
    assert cache.reuse(KEY, with_secret, {}, 160.0) is None
    _stored(cache, plain, {}, 100.0)
    assert cache.reuse(KEY, plain, {}, 100.0 + 10**9) is not None


def test_the_bind_cache_forgets_instances_that_stopped_waiting() -> None:
    config = _config("http://h/x")
    cache = BindCache()
    other = (8, "Wait")
    _stored(cache, config, {}, 0.0)
    cache.store(other, config, Prepared("d", "h", REQUEST, {}), 0.0)
    cache.keep_only({other: _instance(config, key=8)})
    assert len(cache) == 1 and cache.reuse(KEY, config, {}, 1.0) is None
    cache.forget(other)
    assert len(cache) == 0


# ---------------------------------------------------------------------------- publications


def test_an_instance_counts_as_published_only_for_its_own_process_instance() -> None:
    config = _config("http://h/x")
    target = _instance(config)
    published = Publications()
    assert not published.already(target)
    published.record(target, "msg-1")
    assert published.already(target)
    # The same element instance key in another process instance (keys reused after a reset).
    assert not published.already(dataclasses.replace(target, process_instance_key=71))
    # Another element of the same instance (two boundary events on one activity).
    assert not published.already(dataclasses.replace(target, element_id="Other"))
    published.forget(target.key)
    assert not published.already(target) and len(published) == 0
    # A non-interrupting boundary event may fire again while its activity runs.
    repeating = dataclasses.replace(
        target, config=target.config.model_copy(update={"interrupting": False})
    )
    published.record(repeating, "msg-2")
    assert not published.already(repeating)


# ---------------------------------------------------------------------------- HTTP failures


def test_http_failures_become_poll_outcomes() -> None:
    throttled = http_failure(HttpStatusError(429, "Too Many Requests", retry_after=7.0))
    assert (throttled.outcome, throttled.retry_after) == ("http_error", 7.0)
    assert http_failure(HttpStatusError(503, "Unavailable", retry_after=2.0)).retry_after == 2.0
    # Only 429 and 503 ask for a pause; other statuses back off as usual.
    assert http_failure(HttpStatusError(500, "Error", retry_after=7.0)).retry_after is None
    assert http_failure(HttpStatusError(500, "Error")).reason == "HTTP 500 Error"
    refused = http_failure(HttpTransportError("connection", "connection refused"))
    assert (refused.outcome, refused.reason) == ("transport_error", "connection refused")
    bug = http_failure(ValueError("boom"))
    assert (bug.outcome, bug.reason, bug.retry_after) == (
        "transport_error",
        "ValueError: boom",
        None,
    )


# ---------------------------------------------------------------------------- the hooks


class FakeZeebe:
    """Records publishes; raises the given errors first, one per publish."""

    def __init__(self, *errors: Exception) -> None:
        self.calls: list[dict[str, Any]] = []
        self._errors = list(errors)

    async def publish_message(self, **fields: Any) -> None:
        self.calls.append(fields)
        if self._errors:
            raise self._errors.pop(0)


class FakeHttp:
    """Answers a request with its ``answer``: a response, or an exception to raise."""

    def execute(self, request: Any) -> HttpResponse:
        if isinstance(request.answer, Exception):
            raise request.answer
        result: HttpResponse = request.answer
        return result

    def close(self) -> None:
        pass


@dataclasses.dataclass
class FakeRequest:
    answer: HttpResponse | Exception
    element: str = LABEL


@contextmanager
def pipeline(
    settings: Settings = SETTINGS,
    poller: Callable[[tuple[int, str]], Poller[WaitingInstance] | None] = lambda key: None,
    zeebe: FakeZeebe | None = None,
    http: Any = None,
) -> Iterator[PollPipeline]:
    evaluator = ResponseEvaluator(2)
    pool = concurrent.futures.ThreadPoolExecutor(2)
    client = http or HttpClient()
    made = PollPipeline(
        settings,
        http=client,
        secrets=MappingSecretProvider({}),
        evaluator=evaluator,
        http_pool=pool,
        variables=VariableLoader(lambda instances: {}, pool),
        health=ClusterHealth(settings),
        activity=ActivityLog(),
        metrics=Metrics(),
        poller=poller,
    )
    made.zeebe = zeebe  # type: ignore[assignment]
    try:
        yield made
    finally:
        evaluator.close()
        pool.shutdown()
        client.close()


def _bound(p: PollPipeline, target: WaitingInstance) -> Any:
    [prepared] = p.bind_all([target], {}, None)
    assert isinstance(prepared, Prepared), prepared
    return prepared


async def test_an_instance_is_published_once_while_it_is_listed() -> None:
    zeebe = FakeZeebe()
    target = _instance(_config("http://127.0.0.1:9/x"))
    with pipeline(zeebe=zeebe) as p:
        prepared = _bound(p, target)
        assert await p.deliver(target, prepared, RUNNING) == "not_met"
        assert await p.deliver(target, prepared, DONE) == "activated"
        # Polled again before the query API caught up: not published again.
        assert await p.deliver(target, prepared, DONE) == "already_published"
        assert len(zeebe.calls) == 1
        assert zeebe.calls[0]["correlation_key"] == "order-1"
        # A new process instance that got the same element instance key is published.
        reused = dataclasses.replace(target, process_instance_key=71)
        assert await p.deliver(reused, prepared, DONE) == "activated"
        # Once the instance stopped waiting, it is forgotten.
        p.forget(target.key)
        assert await p.deliver(target, prepared, DONE) == "activated"
        assert len(zeebe.calls) == 3
        assert p.activity.counts(LABEL)["published"] == 3


async def test_a_refused_publish_is_not_taken_for_published() -> None:
    zeebe = FakeZeebe(RuntimeError("INVALID_ARGUMENT"))
    target = _instance(_config("http://127.0.0.1:9/x"))
    with pipeline(zeebe=zeebe) as p:
        prepared = _bound(p, target)
        with pytest.raises(PollFailure) as failed:
            await p.deliver(target, prepared, DONE)
        assert failed.value.outcome == "publish_error"
        assert not p.published.already(target)
        assert await p.deliver(target, prepared, DONE) == "activated"


async def test_a_message_too_large_is_an_element_error() -> None:
    zeebe = FakeZeebe()
    target = _instance(_config("http://127.0.0.1:9/x"))
    small = SETTINGS.model_copy(update={"max_message_bytes": 10})
    with pipeline(small, zeebe=zeebe) as p, pytest.raises(PollFailure) as failed:
        await p.deliver(target, _bound(p, target), DONE)
    assert failed.value.outcome == "message_too_large" and zeebe.calls == []


async def test_a_kept_activation_is_dropped_when_the_instance_stops_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connector.pipeline, "PUBLISH_TRY_SECONDS", 0.0)  # one try per round
    zeebe = FakeZeebe(TimeoutError("no answer"))
    target = _instance(_config("http://127.0.0.1:9/x"))
    with pipeline(zeebe=zeebe) as p:  # no poller: the instance is not listed any more
        assert await p.deliver(target, _bound(p, target), DONE) == "abandoned"
        assert len(zeebe.calls) == 1 and not p.published.already(target)
        assert p.health.grpc_up is False


async def test_a_kept_activation_is_not_retried_after_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connector.pipeline, "PUBLISH_TRY_SECONDS", 0.0)
    zeebe = FakeZeebe(TimeoutError("no answer"))
    target = _instance(_config("http://127.0.0.1:9/x"))
    waiting = Poller(key=target.key, target=target, interval=1.0, next_due=0.0)
    with pipeline(poller=lambda key: waiting, zeebe=zeebe) as p:
        prepared = _bound(p, target)
        p.stop()
        with pytest.raises(PollFailure) as failed:
            await p.deliver(target, prepared, DONE)
    assert failed.value.outcome == STOPPED and len(zeebe.calls) == 1


async def test_execute_times_the_calls_that_got_an_http_outcome() -> None:
    requests = [
        FakeRequest(RUNNING),
        FakeRequest(HttpStatusError(429, "Too Many Requests", retry_after=3.0)),
        FakeRequest(HttpTransportError("read_timeout", "read timed out")),
        FakeRequest(KeyError("bug")),
    ]
    with pipeline(http=FakeHttp()) as p:
        outcomes = await p.execute(requests)  # type: ignore[arg-type]
        assert outcomes[0] == (RUNNING, outcomes[0][1])
        kinds = [
            (o.outcome, o.retry_after) if isinstance(o, PollFailure) else "response"
            for o, _ in outcomes
        ]
        assert kinds == [
            "response",
            ("http_error", 3.0),
            ("transport_error", None),
            ("transport_error", None),
        ]
        # A client bug says nothing about how long the host takes.
        timed = [seconds is not None for _, seconds in outcomes]
        assert timed == [True, True, True, False]
        assert p.activity.counts(LABEL) == {"http_error": 1, "transport_error": 2}
        p.stop()
        [(stopped, seconds)] = await p.execute([FakeRequest(RUNNING)])  # type: ignore[list-item]
        assert isinstance(stopped, PollFailure) and stopped.outcome == STOPPED and seconds is None


def test_the_pipeline_forgets_what_it_kept_for_an_instance() -> None:
    target = _instance(_config("http://127.0.0.1:9/x"))
    with pipeline() as p:
        _bound(p, target)
        p.keep_only({target.key: target})
        assert len(p.bound) == 1
        p.keep_only({})  # its poller went away while it was being bound
        assert len(p.bound) == 0
        _bound(p, target)
        p.published.record(target, "m")
        p.reset()  # the cluster's keys start again
        assert len(p.bound) == 0 and not p.published.already(target)
        _bound(p, target)
        p.published.record(target, "m")
        p.forget(target.key)
        assert len(p.bound) == 0 and not p.published.already(target)
