"""Chaos: several faults at once, through the CLI, the dev engine and local endpoints.

Faults: endpoints flapping (500 every other call), a gateway outage at the moment of a
one-shot activation and of other activations, a hung cluster REST API (variable reads),
slow hosts beside a quick one, an unloadable definition listed by the cluster. At the end:
every instance whose endpoint reported the state is correlated exactly once, no other is,
the canary secret reached only its own server and no log, status or metrics output, and
the worker's RSS stayed under ``RSS_BOUND``. The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from connector.devengine.server import DevEngine
from tests.worker.bpmn_builder import catch_process, polling_properties
from tests.worker.faults import (
    Reply,
    gaps,
    nested_definition,
    rest_proxy,
    scripted,
    with_extra_definition,
)
from tests.worker.harness import WorkerProcess, until

CANARY = "canary-7f3a9c1e-never-elsewhere"
RSS_BOUND = 200 * 1024 * 1024  # bytes; the worker peaks around 70 MiB here
FLAPPING = 6  # instances on the flapping host; the first DONE of them report the state
DONE = 3


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            self.peak = max(self.peak, rss(self.pid))


def test_chaos(dev: DevEngine) -> None:
    started = time.monotonic()
    with (
        scripted() as flap,
        scripted() as oneshot,
        scripted() as fast,
        scripted() as slow,
        rest_proxy(dev.rest_url) as proxy,
    ):
        done: set[str] = set()
        armed = threading.Event()
        fired = threading.Lock()
        fired_count = [0]

        def flapping(order: str) -> Callable[[int], Reply]:
            def answer(n: int) -> Reply:
                if order in done:
                    return Reply({"id": order, "status": "done"})
                if n % 2 == 0:
                    return Reply({"error": "flapping"}, 500)
                return Reply({"id": order, "status": "waiting"})

            return answer

        def once(n: int) -> Reply:
            with fired:
                if armed.is_set() and fired_count[0] == 0:
                    fired_count[0] = 1
                    return Reply({"id": "one", "status": "done"})
            return Reply({"id": "one", "status": "waiting"})

        for i in range(FLAPPING):
            flap.route(f"/order/o{i}", flapping(f"o{i}"))
        oneshot.route("/once", once)
        fast.route("/fast", lambda n: Reply({"id": "f", "status": "waiting"}))
        slow.route("/slow", lambda n: Reply({"id": "s", "status": "waiting"}, delay=3.0))
        deep = nested_definition(3000).encode()
        proxy.rewrite = with_extra_definition(7, "deep")
        proxy.override = lambda path: (
            (200, "text/xml", deep) if path.startswith("/v2/process-definitions/7/xml") else None
        )
        proxy.hang_seconds = 4.0

        def deploy(process_id: str, props: dict[str, str]) -> None:
            xml = catch_process(process_id, props).encode()
            dev.engine.deploy([(f"{process_id}.bpmn", xml)])

        deploy("flap", polling_properties('=base + "/order/" + id', interval="PT0.2S"))
        deploy("once", polling_properties(oneshot.url + "/once", interval="PT0.2S"))
        quick = polling_properties(fast.url + "/fast", interval="PT0.2S")
        quick["headers"] = '={"X-Token": "{{secrets.CANARY}}"}'
        deploy("fast", quick)
        deploy("slow", polling_properties('=url + "?n=" + string(n)', interval="PT0.2S"))

        def begin(process_id: str, variables: dict[str, object]) -> int:
            info = dev.engine.create_process_instance(process_id, variables=variables)
            return info.process_instance_key

        flaps = {f"o{i}": begin("flap", {"id": f"o{i}", "base": flap.url}) for i in range(6)}
        one = begin("once", {"id": "one"})
        others = [begin("fast", {"id": "f"})]
        others += [begin("slow", {"id": "s", "url": slow.url + "/slow", "n": n}) for n in range(2)]
        expected = {flaps[f"o{i}"] for i in range(DONE)} | {one}
        untouched = {flaps[f"o{i}"] for i in range(DONE, FLAPPING)} | set(others)

        worker = WorkerProcess(
            dev.grpc_address,
            proxy.url,
            "--max-concurrency",
            "8",
            "--max-per-host",
            "2",
            env={"SECRET_CANARY": CANARY},
        )
        sampler = RssSampler(worker.proc.pid)
        sampler.start()
        faults = ["flapping endpoint (500 on every other call)", "slow host (3 s answers)"]
        faults.append("unloadable definition (3,000 nested sub-processes)")
        try:
            until(lambda: all(len(flap.hits(f"/order/o{i}")) >= 4 for i in range(6)), 40)
            # Gateway down; the one-shot endpoint and three flapping ones report the state.
            dev.set_gateway_available(False)
            faults.append("gateway outage during activations")
            armed.set()
            done.update(f"o{i}" for i in range(DONE))
            worker.wait_log(
                lambda r: (
                    r["message"] == "publish failed, keeping the activation and retrying"
                    and r["process_id"] == "once"
                ),
                30,
            )
            # Meanwhile the cluster's REST API hangs on variable reads.
            proxy.hang = lambda path: path.startswith("/v2/variables")
            faults.append("cluster REST hang (variable reads, 4 s each)")
            until(lambda: proxy.hung >= 1, 30, "a hung variable read")
            until(
                lambda: (
                    len(worker.logs("publish failed, keeping the activation and retrying")) >= 2
                ),
                30,
            )
            dev.set_gateway_available(True)
            proxy.hang = lambda path: False

            def state(key: int) -> str:
                return dev.engine.process_instances(key=key)[0].state

            until(lambda: all(state(k) == "COMPLETED" for k in expected), 60, "correlations")
            # A few more discovery cycles and polls: nothing else may be published.
            until(lambda: len(worker.poller_keys()) == len(untouched), 30, "pollers settled")
            settle = len(fast.hits("/fast"))
            until(lambda: len(fast.hits("/fast")) >= settle + 10, 30, "more polls")

            inbound = worker.get("/inbound").text
            metrics = worker.get("/metrics").text
        finally:
            dev.set_gateway_available(True)
            sampler.done.set()
            code = worker.stop(timeout=30)
        assert code == 0

        correlated = Counter(int(r["process_instance_key"]) for r in worker.logs("correlated"))
        duplicates = sum(n - 1 for n in correlated.values() if n > 1)
        losses = [k for k in expected if state(k) != "COMPLETED"]
        assert set(correlated) == expected and duplicates == 0 and not losses
        assert all(state(k) == "ACTIVE" for k in untouched)
        assert fired_count[0] == 1

        # The canary secret went to its own server only, and was never printed.
        assert all(r.headers.get("X-Token") == CANARY for r in fast.hits("/fast"))
        for server in (flap, oneshot, slow):
            for request in server.hits():
                assert CANARY not in repr(request)
        assert CANARY not in "".join(worker.raw)
        assert CANARY not in inbound and CANARY not in metrics

        first = fast.hits("/fast")[0].at
        worst_gap = gaps([h.at for h in fast.hits("/fast")], after=first)
        assert worst_gap < 2.5, f"the unaffected element waited {worst_gap:.1f}s"
        assert 0 < sampler.peak < RSS_BOUND
        assert any("cannot be loaded" in line for line in worker.raw)

        retried = sum(1 for r in worker.logs("correlated") if r.get("retried"))
        print(
            "\nchaos figures:",
            f"faults={len(faults)} ({'; '.join(faults)});",
            f"activations observed={len(expected)};",
            f"messages published={sum(correlated.values())} (after retries: {retried});",
            f"duplicates={duplicates}; losses={len(losses)};",
            f"peak RSS={sampler.peak / 2**20:.0f} MiB (bound {RSS_BOUND // 2**20} MiB);",
            f"worst poll gap of the unaffected element={worst_gap:.2f}s;",
            f"duration={time.monotonic() - started:.0f}s",
        )
