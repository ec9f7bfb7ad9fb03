"""Indexed, versioned record tables behind the query methods (the REST v2 search side).

Each table keeps, per key, the record versions with the time they become visible, so queries
can lag the engine by a configurable delay like Camunda's eventually consistent secondary
storage. Filters on indexed fields use per-value sorted key lists instead of scanning, so a
page (``after_key`` + ``limit``) costs about ``limit`` record checks.

Filter values: ``None`` = no filter; a ``list``/``tuple``/``set``/``frozenset`` = any of these
values (``$in``); anything else = equality.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from itertools import islice
from operator import attrgetter, eq
from typing import Any, Generic, TypeVar

__all__ = ["Table"]

R = TypeVar("R")

_ANY_OF = (list, tuple, set, frozenset)


class Table(Generic[R]):
    """Records of one kind by key, with indexes on ``index_fields``.

    With ``delay_ms == 0`` only the newest version is kept. With a delay, a version becomes
    visible ``delay_ms`` after it was written; older versions stay until a newer one is visible.
    Indexes may then hold stale values (a superset); matching re-checks every filter.
    The ``key`` field is always looked up directly, never through an index.
    """

    def __init__(
        self,
        index_fields: tuple[str, ...],
        delay_ms: int = 0,
        composites: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        self._delay = max(0, delay_ms)
        # composite equality indexes: bucket key = the tuple of the fields' values
        self._composites: dict[tuple[str, ...], tuple[Any, dict[Any, list[int]]]] = {
            names: (attrgetter(*names), {}) for names in composites if len(names) > 1
        }
        self._latest: dict[int, R] = {}
        self._history: dict[int, list[tuple[int, R]]] = {}  # only with a delay
        self._indexes: dict[str, dict[Any, list[int]]] = {f: {} for f in index_fields if f != "key"}
        # every index as (value getter, buckets), for maintenance on updates
        self._all_indexes: list[tuple[Any, dict[Any, list[int]]]] = [
            (attrgetter(f), index) for f, index in self._indexes.items()
        ]
        self._all_indexes.extend(self._composites.values())

    def __len__(self) -> int:
        return len(self._latest)

    def put(self, key: int, record: R, now_ms: int, extra_delay_ms: int = 0) -> None:
        """Write a new version of ``key``'s record, visible from ``now_ms + delay`` (plus
        ``extra_delay_ms``: one slow exporter; only for tables with a delay)."""
        old = self._latest.get(key)
        self._latest[key] = record
        if self._delay == 0:
            if old is not None:
                self._unindex(key, old, record)
        else:
            versions = self._history.setdefault(key, [])
            versions.append((now_ms + self._delay + max(0, extra_delay_ms), record))
            self._prune(versions, now_ms)
        for get, index in self._all_indexes:
            _add(index.setdefault(get(record), []), key)

    def get(self, key: int, now_ms: int) -> R | None:
        if self._delay == 0:
            return self._latest.get(key)
        versions = self._history.get(key)
        if versions is None:
            return None
        for visible_from, record in reversed(versions):
            if visible_from <= now_ms:
                return record
        return None

    def find(
        self,
        now_ms: int,
        filters: Mapping[str, Any],
        after_key: int | None = None,
        limit: int | None = None,
    ) -> list[R]:
        """Visible records matching every filter, sorted by key, with a key greater than
        ``after_key`` (if given), at most ``limit`` of them (if given)."""
        if limit is not None and limit <= 0:
            return []
        active = _normalise(filters)
        candidates = self._candidates(active)
        records = self._records(candidates, now_ms, after_key)
        equal = {f: v for f, v in active.items() if not isinstance(v, frozenset)}
        any_of = {f: v for f, v in active.items() if isinstance(v, frozenset)}
        matches: Iterable[R] = records
        if equal:
            get, expected = _getter(equal)
            matches = (r for r in matches if get(r) == expected)
        if any_of:
            matches = (r for r in matches if all(getattr(r, f) in v for f, v in any_of.items()))
        return list(islice(matches, limit))

    def count(self, now_ms: int, filters: Mapping[str, Any], limit: int | None = None) -> int:
        """How many visible records match the filters, counting at most ``limit``."""
        active = _normalise(filters)
        total: int | None = None
        if self._delay == 0 and not active:
            total = len(self._latest)
        elif self._delay == 0 and len(active) == 1:
            ((field, value),) = active.items()
            index = self._indexes.get(field)
            if index is not None and not isinstance(value, frozenset):
                total = len(index.get(value, ()))
        elif self._delay == 0 and not any(isinstance(v, frozenset) for v in active.values()):
            for names, (_, composite) in self._composites.items():
                if set(names) == set(active):
                    total = len(composite.get(tuple(active[n] for n in names), ()))
                    break
        if total is not None:
            return total if limit is None else min(total, limit)
        records = self._records(self._candidates(active), now_ms, None)
        equal = {f: v for f, v in active.items() if not isinstance(v, frozenset)}
        any_of = {f: v for f, v in active.items() if isinstance(v, frozenset)}
        matches: Iterable[Any] = records
        if any_of:
            matches = (r for r in matches if all(getattr(r, f) in v for f, v in any_of.items()))
        if equal:
            # attrgetter/eq/filter keep the per-record work in C
            get, expected = _getter(equal)
            matches = filter(partial(eq, expected), map(get, matches))
        if limit is None:
            return sum(1 for _ in matches)
        return len(list(islice(matches, limit)))

    def _candidates(self, active: Mapping[str, Any]) -> Sequence[int]:
        """The smallest sorted key list that contains every match."""
        candidates: Sequence[int] | None = None
        for field, value in active.items():
            if field == "key":
                wanted = value if isinstance(value, frozenset) else (value,)
                keys: Sequence[int] = sorted(k for k in wanted if k in self._latest)
            else:
                index = self._indexes.get(field)
                if index is None:
                    continue
                if isinstance(value, frozenset):
                    buckets = [index[v] for v in value if v in index]
                    keys = buckets[0] if len(buckets) == 1 else sorted(set().union(*buckets))
                else:
                    keys = index.get(value, [])
            if candidates is None or len(keys) < len(candidates):
                candidates = keys
        for names, (_, composite) in self._composites.items():
            values = [active.get(n) for n in names]
            if all(v is not None and not isinstance(v, frozenset) for v in values):
                keys = composite.get(tuple(values), [])
                if candidates is None or len(keys) <= len(candidates):
                    candidates = keys
        if candidates is None:
            candidates = list(self._latest)  # dict order is creation order = key order
        return candidates

    def _records(
        self, candidates: Sequence[int], now_ms: int, after_key: int | None
    ) -> Iterator[R]:
        start = 0 if after_key is None else bisect_right(candidates, after_key)
        keys = map(candidates.__getitem__, range(start, len(candidates)))
        if self._delay == 0:
            return map(self._latest.__getitem__, keys)
        visible = (self.get(k, now_ms) for k in keys)
        return (r for r in visible if r is not None)

    @staticmethod
    def _prune(versions: list[tuple[int, R]], now_ms: int) -> None:
        # drop versions superseded by one that is already visible
        newest_visible = None
        for i, (visible_from, _) in enumerate(versions):
            if visible_from <= now_ms:
                newest_visible = i
        if newest_visible:
            del versions[:newest_visible]

    def _unindex(self, key: int, old: R, new: R) -> None:
        for get, index in self._all_indexes:
            old_value = get(old)
            if old_value != get(new):
                bucket = index.get(old_value)
                if bucket is not None:
                    _remove(bucket, key)
                    if not bucket:
                        del index[old_value]


def _normalise(filters: Mapping[str, Any]) -> dict[str, Any]:
    return {
        f: frozenset(v) if isinstance(v, _ANY_OF) else v
        for f, v in filters.items()
        if v is not None
    }


def _getter(equal: Mapping[str, Any]) -> tuple[Any, Any]:
    """An attrgetter for the fields and the value it must return for a match (attrgetter of
    one name returns the bare value, of several a tuple)."""
    names = tuple(equal)
    values = tuple(equal.values())
    return attrgetter(*names), values[0] if len(values) == 1 else values


def _add(keys: list[int], key: int) -> None:
    """Insert into a sorted key list; new records arrive in key order, so usually appends."""
    if not keys or keys[-1] < key:
        keys.append(key)
    else:
        position = bisect_right(keys, key)
        if position == 0 or keys[position - 1] != key:
            insort(keys, key)


def _remove(keys: list[int], key: int) -> None:
    position = bisect_right(keys, key) - 1
    if position >= 0 and keys[position] == key:
        del keys[position]
