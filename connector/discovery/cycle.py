"""The complete discovery cycle: every definition, every open wait, each cycle.

:class:`Discovery` runs one cycle (:meth:`Discovery.cycle`) against one
:class:`~connector.discovery.model.Source`: the number of REST requests grows with result
pages (and newly seen definitions, whose XML is cached by key forever: a deployed definition
never changes), not with waiting instances. It also fetches the variables the waiting
instances' expressions read, in batches, scoped as Zeebe resolves them. Every call is
synchronous (``requests``); the worker runs it in a thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from connector.bpmn import BpmnError, element_ancestors, parse_definitions
from connector.discovery.cluster import ClusterError
from connector.discovery.model import (
    Definition,
    DefinitionRef,
    Snapshot,
    Source,
    WaitingInstance,
    parse_value,
    reuses_key,
)
from connector.discovery.sharding import owns
from connector.elements import load_elements

log = logging.getLogger(__name__)


class Discovery:
    """Runs discovery cycles and batched variable fetches against one :class:`Source`."""

    def __init__(
        self,
        source: Source,
        *,
        shard_index: int = 0,
        shard_count: int = 1,
        batch_size: int = 100,
    ) -> None:
        self.source = source
        self.shard_index = shard_index
        self.shard_count = shard_count
        self.batch_size = batch_size
        self._cache: dict[int, Definition] = {}
        self._unreadable: set[int] = set()
        self._lock = threading.Lock()
        self._waiting: dict[tuple[int, str], WaitingInstance] = {}  # the last cycle's
        self._top_key: int | None = None  # highest listed definition key, last cycle
        self._reset_reason: str | None = None
        self._unreachable = False  # the last cycle failed to reach the cluster

    def reshard(self, shard_index: int, shard_count: int) -> None:
        """Serve another shard from now on: the instances no longer owned are dropped at
        once (the next snapshot leaves them out); newly owned ones come with the next
        cycle. Call it between cycles (on the thread that runs them)."""
        self.shard_index, self.shard_count = shard_index, shard_count
        self._waiting = {
            key: instance
            for key, instance in self._waiting.items()
            if owns(instance.element_instance_key, shard_index, shard_count)
        }

    def definition(self, key: int) -> Definition | None:
        return self._cache.get(key)

    def next_interval(self, default: float) -> float:
        """Seconds until the next cycle (the complete scan keeps the configured interval)."""
        return default

    def _load(self, ref: DefinitionRef, new: list[Definition]) -> Definition | None:
        cached = self._cache.get(ref.key)
        if cached is not None:
            if not reuses_key(cached.ref, ref):
                return cached
            # The cluster lost its state (a restart, a wiped cluster) and reuses keys.
            log.warning(
                "definition key %s now names %s version %s (was %s version %s): the cluster "
                "reuses keys (state reset?); reloading it",
                ref.key,
                ref.process_id,
                ref.version,
                cached.ref.process_id,
                cached.ref.version,
            )
            with self._lock:
                self._cache.pop(ref.key, None)
            self._waiting = {}  # instance keys may be reused too
            self._reset_reason = f"definition key {ref.key} reused by another process/version"
        try:
            xml = self.source.xml(ref.key)
        except ClusterError as exc:
            if exc.transient:
                raise
            # One unreadable definition (e.g. 403) must not stop discovery of the others.
            if ref.key not in self._unreadable:
                self._unreadable.add(ref.key)
                log.warning("cannot read the XML of definition %s: %s", ref.key, exc)
            return None
        if xml is None:
            return None  # not visible yet (eventual consistency): try again next cycle
        self._unreadable.discard(ref.key)
        source = f"{ref.process_id or 'process'} (key {ref.key})"
        try:
            root = parse_definitions(xml)  # once, for the elements and their scopes
            configs, errors = load_elements(root, source=source)
            ancestors = element_ancestors(root) if configs else {}
        except Exception as exc:  # bad BPMN or a bug: this definition only, not discovery
            reason = str(exc) if isinstance(exc, BpmnError) else f"{type(exc).__name__}: {exc}"
            log.warning(
                "definition %s (%s) cannot be loaded, ignoring it: %s",
                ref.key,
                ref.process_id or "process",
                reason[:300],
            )
            configs, errors, ancestors = [], [], {}
        definition = Definition(
            ref=ref,
            configs={c.element_id: c for c in configs},
            errors=tuple(errors),
            ancestors=ancestors,
            xml_digest=Definition.digest(xml),
        )
        with self._lock:
            self._cache[ref.key] = definition
        if definition.has_polling:
            new.append(definition)
        return definition

    def cycle(self) -> Snapshot:
        """One discovery pass; raises :class:`ClusterError` when the cluster fails.

        The first pass after the cluster could not be reached first re-reads the cached
        definitions (:meth:`_recheck`): a cluster that restarted with its state lost and
        was given the same deployments again hands out the same keys, which no cycle
        would otherwise notice.
        """
        try:
            if self._unreachable:
                self._recheck()
            snapshot = self._cycle()
        except ClusterError as exc:
            if exc.transient:
                self._unreachable = True
            raise
        self._unreachable = False
        return snapshot

    def _recheck(self) -> None:
        """Compare each cached definition with polling elements (the ones whose staleness
        would poll the wrong endpoint) with the cluster's XML; different content under
        the same key means the cluster's state was reset: everything kept by key is
        dropped. A definition not visible (yet) is no evidence: the secondary storage of
        a restarted cluster may lag, and a wiped one shows in its definition keys."""
        with self._lock:
            cached = [d for d in self._cache.values() if d.has_polling]
        for definition in cached:
            try:
                xml = self.source.xml(definition.ref.key)
            except ClusterError as exc:
                if exc.transient:
                    raise
                continue  # unreadable now (e.g. 403): not evidence of a reset
            if xml is None or Definition.digest(xml) == definition.xml_digest:
                continue
            self._reset_reason = (
                f"definition {definition.ref.key} ({definition.ref.process_id or 'process'}) "
                "has other content after the cluster was unreachable"
            )
            log.warning("cluster state reset detected (%s): reloading", self._reset_reason)
            self._forget_definitions()
            return

    def _forget_definitions(self) -> None:
        """Drop what was learnt by key from a cluster whose state was reset."""
        with self._lock:
            self._cache.clear()
        self._unreadable.clear()
        self._waiting = {}

    def _cycle(self) -> Snapshot:
        started = time.monotonic()
        before = self.source.requests_made
        new: list[Definition] = []
        active: dict[int, Definition] = {}
        refs = self.source.definitions()
        top = max((r.key for r in refs), default=None)
        if self._top_key is not None and (top is None or top < self._top_key):
            # Keys only grow: going backwards means the cluster lost its state, and keys
            # (definitions, instances) will be handed out again.
            self._reset_reason = (
                f"the highest deployed definition key went back from {self._top_key} to {top}"
            )
            log.warning("cluster state reset detected (%s): reloading", self._reset_reason)
            with self._lock:
                self._cache.clear()
            self._unreadable.clear()
            self._waiting = {}
        self._top_key = top
        for ref in refs:
            definition = self._load(ref, new)
            if definition is not None and definition.has_polling:
                active[ref.key] = definition
        waiting: dict[tuple[int, str], WaitingInstance] = {}
        previous = self._waiting
        skipped = 0
        for row in self.source.waiting(active):
            definition = active.get(row.process_definition_key)
            if definition is None:
                # An older version with open waits: load (once) and serve it too.
                ref = DefinitionRef(row.process_definition_key, "", None, row.tenant_id)
                definition = self._load(ref, new)
                if definition is None or not definition.has_polling:
                    continue
                active[row.process_definition_key] = definition
            config = definition.config_for(row.element_id, row.message_name)
            if config is None or (row.correlated and config.interrupting):
                continue
            key = (row.element_instance_key, config.element_id)
            known = previous.get(key)
            if (
                known is not None
                and known.config is config
                and known.process_instance_key == row.process_instance_key
                and known.process_definition_key == row.process_definition_key
                and known.correlation_key == row.correlation_key
                and known.tenant_id == row.tenant_id
            ):
                waiting[key] = known  # unchanged (and owned): no new object per cycle
                continue
            if not owns(row.element_instance_key, self.shard_index, self.shard_count):
                skipped += 1
                continue
            instance = WaitingInstance.of(row, config)
            waiting[instance.key] = instance
        self._waiting = waiting
        reset, self._reset_reason = self._reset_reason, None
        return Snapshot(
            definitions=active,
            waiting=waiting,
            new_definitions=new,
            requests=self.source.requests_made - before,
            duration=time.monotonic() - started,
            skipped_other_shards=skipped,
            reset_reason=reset,
        )

    def fetch_variables(
        self, instances: Sequence[WaitingInstance]
    ) -> dict[tuple[int, str], dict[str, Any]]:
        """Current variables visible to each instance, in batches of process instances.

        Only the variables the instances' expressions read are fetched
        (``ElementConfig.variable_names``). Scopes as Zeebe resolves names: the element
        instance's locals, then enclosing sub-processes (innermost first), then the
        process instance.
        """
        result: dict[tuple[int, str], dict[str, Any]] = {}
        by_pik: dict[int, list[WaitingInstance]] = {}
        for inst in instances:
            by_pik.setdefault(inst.process_instance_key, []).append(inst)
        piks = sorted(by_pik)
        for start in range(0, len(piks), self.batch_size):
            batch = piks[start : start + self.batch_size]
            members = [inst for pik in batch for inst in by_pik[pik]]
            names = frozenset().union(*{inst.config.variable_names for inst in members})
            scopes: dict[int, dict[str, Any]] = {}
            for row in self.source.variables(batch, names):
                text = row.value
                if row.truncated:
                    full = self.source.variable_value(row.key)
                    text = full if full is not None else text
                scopes.setdefault(row.scope_key, {})[row.name] = parse_value(text)
            nested = self._nested_scope_keys(batch, members)
            for inst in members:
                result[inst.key] = _visible(inst, scopes, nested, self._cache)
        return result

    def _nested_scope_keys(
        self, batch: Sequence[int], members: Sequence[WaitingInstance]
    ) -> dict[tuple[int, str], int]:
        ids: set[str] = set()
        for inst in members:
            definition = self._cache.get(inst.process_definition_key)
            if definition is not None:
                ids.update(definition.ancestors.get(inst.element_id, ()))
        if not ids:
            return {}
        return self.source.scope_keys(batch, sorted(ids))


def _visible(
    inst: WaitingInstance,
    scopes: Mapping[int, Mapping[str, Any]],
    nested: Mapping[tuple[int, str], int],
    definitions: Mapping[int, Definition],
) -> dict[str, Any]:
    """The instance's variables by name, as Zeebe resolves them: element-local first, then
    enclosing sub-processes (innermost first), then the process instance. Only the names
    the element reads: a batch fetches the union of its elements' names."""
    definition = definitions.get(inst.process_definition_key)
    ancestors = definition.ancestors.get(inst.element_id, ()) if definition else ()
    chain = [scopes.get(inst.element_instance_key)]
    for ancestor in ancestors:
        scope_key = nested.get((inst.process_instance_key, ancestor))
        if scope_key is not None:
            chain.append(scopes.get(scope_key))
    chain.append(scopes.get(inst.process_instance_key))
    present = [scope for scope in chain if scope]
    found: dict[str, Any] = {}
    for name in inst.config.variable_names:
        for scope in present:
            if name in scope:
                found[name] = scope[name]
                break
    return found
