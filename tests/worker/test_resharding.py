"""``--shard-count auto``: the shard count follows the StatefulSet's replica count.

The configuration, the start (a failure is a configuration error), the watcher (a change
re-shards once, a failed read keeps the count and warns once per streak), discovery
re-sharding against the development engine, and the worker end to end against a fake
HTTPS Kubernetes API whose replica count the test changes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.config import ConfigError, load_settings
from connector.devengine.server import DevEngine
from connector.discovery import (
    Discovery,
    IncrementalDiscovery,
    RestClient,
    RestV2Source,
    owns,
    shard_of,
)
from connector.kubernetes import KubernetesError
from connector.resharding import ShardCountWatcher, describe_shard, resolve_shard_count
from tests.helpers.bpmn import catch_process, polling_properties
from tests.helpers.kubeapi import FakeKubernetes, fake_kubernetes
from tests.worker.harness import ROOT, Endpoint, WorkerProcess, until

URL = '=base + "/items/" + id'
WORKER_LOG = "connector.worker"


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKubernetes]:
    with fake_kubernetes(tmp_path, replicas=1) as fake:
        yield fake


def pod_env(kube: FakeKubernetes, ordinal: int = 0) -> dict[str, str]:
    """The fake pod's environment; the variables that would win over HOSTNAME are blanked."""
    return {**kube.env(ordinal), "POD_NAME": "", "POD_INDEX": "", "CONNECTOR_POD_INDEX": ""}


# -- configuration and start -------------------------------------------------------------------


def test_shard_count_auto_is_a_setting_resolved_at_start() -> None:
    settings = load_settings({"shard_count": "auto"}, env={})
    assert settings.shard_count_auto and settings.shard_count == 1
    assert settings.shard_count_interval == 30.0
    env = {"CONNECTOR_SHARD_COUNT": "AUTO", "CONNECTOR_SHARD_COUNT_INTERVAL": "PT2S"}
    assert load_settings({}, env=env).shard_count_interval == 2.0
    # Any ordinal is accepted: beyond the replica count the pod serves nothing.
    beyond = load_settings({"shard_index": "auto", "shard_count": "auto"}, env={"HOSTNAME": "w-5"})
    assert beyond.shard_index == 5
    with pytest.raises(
        ConfigError, match=r"--shard-count-interval / .*: must be greater than zero"
    ):
        load_settings({"shard_count": "auto", "shard_count_interval": "0"}, env={})
    # A number keeps the strict check.
    with pytest.raises(ConfigError, match="must be between 0 and 1"):
        load_settings({"shard_index": "2", "shard_count": "2"}, env={})


def test_resolve_reads_the_replica_count(kube: FakeKubernetes) -> None:
    kube.set(replicas=3)
    settings = load_settings({"shard_count": "auto", "shard_index": "auto"}, env=pod_env(kube, 2))
    resolved, reader = resolve_shard_count(settings, pod_env(kube, 2))
    assert (resolved.shard_index, resolved.shard_count) == (2, 3)
    assert reader is not None and reader() == 3
    fixed = load_settings({"shard_count": "4"}, env={})
    assert resolve_shard_count(fixed, pod_env(kube)) == (fixed, None)
    assert kube.scale_reads() == 2  # a fixed count never asks the API


def test_resolve_fails_clearly(kube: FakeKubernetes) -> None:
    settings = load_settings({"shard_count": "auto"}, env={})
    kube.set(status=403)
    with pytest.raises(KubernetesError, match=r"forbidden \(403\)"):
        resolve_shard_count(settings, pod_env(kube))
    with pytest.raises(KubernetesError, match="KUBERNETES_SERVICE_HOST is not set"):
        resolve_shard_count(settings, {"HOSTNAME": "w-0"})


def _run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "POD_"))}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=environ,
        check=False,
    )


def test_a_403_at_start_is_a_configuration_error(kube: FakeKubernetes) -> None:
    kube.set(status=403)
    result = _run_cli(pod_env(kube), "--shard-count", "auto", "--shard-index", "auto")
    assert result.returncode == 2, result.stderr
    assert "invalid configuration" in result.stderr
    assert "--shard-count=auto: forbidden (403)" in result.stderr
    assert 'resources: ["statefulsets/scale"], verbs: ["get"]' in result.stderr
    assert "first-token" not in result.stderr


def test_outside_a_cluster_is_a_configuration_error() -> None:
    result = _run_cli({"HOSTNAME": "laptop-0"}, "--shard-count", "auto")
    assert result.returncode == 2
    assert "--shard-count=auto: not running in a Kubernetes pod" in result.stderr


# -- ownership and the watcher -------------------------------------------------------------------


def test_an_index_beyond_the_count_owns_nothing() -> None:
    keys = range(2251799813685000, 2251799813685300)
    assert all(owns(k, 0, 1) for k in keys)
    assert not any(owns(k, 1, 1) or owns(k, 2, 2) or owns(k, 5, 3) for k in keys)
    assert describe_shard(0, 1) is None
    assert "shard index 2 is not below the shard count 2" in (describe_shard(2, 2) or "")


class Replicas:
    """A reader whose answer (a count or an error) the test sets."""

    def __init__(self, count: int) -> None:
        self.answer: int | KubernetesError = count
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        if isinstance(self.answer, KubernetesError):
            raise self.answer
        return self.answer


@pytest.mark.anyio
async def test_watcher_applies_a_change_once(caplog: pytest.LogCaptureFixture) -> None:
    replicas = Replicas(2)
    applied: list[int] = []

    async def apply(count: int) -> None:
        applied.append(count)

    watcher = ShardCountWatcher(replicas, index=0, count=2, interval=30.0, apply=apply)
    with caplog.at_level(logging.INFO, logger=WORKER_LOG):
        await watcher.check()
        assert applied == []
        replicas.answer = 3
        await watcher.check()
        await watcher.check()
    assert applied == [3] and watcher.count == 3
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("shard count 2 -> 3: re-sharding") == 1


@pytest.mark.anyio
async def test_watcher_keeps_the_count_and_warns_once_per_failure_streak(
    caplog: pytest.LogCaptureFixture,
) -> None:
    replicas = Replicas(2)
    applied: list[int] = []

    async def apply(count: int) -> None:
        applied.append(count)

    watcher = ShardCountWatcher(replicas, index=1, count=2, interval=30.0, apply=apply)
    with caplog.at_level(logging.INFO, logger=WORKER_LOG):
        replicas.answer = KubernetesError("the API server is unreachable")
        for _ in range(3):
            await watcher.check()
        replicas.answer = 2
        await watcher.check()
        replicas.answer = KubernetesError("forbidden (403)")
        await watcher.check()
        await watcher.check()
    assert applied == [] and watcher.count == 2 and replicas.reads == 6
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings.count("cannot read the replica count; keeping the shard count") == 2
    assert [r.getMessage() for r in caplog.records].count("replica count readable again") == 1


@pytest.mark.anyio
async def test_watcher_rereads_every_interval_until_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    replicas = Replicas(3)
    applied: list[int] = []
    changed = asyncio.Event()

    async def apply(count: int) -> None:
        applied.append(count)
        changed.set()

    watcher = ShardCountWatcher(replicas, index=2, count=3, interval=0.01, apply=apply)
    stop = asyncio.Event()
    task = asyncio.ensure_future(watcher.run(stop))
    replicas.answer = 2
    with caplog.at_level(logging.WARNING, logger=WORKER_LOG):
        await asyncio.wait_for(changed.wait(), timeout=10)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert applied == [2]
    # Scaled down from 3 to 2: pod 2 is being removed.
    assert any("index 2 is not below the shard count 2" in r.getMessage() for r in caplog.records)


# -- discovery ---------------------------------------------------------------------------------


def _start_waiting(dev: DevEngine, count: int) -> None:
    props = polling_properties(URL, interval="PT30S")
    dev.engine.deploy([("p.bpmn", catch_process("resharded", props).encode())])
    for n in range(count):
        dev.engine.create_process_instance(
            "resharded", variables={"base": "http://127.0.0.1:9", "id": f"i{n}"}
        )


@pytest.mark.parametrize("kind", ["full", "incremental"])
def test_discovery_reshards(dev: DevEngine, kind: str, caplog: pytest.LogCaptureFixture) -> None:
    _start_waiting(dev, 24)
    source = RestV2Source(RestClient(dev.rest_url), 100)
    disc = Discovery(source) if kind == "full" else IncrementalDiscovery(source)
    every = {key[0] for key in disc.cycle().waiting}
    assert len(every) == 24
    mine = {k for k in every if shard_of(k, 2) == 0}
    assert 0 < len(mine) < 24
    with caplog.at_level(logging.WARNING, logger="connector.discovery"):
        disc.reshard(0, 2)
        assert {key[0] for key in disc.cycle().waiting} == mine
        disc.reshard(0, 1)  # scaled back: the other shard's instances come back at once
        snapshot = disc.cycle()
        assert {key[0] for key in snapshot.waiting} == every
        disc.reshard(3, 3)  # a pod being removed by a scale-down
        assert disc.cycle().waiting == {}
    # Re-sharding is not a missed change: no repair counted nor warned about.
    assert snapshot.repaired == 0
    assert not any("repaired" in r.getMessage() for r in caplog.records)
    if isinstance(disc, IncrementalDiscovery):
        assert disc.full_cycles == 4 and disc.repaired_total == 0


# -- the worker, end to end ------------------------------------------------------------------


def test_worker_follows_the_replica_count(
    dev: DevEngine, endpoint: Endpoint, kube: FakeKubernetes
) -> None:
    props = polling_properties(URL, interval="PT30S")
    props["processPollingInterval"] = "PT60S"
    dev.engine.deploy([("p.bpmn", catch_process("scaled", props).encode())])
    keys: set[str] = set()
    for n in range(12):
        endpoint.set(f"/items/s{n}", {"id": f"s{n}", "status": "waiting"})
        info = dev.engine.create_process_instance(
            "scaled", variables={"base": endpoint.url, "id": f"s{n}"}
        )
        (sub,) = dev.engine.message_subscriptions(process_instance_key=info.process_instance_key)
        keys.add(str(sub.element_instance_key))
    mine = {k for k in keys if shard_of(int(k), 2) == 0}
    assert 0 < len(mine) < len(keys)
    worker = WorkerProcess(
        dev.grpc_address,
        dev.rest_url,
        "--shard-index",
        "auto",
        "--shard-count",
        "auto",
        "--shard-count-interval",
        "0.1",
        "--full-reconciliation-interval",
        "600",
        # The increments must not re-read the instances (they were created just now).
        "--discovery-overlap",
        "0.001",
        # After the first cycle, only a re-shard may start one during the test.
        discovery=60.0,
        env=pod_env(kube, 0),
    )
    try:
        # One replica: this one serves every instance.
        until(lambda: worker.poller_keys() == keys, what="every instance polled", timeout=20)
        assert worker.inbound()["shard"] == {"index": 0, "count": 1}
        kube.set(replicas=2)
        until(lambda: worker.poller_keys() == mine, what="the other shard dropped", timeout=20)
        assert worker.inbound()["shard"] == {"index": 0, "count": 2}
        assert len(worker.logs("shard count 1 -> 2: re-sharding")) == 1
        # A failing read keeps the count; warned about once however often it is tried.
        kube.set(status=403)
        reads = kube.scale_reads()
        until(lambda: kube.scale_reads() >= reads + 5, what="several failed reads")
        warned = worker.logs("cannot read the replica count; keeping the shard count")
        assert len(warned) == 1 and "forbidden (403)" in warned[0]["error"]
        assert worker.poller_keys() == mine
        # Scaled back to one: the other shard's instances are picked up again.
        kube.set(replicas=1)
        until(lambda: worker.poller_keys() == keys, what="every instance again", timeout=20)
        assert worker.logs("replica count readable again")
        assert len(worker.logs("shard count 2 -> 1: re-sharding")) == 1
    finally:
        assert worker.stop() == 0
