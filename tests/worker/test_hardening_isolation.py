"""One slow or bad thing never holds up the rest: through the CLI, the dev engine and local
endpoints (issue 10, isolation)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from connector.devengine.server import DevEngine
from tests.worker.bpmn_builder import catch_process, polling_properties
from tests.worker.faults import (
    Reply,
    Scripted,
    gaps,
    nested_definition,
    rest_proxy,
    scripted,
    with_extra_definition,
)
from tests.worker.harness import WorkerProcess, until

GRACE = 3.0  # the harness's --shutdown-grace


def deploy(dev: DevEngine, process_id: str, props: dict[str, str]) -> None:
    dev.engine.deploy([(f"{process_id}.bpmn", catch_process(process_id, props).encode())])


def start(dev: DevEngine, process_id: str, variables: dict[str, object]) -> int:
    return dev.engine.create_process_instance(process_id, variables=variables).process_instance_key


def stop_timed(worker: WorkerProcess) -> float:
    started = time.monotonic()
    assert worker.stop(timeout=30) == 0
    return time.monotonic() - started


@contextlib.contextmanager
def servers(count: int) -> Iterator[list[Scripted]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(scripted()) for _ in range(count)]


def test_slow_and_trickling_endpoints_delay_only_themselves(dev: DevEngine) -> None:
    waiting = Reply({"id": "x", "status": "waiting"})
    with servers(6) as hosts:
        fast, slow_hosts = hosts[0], hosts[1:]
        fast.route("/fast", lambda n: waiting)
        # On the fast host too: a 3 s answer and a body trickling a byte every 0.3 s.
        fast.route("/hang", lambda n: Reply(waiting.body, delay=3.0))
        fast.route("/trickle", lambda n: Reply({"id": "x", "pad": "y" * 200}, trickle=0.3))
        for host in slow_hosts:
            host.route("/slow", lambda n: Reply(waiting.body, delay=3.0))
        deploy(dev, "fast", polling_properties(fast.url + "/fast", interval="PT0.2S"))
        deploy(dev, "hang", polling_properties(fast.url + "/hang", interval="PT0.2S"))
        trickle = polling_properties(fast.url + "/trickle", interval="PT0.2S")
        trickle |= {"connectionTimeoutInSeconds": "1", "readTimeoutInSeconds": "2"}
        deploy(dev, "trickle", trickle)
        deploy(dev, "slow", polling_properties('=url + "?n=" + string(n)', interval="PT0.2S"))
        start(dev, "fast", {"id": "x"})
        start(dev, "hang", {"id": "x"})
        start(dev, "trickle", {"id": "x"})
        for host in slow_hosts:  # five slow hosts, three distinct requests each
            for n in range(3):
                start(dev, "slow", {"id": "x", "url": host.url + "/slow", "n": n})
        worker = WorkerProcess(
            dev.grpc_address, dev.rest_url, "--max-concurrency", "8", "--max-per-host", "2"
        )
        try:
            # The trickle is cut at its total deadline (1 + 2 s), not after 60 bytes * 0.3 s.
            failed = worker.wait_log(
                lambda r: r["message"] == "poll failed" and r.get("process_id") == "trickle", 30
            )
            assert "total timeout" in failed["reason"]
            first = fast.hits("/trickle")[0].at
            assert time.monotonic() - first < 12
            # Once each slow request has been seen slow, it runs beside the others.
            until(lambda: len(fast.hits("/hang")) >= 2, 30, "a second slow call")
            window = time.monotonic()
            until(lambda: time.monotonic() - window > 6, 15, "measuring")
            worst = gaps([h.at for h in fast.hits("/fast")], after=window)
            assert len([h for h in fast.hits("/fast") if h.at >= window]) >= 10
            assert worst < 2.5, f"fast element waited {worst:.1f}s between polls"
        finally:
            # SIGTERM while calls hang and a body trickles: out within grace + a few seconds.
            assert stop_timed(worker) < GRACE + 6


def test_slow_cluster_rest_never_stalls_polls_without_variables(dev: DevEngine) -> None:
    with scripted() as ep, rest_proxy(dev.rest_url) as proxy:
        ep.route("/plain", lambda n: Reply({"id": "x", "status": "waiting"}))
        ep.route("/vars", lambda n: Reply({"id": "x", "status": "waiting"}))
        deploy(dev, "plain", polling_properties(ep.url + "/plain", interval="PT0.2S"))
        deploy(dev, "vars", polling_properties('=base + "/vars"', interval="PT0.2S"))
        start(dev, "plain", {"id": "x"})
        start(dev, "vars", {"id": "x", "base": ep.url})
        worker = WorkerProcess(dev.grpc_address, proxy.url)
        try:
            until(lambda: ep.hits("/plain") and ep.hits("/vars"), 30, "both polled")
            # Variable reads hang for 30 s, then discovery too.
            proxy.hang = lambda path: path.startswith("/v2/variables")
            until(lambda: proxy.hung >= 1, 30, "a hung variable read")
            window = time.monotonic()
            proxy.hang = lambda path: True
            until(lambda: time.monotonic() - window > 5, 10, "measuring")
            worst = gaps([h.at for h in ep.hits("/plain")], after=window)
            assert worst < 2.0, f"the element without variables waited {worst:.1f}s"
            assert proxy.hung >= 2  # discovery hung as well
        finally:
            assert stop_timed(worker) < GRACE + 6  # with a hung REST API


def test_a_definition_that_cannot_be_loaded_does_not_stop_the_others(dev: DevEngine) -> None:
    deep = nested_definition(3000).encode()
    with scripted() as ep, rest_proxy(dev.rest_url) as proxy:
        proxy.rewrite = with_extra_definition(7, "deep")
        proxy.override = lambda path: (
            (200, "text/xml", deep) if path.startswith("/v2/process-definitions/7/xml") else None
        )
        ep.route("/ok", lambda n: Reply({"id": "x", "status": "done"}))
        worker = WorkerProcess(dev.grpc_address, proxy.url)
        try:
            until(lambda: any("cannot be loaded" in line for line in worker.raw), 30, "warned")
            # Deployed after the bad definition was seen: still served.
            deploy(dev, "fine", polling_properties(ep.url + "/ok", interval="PT0.2S"))
            key = start(dev, "fine", {"id": "x"})
            until(
                lambda: dev.engine.process_instances(key=key)[0].state == "COMPLETED",
                30,
                "the good definition served",
            )
            line = next(line for line in worker.raw if "cannot be loaded" in line)
            # the definition is named, with the cause in words (no traceback)
            assert "deep" in line and "nested deeper than" in line
        finally:
            assert worker.stop() == 0


def test_too_short_interval_is_raised_with_a_warning(dev: DevEngine) -> None:
    with scripted() as ep:
        ep.route("/busy", lambda n: Reply({"id": "x", "status": "waiting"}))
        deploy(dev, "eager", polling_properties(ep.url + "/busy", interval="PT0.001S"))
        start(dev, "eager", {"id": "x"})
        worker = WorkerProcess(dev.grpc_address, dev.rest_url, "--min-poll-interval", "0.5")
        try:
            record = worker.wait_log(
                lambda r: r["message"] == "polling interval below the minimum, raised", 30
            )
            assert record["element_id"] == "Wait" and record["process_id"] == "eager"
            assert record["property"] == "httpRequestInterval" and record["used"] == 0.5
            until(lambda: ep.hits("/busy"), 30, "first poll")
            first = ep.hits("/busy")[0].at
            until(lambda: time.monotonic() - first > 3, 10, "measuring")
            assert len([h for h in ep.hits("/busy") if h.at <= first + 3]) <= 8
        finally:
            assert worker.stop() == 0


def test_overload_shows_schedule_lag(dev: DevEngine) -> None:
    with scripted() as ep:
        ep.route("/slowish", lambda n: Reply({"id": "x", "status": "waiting"}, delay=0.5))
        deploy(dev, "many", polling_properties('=url + "?n=" + string(n)', interval="PT0.2S"))
        for n in range(8):
            start(dev, "many", {"id": "x", "url": ep.url + "/slowish", "n": n})
        worker = WorkerProcess(
            dev.grpc_address, dev.rest_url, "--max-concurrency", "1", "--max-per-host", "1"
        )
        try:
            record = worker.wait_log(
                lambda r: r["message"].startswith("polls are running late"), 30
            )
            assert record["lag_seconds"] > 1.0
            until(lambda: "schedule_lag_seconds" in worker.get("/metrics").text, 10, "metric")
            assert len(worker.logs(record["message"])) == 1  # rate-limited
        finally:
            assert worker.stop() == 0
