"""Incremental discovery against the development engine with a query visibility delay.

The engine runs on a manual clock, so "the exporter has caught up" is a clock advance, not a
sleep; every search goes over real HTTP and must be one both emulated versions accept (the
``dev``-style recording check at the end of each test).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from connector.config import load_settings
from connector.devengine.clock import ManualClock
from connector.devengine.contract import VERSIONS, request_violations
from connector.devengine.server import DevEngine, DevEngineOptions
from connector.discovery import (
    ClusterError,
    Discovery,
    IncrementalDiscovery,
    RestClient,
    RestV2Source,
    Snapshot,
    SyncOptions,
    build_discovery,
    cycle_interval,
    format_timestamp,
    parse_timestamp,
)
from tests.worker.bpmn_builder import boundary_process, catch_process, polling_properties

URL = '="http://127.0.0.1:9/items/" + id'
DELAY_MS = 2_000


@pytest.fixture(params=VERSIONS)
def lagging(request: pytest.FixtureRequest) -> Iterator[tuple[DevEngine, ManualClock]]:
    """A dev engine whose searches see records DELAY_MS after they are written."""
    clock = ManualClock()
    options = DevEngineOptions(camunda_version=request.param, query_visibility_delay_ms=DELAY_MS)
    with DevEngine.run_in_thread("127.0.0.1", clock=clock, options=options) as engine:
        recorded = engine.rest_api.recorded = []
        yield engine, clock
    problems = [
        problem
        for method, path, body, accept in recorded
        for version in VERSIONS
        for problem in request_violations(version, method, path, body, accept)
    ]
    assert problems == [], problems


def incremental(
    dev: DevEngine, clock: ManualClock, overlap: float = 5.0, full_every: float = 300.0
) -> IncrementalDiscovery:
    """The sync on the engine's manual clock (seconds), so reconciliations fall due when
    the test advances it."""
    source = RestV2Source(RestClient(dev.rest_url), page_size=50)
    options = SyncOptions(overlap=overlap, full_reconciliation_interval=full_every)
    return IncrementalDiscovery(source, options=options, clock=lambda: clock.now_ms() / 1000.0)


def deploy(dev: DevEngine, xml: str) -> int:
    result = dev.engine.deploy([("p.bpmn", xml.encode())])
    return result.processes[0].process_definition_key


def start(dev: DevEngine, process_id: str, n: int) -> int:
    info = dev.engine.create_process_instance(process_id, variables={"id": f"i{n}"})
    return info.process_instance_key


def waiting_piks(snapshot: Snapshot) -> set[int]:
    return {w.process_instance_key for w in snapshot.waiting.values()}


def settle(clock: ManualClock) -> None:
    """Let the exporter catch up: every record written so far becomes visible."""
    clock.advance(DELAY_MS + 1)


def test_new_instances_picked_up_and_steady_state_costs_two_requests(
    lagging: tuple[DevEngine, ManualClock],
) -> None:
    dev, clock = lagging
    deploy(dev, catch_process("inc", polling_properties(URL)))
    first = [start(dev, "inc", n) for n in range(120)]
    settle(clock)
    disc = incremental(dev, clock)
    initial = disc.cycle()
    assert waiting_piks(initial) == set(first)
    assert [d.ref.process_id for d in initial.new_definitions] == ["inc"]

    later = [start(dev, "inc", n) for n in range(120, 125)]
    clock.advance(100)
    hidden = disc.cycle()  # written, but not visible to searches yet
    assert waiting_piks(hidden) == set(first)
    settle(clock)
    seen = disc.cycle()
    assert waiting_piks(seen) == set(first) | set(later)
    # Steady state: a one-item definitions page and one changes search (empty once the
    # overlap window has been re-read after it passed), whatever the number waiting (a full
    # scan of 125 at page size 50 would take 1 + 3).
    clock.advance(60_000)
    disc.cycle()
    steady = disc.cycle()
    assert steady.requests == 2
    assert waiting_piks(steady) == set(first) | set(later)
    assert steady.repaired == 0


def test_cancelled_correlated_left_and_migrated_instances_dropped(
    lagging: tuple[DevEngine, ManualClock],
) -> None:
    dev, clock = lagging
    v1 = deploy(dev, catch_process("drop", polling_properties(URL)))
    deploy(dev, boundary_process("task", polling_properties(URL), job_type="work"))
    cancelled, correlated, migrated, kept = (start(dev, "drop", n) for n in range(4))
    left = start(dev, "task", 5)
    settle(clock)
    disc = incremental(dev, clock)
    assert waiting_piks(disc.cycle()) == {cancelled, correlated, migrated, kept, left}

    # v2 moves the wait to a non-polling catch event: the migrated instance leaves polling.
    plain = catch_process("drop", {"other": "x"}).replace('"Wait"', '"Plain"')
    plain = plain.replace('targetRef="Wait"', 'targetRef="Plain"')
    v2 = deploy(dev, plain.replace('sourceRef="Wait"', 'sourceRef="Plain"'))
    assert v2 != v1
    dev.engine.cancel_process_instance(cancelled)
    dev.engine.publish_message("done-msg", correlation_key="i1")
    dev.engine.migrate_process_instance(migrated, v2, {"Wait": "Plain"})
    [job] = dev.engine.activate_jobs("work", "test", 60_000, 1)
    dev.engine.complete_job(job.key)  # the task completes: its boundary wait is left
    clock.advance(100)
    assert waiting_piks(disc.cycle()) == {cancelled, correlated, migrated, kept, left}
    settle(clock)
    after = disc.cycle()
    assert waiting_piks(after) == {kept}
    # The removals came from the increments, not a reconciliation.
    assert disc.full_cycles == 1


def test_migrated_to_a_polling_element_keeps_polling_on_the_new_version(
    lagging: tuple[DevEngine, ManualClock],
) -> None:
    dev, clock = lagging
    deploy(dev, catch_process("mig", polling_properties(URL)))
    pik = start(dev, "mig", 0)
    settle(clock)
    disc = incremental(dev, clock)
    disc.cycle()
    v2 = deploy(dev, catch_process("mig", polling_properties(URL, interval="PT3S")))
    dev.engine.migrate_process_instance(pik, v2)
    settle(clock)
    [instance] = disc.cycle().waiting.values()
    assert instance.process_definition_key == v2
    assert instance.config.interval == dt.timedelta(seconds=3)
    states = [s.state for s in dev.engine.message_subscriptions(process_instance_key=pik)]
    assert states == ["MIGRATED"]


def test_old_versions_served_and_new_deployments_found_by_key(
    lagging: tuple[DevEngine, ManualClock],
) -> None:
    dev, clock = lagging
    v1 = deploy(dev, catch_process("ver", polling_properties(URL)))
    old = start(dev, "ver", 0)
    settle(clock)
    disc = incremental(dev, clock)
    disc.cycle()
    v2 = deploy(dev, catch_process("ver", polling_properties(URL, interval="PT2S")))
    new = start(dev, "ver", 1)
    settle(clock)
    snapshot = disc.cycle()
    assert [d.ref.key for d in snapshot.new_definitions] == [v2]
    by_pik = {w.process_instance_key: w for w in snapshot.waiting.values()}
    assert by_pik[old].process_definition_key == v1
    assert by_pik[new].process_definition_key == v2
    assert set(snapshot.definitions) == {v1, v2}
    # XML once per definition: later cycles load nothing.
    clock.advance(10_000)
    assert disc.cycle().new_definitions == []


def test_nothing_missed_across_a_restart(lagging: tuple[DevEngine, ManualClock]) -> None:
    dev, clock = lagging
    deploy(dev, catch_process("rst", polling_properties(URL)))
    before = [start(dev, "rst", n) for n in range(3)]
    settle(clock)
    disc = incremental(dev, clock)
    assert waiting_piks(disc.cycle()) == set(before)
    # The worker is down while instances come and go; a new one starts from nothing.
    dev.engine.cancel_process_instance(before[0])
    during = [start(dev, "rst", n) for n in range(3, 5)]
    settle(clock)
    restarted = incremental(dev, clock)
    expected = set(before[1:]) | set(during)
    assert waiting_piks(restarted.cycle()) == expected
    full = Discovery(RestV2Source(RestClient(dev.rest_url)))
    assert waiting_piks(full.cycle()) == expected
    # ...and changes right after the restart are seen by the increments.
    dev.engine.cancel_process_instance(during[0])
    settle(clock)
    assert waiting_piks(restarted.cycle()) == expected - {during[0]}


def test_change_later_than_the_overlap_is_repaired_by_the_full_reconciliation(
    lagging: tuple[DevEngine, ManualClock], caplog: pytest.LogCaptureFixture
) -> None:
    dev, clock = lagging
    deploy(dev, catch_process("late", polling_properties(URL)))
    early = start(dev, "late", 0)
    settle(clock)
    disc = incremental(dev, clock, overlap=1.0, full_every=300.0)
    assert waiting_piks(disc.cycle()) == {early}
    # One exporter falls 5 s behind (more than the 1 s overlap): this instance's record
    # shows up after newer ones have moved the watermark past its timestamp.
    dev.engine.lag_subscription_records(5_000)
    missed = start(dev, "late", 1)
    dev.engine.lag_subscription_records(0)
    clock.advance(1_500)
    newer = start(dev, "late", 2)
    settle(clock)
    assert waiting_piks(disc.cycle()) == {early, newer}
    clock.advance(10_000)  # now the late record is visible, but older than watermark - overlap
    steady = disc.cycle()
    assert waiting_piks(steady) == {early, newer}
    clock.advance(300_000)  # the full reconciliation is due
    with caplog.at_level(logging.WARNING, logger="connector.discovery"):
        repaired = disc.cycle()
    assert waiting_piks(repaired) == {early, newer, missed}
    assert repaired.repaired == 1
    assert disc.repaired_total == 1
    assert any("repaired" in r.getMessage() for r in caplog.records)
    # A reconciliation with nothing missed repairs nothing, even with changes in between.
    dev.engine.cancel_process_instance(newer)
    start(dev, "late", 3)
    settle(clock)
    clock.advance(300_000)
    clean = disc.cycle()
    assert clean.repaired == 0
    assert len(clean.waiting) == 3


def test_missed_removal_is_repaired(lagging: tuple[DevEngine, ManualClock]) -> None:
    dev, clock = lagging
    deploy(dev, catch_process("gone", polling_properties(URL)))
    piks = [start(dev, "gone", n) for n in range(2)]
    settle(clock)
    disc = incremental(dev, clock, overlap=0.5)
    disc.cycle()
    dev.engine.lag_subscription_records(5_000)
    dev.engine.cancel_process_instance(piks[0])
    dev.engine.lag_subscription_records(0)
    clock.advance(1_000)
    start(dev, "gone", 2)
    settle(clock)
    disc.cycle()
    clock.advance(10_000)
    assert piks[0] in waiting_piks(disc.cycle())  # the increments missed the cancel
    clock.advance(300_000)
    repaired = disc.cycle()
    assert piks[0] not in waiting_piks(repaired)
    assert repaired.repaired == 1


def test_process_polling_interval_sets_the_pace() -> None:
    settings = load_settings({}, {})
    assert settings.discovery_mode == "incremental"
    assert cycle_interval(5.0, 1.0, {}) == 5.0


def test_pace_follows_the_fastest_live_element(lagging: tuple[DevEngine, ManualClock]) -> None:
    dev, clock = lagging
    props = polling_properties(URL)
    props["processPollingInterval"] = "PT2S"
    deploy(dev, catch_process("fast", props))
    props = polling_properties(URL)
    props["processPollingInterval"] = "PT0.1S"
    deploy(dev, catch_process("fastest", props))
    settle(clock)
    disc = incremental(dev, clock)
    disc.cycle()
    # 0.1 s is asked for, but the configured minimum (1 s) bounds it.
    assert disc.next_interval(5.0) == 1.0
    disc.options = SyncOptions(min_interval=0.05)
    assert disc.next_interval(5.0) == pytest.approx(0.1)
    assert Discovery(disc.rest).next_interval(5.0) == 5.0
    # A shorter configured interval is never lengthened by the minimum.
    assert disc.next_interval(0.01) == 0.01


def test_build_discovery_honours_the_mode(lagging: tuple[DevEngine, ManualClock]) -> None:
    dev, _ = lagging
    source = RestV2Source(RestClient(dev.rest_url))
    settings: Any = load_settings({}, {"CONNECTOR_DISCOVERY_OVERLAP": "PT3S"})
    built = build_discovery(source, settings)
    assert isinstance(built, IncrementalDiscovery)
    assert built.options.overlap == 3.0
    full = build_discovery(source, load_settings({}, {"CONNECTOR_DISCOVERY_MODE": "full"}))
    assert type(full) is Discovery


def test_timestamps_round_trip() -> None:
    ms = 1_700_000_000_123
    assert parse_timestamp(format_timestamp(ms)) == ms
    assert parse_timestamp("2023-11-14T22:13:20.123+0000") == ms
    assert parse_timestamp("2023-11-14T22:13:20.123+00:00") == ms
    assert parse_timestamp("not a date") is None


def test_instance_whose_definition_is_not_readable_yet_is_picked_up_later(
    lagging: tuple[DevEngine, ManualClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    dev, clock = lagging
    deploy(dev, catch_process("one", polling_properties(URL)))
    first = start(dev, "one", 0)
    settle(clock)
    disc = incremental(dev, clock)
    disc.cycle()
    deploy(dev, catch_process("two", polling_properties(URL)))
    second = start(dev, "two", 1)
    settle(clock)
    monkeypatch.setattr(disc.rest, "xml", lambda key: None)  # XML not visible yet
    assert waiting_piks(disc.cycle()) == {first}
    clock.advance(60_000)  # long past the overlap window: the change is not re-read
    disc.cycle()
    assert waiting_piks(disc.cycle()) == {first}
    monkeypatch.undo()
    snapshot = disc.cycle()
    assert waiting_piks(snapshot) == {first, second}
    assert [d.ref.process_id for d in snapshot.new_definitions] == ["two"]


def test_engine_last_updated_filter_answers_exactly_the_changes(
    lagging: tuple[DevEngine, ManualClock],
) -> None:
    dev, clock = lagging
    deploy(dev, catch_process("upd", polling_properties(URL)))
    old = start(dev, "upd", 0)
    cancelled = start(dev, "upd", 1)
    clock.advance(1_000)
    boundary = clock.now_ms()
    fresh = start(dev, "upd", 2)
    dev.engine.cancel_process_instance(cancelled)
    settle(clock)
    client = RestClient(dev.rest_url)

    def search(operator: str, at: int) -> dict[int, str]:
        body = {
            "filter": {"lastUpdatedDate": {operator: format_timestamp(at)}},
            "sort": [{"field": "lastUpdatedDate", "order": "ASC"}],
        }
        items = client.post("/v2/message-subscriptions/search", body)["items"]
        return {int(i["processInstanceKey"]): i["messageSubscriptionState"] for i in items}

    assert search("$gte", boundary) == {fresh: "CREATED", cancelled: "DELETED"}
    assert search("$gt", boundary) == {}
    assert search("$gt", boundary - 1) == {fresh: "CREATED", cancelled: "DELETED"}
    assert old in search("$lt", boundary)


def test_a_failed_cycle_loses_nothing(
    lagging: tuple[DevEngine, ManualClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    dev, clock = lagging
    deploy(dev, catch_process("ok", polling_properties(URL)))
    disc = incremental(dev, clock, overlap=1.0)
    disc.cycle()
    deploy(dev, catch_process("flaky", polling_properties(URL)))
    pik = start(dev, "flaky", 0)
    settle(clock)

    def unavailable(key: int) -> str:
        raise ClusterError("GET xml answered 503", status=503, transient=True)

    monkeypatch.setattr(disc.rest, "xml", unavailable)
    with pytest.raises(ClusterError):
        disc.cycle()
    clock.advance(60_000)  # far beyond the overlap
    monkeypatch.undo()
    assert waiting_piks(disc.cycle()) == {pik}


def test_full_scan_serves_migrated_instances_too(lagging: tuple[DevEngine, ManualClock]) -> None:
    dev, clock = lagging
    deploy(dev, catch_process("fm", polling_properties(URL)))
    pik = start(dev, "fm", 0)
    v2 = deploy(dev, catch_process("fm", polling_properties(URL, interval="PT4S")))
    dev.engine.migrate_process_instance(pik, v2)
    settle(clock)
    [instance] = Discovery(RestV2Source(RestClient(dev.rest_url))).cycle().waiting.values()
    assert instance.process_definition_key == v2


@pytest.mark.parametrize("redeploy", [False, True])
def test_cluster_reset_starts_again_from_nothing(redeploy: bool) -> None:
    """A cluster that lost its state hands out the same keys again: the increments must
    not keep the old definitions, subscriptions or watermark (and the snapshot says so)."""
    clock = ManualClock()
    with DevEngine.run_in_thread("127.0.0.1", clock=clock) as first:
        old_key = deploy(first, catch_process("old", polling_properties(URL)))
        old = [start(first, "old", n) for n in range(3)]
        disc = incremental(first, clock)
        assert waiting_piks(disc.cycle()) == set(old)
        assert disc.cycle().reset_reason is None
    with DevEngine.run_in_thread("127.0.0.1", clock=clock) as second:
        disc.rest.client.base_url = second.rest_url
        if redeploy:  # same first key, another process: only the key's owner changed
            assert deploy(second, catch_process("new", polling_properties(URL))) == old_key
            new = [start(second, "new", 0)]
        else:  # empty: the newest key went back
            new = []
        clock.advance(1_000)
        snapshot = disc.cycle()
        assert snapshot.reset_reason is not None
        assert waiting_piks(snapshot) == set(new)
        assert [w.process_id for w in snapshot.waiting.values()] == ["new"] * len(new)
        assert disc.cycle().reset_reason is None  # reported once
        deploy(second, catch_process("later", polling_properties(URL)))
        later = start(second, "later", 9)
        clock.advance(1_000)
        assert waiting_piks(disc.cycle()) == set(new) | {later}


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_reset_hidden_behind_an_outage_is_found_by_rereading_definitions(mode: str) -> None:
    """The cluster goes away and comes back wiped, given the same process again (edited)
    before any cycle could see it empty: the same definition key, process id and version.
    The first cycle after the outage compares the cached XML with the cluster's."""
    clock = ManualClock()
    first_url = '="http://127.0.0.1:9/first/" + id'
    with DevEngine.run_in_thread("127.0.0.1", clock=clock) as first:
        key = deploy(first, catch_process("same", polling_properties(first_url)))
        start(first, "same", 0)
        source = RestV2Source(RestClient(first.rest_url), page_size=50)
        disc = (
            Discovery(source)
            if mode == "full"
            else IncrementalDiscovery(source, clock=lambda: clock.now_ms() / 1000.0)
        )
        clock.advance(1_000)
        [instance] = disc.cycle().waiting.values()
        assert instance.config.url.raw == first_url
    source.client.base_url = "http://127.0.0.1:9"  # nobody answers there
    with pytest.raises(ClusterError):
        disc.cycle()
    with DevEngine.run_in_thread("127.0.0.1", clock=clock) as second:
        source.client.base_url = second.rest_url
        edited = '="http://127.0.0.1:9/second/" + id'
        assert deploy(second, catch_process("same", polling_properties(edited))) == key
        start(second, "same", 0)
        clock.advance(1_000)
        snapshot = disc.cycle()
        assert snapshot.reset_reason is not None and "other content" in snapshot.reset_reason
        [instance] = snapshot.waiting.values()
        assert instance.config.url.raw == edited
        # Reported once; an outage of a cluster that kept its state is no reset.
        assert disc.cycle().reset_reason is None
        source.client.base_url = "http://127.0.0.1:9"
        with pytest.raises(ClusterError):
            disc.cycle()
        source.client.base_url = second.rest_url
        clock.advance(1_000)
        snapshot = disc.cycle()
        assert snapshot.reset_reason is None
        assert [w.config.url.raw for w in snapshot.waiting.values()] == [edited]
