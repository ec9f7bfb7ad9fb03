"""Incremental discovery: each cycle costs the cluster O(changes), not O(waiting instances).

:class:`IncrementalDiscovery` keeps the waiting set that :class:`~connector.discovery.cycle.Discovery`
rebuilds from scratch every cycle, and updates it from what changed:

* **message subscriptions**: one search for ``lastUpdatedDate > watermark - overlap`` (any
  state, oldest change first). ``CREATED`` and ``MIGRATED`` subscriptions are open (Zeebe
  keeps a migrated subscription, now at the target definition's element); ``CORRELATED`` and
  ``DELETED`` ones are closed (correlated, or the element instance was left: completed,
  cancelled, interrupted) - except ``CORRELATED`` at a non-interrupting boundary event, which
  Zeebe keeps open until its activity is left (the full scan searches those by element id).
  The watermark is the newest ``lastUpdatedDate`` seen, so it is the
  cluster's clock, never ours; the overlap re-reads the last seconds for records that became
  visible late (exporter lag between partitions).
* **definitions**: the newest key down until a known one (keys of process definitions are
  generated on the deployment partition and increase), ``processDefinitionKey`` descending,
  which both 8.8 and 8.9 allow without ``isLatestVersion``. In steady state one search with
  ``limit 1``. Definitions that waiting subscriptions reference are loaded by key (XML once).
* **full reconciliation** (the complete scan) at start and every
  ``full_reconciliation_interval``: whatever the increments missed (a change that became
  visible later than the overlap allows) is repaired, logged, and counted in
  ``Snapshot.repaired`` (the worker's ``discovery_repaired_total``): non-zero means the overlap
  window is too small for this cluster.

The cycle interval follows the live elements' ``processPollingInterval`` (see
:meth:`IncrementalDiscovery.next_interval`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from connector.discovery.cluster import JsonObject
from connector.discovery.cycle import Discovery
from connector.discovery.model import (
    Definition,
    DefinitionRef,
    Snapshot,
    WaitingInstance,
    WaitingRow,
    repeating_element_ids,
    reuses_key,
)
from connector.discovery.rest_v2 import (
    CORRELATED,
    DEFINITIONS,
    OPEN_STATES,
    SUBSCRIPTIONS,
    RestV2Source,
    definition_ref,
    repeating_filter,
    waiting_row,
)
from connector.discovery.sharding import owns
from connector.observability import log_event

log = logging.getLogger(__name__)

#: states of a closed subscription (correlated, or its element instance was left); a
#: non-interrupting boundary's CORRELATED subscription is the exception (see rest_v2.CORRELATED)
CLOSED_STATES = frozenset({"CORRELATED", "DELETED"})
#: repaired entries logged one by one per reconciliation (the rest as a count)
MAX_REPAIR_LOGS = 20


@dataclass(frozen=True)
class SyncOptions:
    """How the incremental sync runs (``connector.config.Settings`` has the same knobs)."""

    overlap: float = 10.0
    full_reconciliation_interval: float = 300.0
    min_interval: float = 1.0


class SubscriptionRow(NamedTuple):
    row: WaitingRow
    subscription_key: int
    state: str
    updated_ms: int | None


# ---------------------------------------------------------------------------- pure helpers


def parse_timestamp(text: Any) -> int | None:
    """Epoch milliseconds of a REST date-time (``...Z``, ``+00:00`` or ``+0000``)."""
    if not isinstance(text, str) or not text:
        return None
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = value[:-2] + ":" + value[-2:]
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def format_timestamp(epoch_ms: int) -> str:
    """RFC 3339 UTC with milliseconds, the form Camunda answers with."""
    moment = dt.datetime.fromtimestamp(epoch_ms // 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def subscription_row(item: Mapping[str, Any]) -> SubscriptionRow | None:
    """One search item as a row; None when a field the worker needs is missing."""
    try:
        row = waiting_row(item)
        key = int(item["messageSubscriptionKey"])
    except (KeyError, TypeError, ValueError):
        return None
    state = str(item.get("messageSubscriptionState") or "")
    return SubscriptionRow(row, key, state, parse_timestamp(item.get("lastUpdatedDate")))


def cycle_interval(default: float, minimum: float, definitions: Mapping[int, Definition]) -> float:
    """The configured ``default``, or the smallest ``processPollingInterval`` of the live
    elements when that is shorter (an element never asks for less than ``minimum``)."""
    wanted = default
    for definition in definitions.values():
        for config in definition.configs.values():
            asked = getattr(config, "discovery_interval", None)
            if asked is not None:
                wanted = min(wanted, max(minimum, asked.total_seconds()))
    return wanted


# ---------------------------------------------------------------------------- discovery


class IncrementalDiscovery(Discovery):
    """A :class:`Discovery` whose cycles read only changes (REST API v2 sources)."""

    def __init__(
        self,
        source: RestV2Source,
        *,
        shard_index: int = 0,
        shard_count: int = 1,
        batch_size: int = 100,
        options: SyncOptions | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        super().__init__(
            source, shard_index=shard_index, shard_count=shard_count, batch_size=batch_size
        )
        self.rest = source
        self.options = options or SyncOptions()
        self._clock = clock
        self._watermark: int | None = None  # newest lastUpdatedDate seen (cluster clock)
        # (our monotonic time, watermark) when the watermark rose, and the highest watermark
        # that a search has re-read at least ``overlap`` after it was first seen: nothing
        # at or below it can still turn up, so later searches start there.
        self._risen: deque[tuple[float, int]] = deque()
        self._settled: int | None = None
        self._last_search: float | None = None
        self._next_full: float | None = None  # None: reconcile on the next cycle
        self._updated: dict[tuple[int, str], int | None] = {}  # waiting key -> lastUpdated
        self._by_subscription: dict[int, tuple[int, str]] = {}
        self._refs: Counter[int] = Counter()  # definition key -> waiting instances
        self._latest: dict[tuple[str, str | None], Definition] = {}  # newest per process
        self._max_definition_key: dict[str | None, int] = {}  # per tenant filter
        # Open subscriptions whose definition could not be read yet (XML not visible yet, or
        # a transient failure): tried again every cycle, not just while in the overlap.
        self._deferred: dict[int, SubscriptionRow] = {}
        self._initialized = False
        self._resharded = False
        self.repaired_total = 0
        self.full_cycles = 0

    # ------------------------------------------------------------------ interval

    def next_interval(self, default: float) -> float:
        live = {d.ref.key: d for d in self._latest.values()}
        live.update((k, d) for k in self._refs if (d := self._cache.get(k)) is not None)
        return cycle_interval(default, self.options.min_interval, live)

    # ------------------------------------------------------------------ cycle

    def _cycle(self) -> Snapshot:
        started = time.monotonic()
        before = self.source.requests_made
        new: list[Definition] = []
        repaired = 0
        now = self._clock()
        if self._next_full is None or now >= self._next_full:
            repaired = self._reconcile(new)
            self._next_full = now + self.options.full_reconciliation_interval
            self.full_cycles += 1
        else:
            self._new_definitions(new)
            if self._reset_reason is None:
                self._apply_changes(new)
        reset, self._reset_reason = self._reset_reason, None
        if reset is not None:
            # Everything kept by key (definitions, subscriptions, the watermark) describes
            # a cluster that no longer exists: start again as on the first cycle.
            self._forget()
            new, repaired = [], 0
            self._reconcile(new)
            self._reset_reason = None  # nothing learnt yet can be stale
            self._next_full = now + self.options.full_reconciliation_interval
            self.full_cycles += 1
        return Snapshot(
            definitions=self._active(),
            waiting=dict(self._waiting),
            new_definitions=new,
            requests=self.source.requests_made - before,
            duration=time.monotonic() - started,
            repaired=repaired,
            reset_reason=reset,
        )

    def _forget(self) -> None:
        """Drop all state learnt from the cluster (after it lost its own)."""
        with self._lock:
            self._cache.clear()
        self._unreadable.clear()
        self._waiting = {}
        self._updated.clear()
        self._by_subscription.clear()
        self._refs.clear()
        self._latest = {}
        self._max_definition_key.clear()
        self._deferred.clear()
        self._watermark = None
        self._risen.clear()
        self._settled = None
        self._last_search = None
        self._initialized = False

    def _check_reset(self, tenant: str | None, top: DefinitionRef | None) -> bool:
        """Whether the newest deployed definition shows that the cluster lost its state:
        keys only grow, so the newest key going back (or naming another process than the
        one cached under it) means keys are being handed out again."""
        known = self._max_definition_key.get(tenant, 0)
        reason: str | None = None
        if known and (top is None or top.key < known):
            reason = f"the highest deployed definition key went back from {known} to " + (
                "none" if top is None else str(top.key)
            )
        elif top is not None:
            cached = self._cache.get(top.key)
            if cached is not None and reuses_key(cached.ref, top):
                reason = f"definition key {top.key} reused by another process/version"
        if reason is None:
            return False
        if self._reset_reason is None:
            self._reset_reason = reason
            log.warning("cluster state reset detected (%s): reloading", reason)
        return True

    def reshard(self, shard_index: int, shard_count: int) -> None:
        """As :meth:`Discovery.reshard`, and the next cycle is a full reconciliation: the
        increments only see changed subscriptions, not the instances the new shard adds."""
        self.shard_index, self.shard_count = shard_index, shard_count
        for key, instance in list(self._waiting.items()):
            if not owns(instance.element_instance_key, shard_index, shard_count):
                self._remove(key)
        self._by_subscription = {
            sub: key for sub, key in self._by_subscription.items() if key in self._waiting
        }
        self._resharded = True  # what the reconciliation adds is the new shard, not a miss
        self.force_full()

    def force_full(self) -> None:
        """Run a full reconciliation on the next cycle."""
        self._next_full = None

    def _active(self) -> dict[int, Definition]:
        active = {d.ref.key: d for d in self._latest.values() if d.has_polling}
        for key in self._refs:
            definition = self._cache.get(key)
            if definition is not None:
                active[key] = definition
        return active

    # ------------------------------------------------------------------ definitions

    def _tenant_filters(self) -> list[str | None]:
        return list(self.rest.tenant_ids) or [None]

    def _remember_latest(self, definition: Definition) -> None:
        ref = definition.ref
        if not ref.process_id:
            return  # loaded by key for a waiting instance: not known to be the latest
        slot = (ref.process_id, ref.tenant_id)
        current = self._latest.get(slot)
        if current is None or current.ref.key < ref.key:
            self._latest[slot] = definition

    def _full_definitions(self, new: list[Definition]) -> None:
        self._latest = {}
        for ref in self.rest.definitions():
            definition = self._load(ref, new)
            if definition is not None:
                self._remember_latest(definition)
        for tenant in self._tenant_filters():
            newest = self._newest_definition_keys(tenant, limit=1)
            top = newest[0] if newest else None
            if self._check_reset(tenant, top):
                return
            self._max_definition_key[tenant] = 0 if top is None else top.key

    def _newest_definition_keys(
        self, tenant: str | None, limit: int, after: str | None = None
    ) -> list[DefinitionRef]:
        refs, _ = self._definition_page(tenant, limit, after)
        return refs

    def _definition_page(
        self, tenant: str | None, limit: int, after: str | None
    ) -> tuple[list[DefinitionRef], str | None]:
        filter_: JsonObject = {} if tenant is None else {"tenantId": tenant}
        page: JsonObject = {"limit": limit}
        if after is not None:
            page["after"] = after
        body = {
            "filter": filter_,
            "sort": [{"field": "processDefinitionKey", "order": "DESC"}],
            "page": page,
        }
        data = self.rest.client.post(DEFINITIONS, body)
        items = data.get("items") or [] if isinstance(data, dict) else []
        refs = [definition_ref(item) for item in items]
        cursor = (data.get("page") or {}).get("endCursor") if isinstance(data, dict) else None
        return refs, cursor if len(items) >= limit else None

    def _new_definitions(self, new: list[Definition]) -> None:
        """Deployments since the newest known key: a one-item page when nothing changed."""
        for tenant in self._tenant_filters():
            known = self._max_definition_key.get(tenant, 0)
            found: list[DefinitionRef] = []
            limit, cursor = 1, None
            while True:
                refs, cursor = self._definition_page(tenant, limit, cursor)
                if limit == 1 and self._check_reset(tenant, refs[0] if refs else None):
                    return
                fresh = [ref for ref in refs if ref.key > known]
                found.extend(fresh)
                if len(fresh) < len(refs) or cursor is None:
                    break
                limit = self.rest.page_size
            for ref in sorted(found, key=lambda r: r.key):
                definition = self._load(ref, new)
                if definition is None:
                    # Not readable yet: retry from here next cycle.
                    break
                self._remember_latest(definition)
                self._max_definition_key[tenant] = max(known, ref.key)
                known = self._max_definition_key[tenant]

    # ------------------------------------------------------------------ subscriptions

    def _search(self, filter_: JsonObject, sort: list[JsonObject]) -> Iterator[SubscriptionRow]:
        if self.rest.tenant_ids:
            filter_ = {**filter_, "tenantId": {"$in": list(self.rest.tenant_ids)}}
        for item in self.rest.search(SUBSCRIPTIONS, filter_, sort):
            parsed = subscription_row(item)
            if parsed is None:
                log.debug("skipping incomplete message subscription %r", item)
                continue
            yield parsed

    def _anchor(self) -> int | None:
        """The newest ``lastUpdatedDate`` of any subscription: where increments start."""
        filter_: JsonObject = {}
        if self.rest.tenant_ids:
            filter_["tenantId"] = {"$in": list(self.rest.tenant_ids)}
        body = {
            "filter": filter_,
            "sort": [{"field": "lastUpdatedDate", "order": "DESC"}],
            "page": {"limit": 1},
        }
        data = self.rest.client.post(SUBSCRIPTIONS, body)
        items = data.get("items") or [] if isinstance(data, dict) else []
        return parse_timestamp(items[0].get("lastUpdatedDate")) if items else None

    def _lower_bound(self) -> int | None:
        """Where the next changes search starts: ``watermark - overlap``, or later once a
        search made ``overlap`` after the watermark rose has re-read that window (a record
        lagging at most ``overlap`` has then been seen; without this, a quiet cluster would
        return the last burst of changes every cycle)."""
        if self._watermark is None:
            return None
        if self._last_search is not None:
            while self._risen and self._risen[0][0] + self.options.overlap <= self._last_search:
                self._settled = self._risen.popleft()[1]
        bound = self._watermark - int(self.options.overlap * 1000)
        return bound if self._settled is None else max(bound, self._settled)

    def _changes(self) -> tuple[list[SubscriptionRow], float]:
        filter_: JsonObject = {}
        since = self._lower_bound()
        searched = self._clock()
        if since is not None:
            filter_["lastUpdatedDate"] = {"$gt": format_timestamp(since)}
        sort = [
            {"field": "lastUpdatedDate", "order": "ASC"},
            {"field": "messageSubscriptionKey", "order": "ASC"},
        ]
        return list(self._search(filter_, sort)), searched

    def _commit(self, rows: list[SubscriptionRow], searched: float) -> None:
        """Move the watermark past rows once they are applied (a failure before that
        reads them again next cycle)."""
        self._last_search = searched
        self._raise_watermark(max((r.updated_ms or 0 for r in rows), default=None), searched)

    def _raise_watermark(self, seen: int | None, at: float) -> None:
        if seen is not None and (self._watermark is None or seen > self._watermark):
            self._watermark = seen
            self._risen.append((at, seen))

    def _definition(self, row: WaitingRow, new: list[Definition]) -> Definition | None:
        definition = self._cache.get(row.process_definition_key)
        if definition is None:
            # An older version (or a deployment not seen yet): load it by key, once.
            ref = DefinitionRef(row.process_definition_key, "", None, row.tenant_id)
            definition = self._load(ref, new)
        return definition

    def _pending(self, item: SubscriptionRow, new: list[Definition]) -> bool:
        """Whether the row's definition cannot be read yet (but may be later)."""
        key = item.row.process_definition_key
        return self._definition(item.row, new) is None and key not in self._unreadable

    def _instance(self, item: SubscriptionRow, new: list[Definition]) -> WaitingInstance | None:
        row = item.row
        definition = self._definition(row, new)
        if definition is None or not definition.has_polling:
            return None
        config = definition.config_for(row.element_id, row.message_name)
        if config is None:
            return None
        return WaitingInstance.of(row, config)

    def _repeats(self, item: SubscriptionRow, new: list[Definition]) -> bool:
        """A CORRELATED row that still waits: at a non-interrupting boundary event."""
        if item.state != CORRELATED:
            return False
        instance = self._instance(item, new)
        return instance is not None and not instance.config.interrupting

    def _open_rows(
        self, sort: list[JsonObject], new: list[Definition]
    ) -> Iterator[SubscriptionRow]:
        """Every open subscription: CREATED/MIGRATED ones, and the CORRELATED ones of
        non-interrupting boundary events (searched by their element ids only)."""
        yield from self._search({"messageSubscriptionState": {"$in": list(OPEN_STATES)}}, sort)
        repeating = repeating_element_ids([*self._active().values(), *new])
        if repeating:
            for item in self._search(repeating_filter(repeating), sort):
                if self._repeats(item, new):
                    yield item

    def _add(self, key: tuple[int, str], instance: WaitingInstance, updated: int | None) -> None:
        old = self._waiting.get(key)
        if old is not None:
            self._refs[old.process_definition_key] -= 1
            if self._refs[old.process_definition_key] <= 0:
                del self._refs[old.process_definition_key]
        if old is not None and old == instance and old.config is instance.config:
            instance = old  # unchanged: keep the object the scheduler holds
        self._waiting[key] = instance
        self._updated[key] = updated
        self._refs[instance.process_definition_key] += 1

    def _remove(self, key: tuple[int, str]) -> WaitingInstance | None:
        old = self._waiting.pop(key, None)
        self._updated.pop(key, None)
        if old is not None:
            self._refs[old.process_definition_key] -= 1
            if self._refs[old.process_definition_key] <= 0:
                del self._refs[old.process_definition_key]
        return old

    def _apply_changes(self, new: list[Definition]) -> set[tuple[int, str]]:
        """Apply the changed subscriptions; returns the waiting keys they closed."""
        closed: set[tuple[int, str]] = set()
        rows, searched = self._changes()
        retry, self._deferred = list(self._deferred.values()), {}
        try:
            self._apply_rows(retry + rows, closed, new)
        except BaseException:
            for item in retry:  # still unresolved: keep them for the next cycle
                self._deferred.setdefault(item.subscription_key, item)
            raise
        self._commit(rows, searched)
        return closed

    def _apply_rows(
        self,
        rows: list[SubscriptionRow],
        closed: set[tuple[int, str]],
        new: list[Definition],
    ) -> None:
        for item in rows:
            previous = self._by_subscription.get(item.subscription_key)
            self._deferred.pop(item.subscription_key, None)  # a newer row supersedes it
            if item.state in OPEN_STATES or self._repeats(item, new):
                if self._pending(item, new):
                    self._deferred[item.subscription_key] = item
                    continue
                instance = self._instance(item, new)
                owned = owns(item.row.element_instance_key, self.shard_index, self.shard_count)
                if previous is not None and (instance is None or previous != instance.key):
                    self._remove(previous)  # migrated to another element (or away)
                    closed.add(previous)
                if instance is None or not owned:
                    self._by_subscription.pop(item.subscription_key, None)
                    continue
                self._by_subscription[item.subscription_key] = instance.key
                self._add(instance.key, instance, item.updated_ms)
                closed.discard(instance.key)
            elif item.state in CLOSED_STATES:
                key = previous
                if key is None:
                    instance = self._instance(item, new)
                    key = None if instance is None else instance.key
                self._by_subscription.pop(item.subscription_key, None)
                if key is not None:
                    self._remove(key)
                    closed.add(key)

    # ------------------------------------------------------------------ reconciliation

    def _reconcile(self, new: list[Definition]) -> int:
        """The complete scan; returns how many entries the increments had missed."""
        first = not self._initialized
        resharded, self._resharded = self._resharded, False
        if first:
            # Before the scan: whatever changes after it is newer than this.
            self._raise_watermark(self._anchor(), self._clock())
        watermark_before = self._watermark
        self._full_definitions(new)
        if self._reset_reason is not None:
            return 0  # the cycle starts again from nothing
        sort = [{"field": "messageSubscriptionKey", "order": "ASC"}]
        scanned: dict[tuple[int, str], tuple[WaitingInstance, SubscriptionRow]] = {}
        for item in self._open_rows(sort, new):
            if not owns(item.row.element_instance_key, self.shard_index, self.shard_count):
                continue
            if self._pending(item, new):
                self._deferred[item.subscription_key] = item
                continue
            instance = self._instance(item, new)
            if instance is not None:
                scanned[instance.key] = (instance, item)
        if first:
            for key, (instance, item) in scanned.items():
                self._by_subscription[item.subscription_key] = key
                self._add(key, instance, item.updated_ms)
            self._initialized = True
            return 0
        # What changed during the scan is read now, so that only real misses remain.
        closed = self._apply_changes(new)
        added = [
            (key, pair)
            for key, pair in scanned.items()
            if key not in self._waiting and key not in closed
        ]
        removed = [
            key
            for key in self._waiting
            if key not in scanned
            and (watermark_before is None or (self._updated.get(key) or 0) <= watermark_before)
        ]
        for key, (instance, item) in added:
            self._by_subscription[item.subscription_key] = key
            self._add(key, instance, item.updated_ms)
        gone = [self._remove(key) for key in removed]
        self._by_subscription = {
            sub: key for sub, key in self._by_subscription.items() if key in self._waiting
        }
        repaired = len(added) + len(removed)
        if resharded:
            repaired = 0
        if repaired:
            self.repaired_total += repaired
            self._log_repairs([p[0] for _, p in added], [g for g in gone if g is not None])
        return repaired

    def _log_repairs(self, added: list[WaitingInstance], removed: list[WaitingInstance]) -> None:
        log_event(
            log,
            "full reconciliation repaired missed changes (increase the discovery overlap)",
            logging.WARNING,
            added=len(added),
            removed=len(removed),
            overlap_seconds=self.options.overlap,
        )
        for what, instances in (("added", added), ("removed", removed)):
            for instance in instances[:MAX_REPAIR_LOGS]:
                log_event(
                    log,
                    f"reconciliation {what} waiting instance",
                    logging.WARNING,
                    process_id=instance.process_id,
                    element_id=instance.element_id,
                    element_instance_key=str(instance.element_instance_key),
                    process_instance_key=str(instance.process_instance_key),
                )
