"""Indexed, versioned record tables behind the query methods (the REST v2 search side).

Each table keeps, per key, the record versions with the time they become visible, so queries
can lag the engine by a configurable delay like Camunda's eventually consistent secondary
storage. Equality filters on indexed fields use per-value sorted key lists instead of
scanning, so a page (``after_key`` + ``limit``) costs about ``limit`` record checks.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["Table"]

R = TypeVar("R")


class Table(Generic[R]):
    """Records of one kind by key, with equality indexes on ``index_fields``.

    With ``delay_ms == 0`` only the newest version is kept. With a delay, a version becomes
    visible ``delay_ms`` after it was written; older versions stay until a newer one is visible.
    Indexes may then hold stale values (a superset); ``find`` re-checks every filter.
    The ``key`` field is always looked up directly, never through an index.
    """

    def __init__(self, index_fields: tuple[str, ...], delay_ms: int = 0) -> None:
        self._delay = max(0, delay_ms)
        self._latest: dict[int, R] = {}
        self._history: dict[int, list[tuple[int, R]]] = {}  # only with a delay
        self._indexes: dict[str, dict[Any, list[int]]] = {f: {} for f in index_fields if f != "key"}

    def __len__(self) -> int:
        return len(self._latest)

    def put(self, key: int, record: R, now_ms: int) -> None:
        """Write a new version of ``key``'s record, visible from ``now_ms + delay``."""
        old = self._latest.get(key)
        self._latest[key] = record
        if self._delay == 0:
            if old is not None:
                self._unindex(key, old, record)
        else:
            versions = self._history.setdefault(key, [])
            versions.append((now_ms + self._delay, record))
            self._prune(versions, now_ms)
        for field, index in self._indexes.items():
            _add(index.setdefault(getattr(record, field), []), key)

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
        filters: Mapping[str, Hashable | None],
        after_key: int | None = None,
        limit: int | None = None,
    ) -> list[R]:
        """Visible records matching every non-None equality filter, sorted by key, with a key
        greater than ``after_key`` (if given), at most ``limit`` of them (if given)."""
        result: list[R] = []
        if limit is not None and limit <= 0:
            return result
        for record in self._matches(now_ms, filters, after_key):
            result.append(record)
            if limit is not None and len(result) >= limit:
                break
        return result

    def count(self, now_ms: int, filters: Mapping[str, Hashable | None]) -> int:
        """How many visible records match the filters."""
        active = {f: v for f, v in filters.items() if v is not None}
        if self._delay == 0 and not active:
            return len(self._latest)
        if self._delay == 0 and len(active) == 1:
            ((field, value),) = active.items()
            index = self._indexes.get(field)
            if index is not None:
                return len(index.get(value, ()))
        return sum(1 for _ in self._matches(now_ms, filters, None))

    def _matches(
        self, now_ms: int, filters: Mapping[str, Hashable | None], after_key: int | None
    ) -> Iterator[R]:
        active = {f: v for f, v in filters.items() if v is not None}
        candidates: Sequence[int] | None = None
        if "key" in active:
            key = active["key"]
            candidates = [key] if key in self._latest else []
        for field, value in active.items():
            index = self._indexes.get(field)
            if index is None:
                continue
            keys = index.get(value, [])
            if candidates is None or len(keys) < len(candidates):
                candidates = keys
        if candidates is None:
            candidates = list(self._latest)  # dict order is creation order = key order
        start = 0 if after_key is None else bisect_right(candidates, after_key)
        for position in range(start, len(candidates)):
            record = self.get(candidates[position], now_ms)
            if record is None:
                continue
            if all(getattr(record, f) == v for f, v in active.items()):
                yield record

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
        for field, index in self._indexes.items():
            old_value = getattr(old, field)
            if old_value != getattr(new, field):
                bucket = index.get(old_value)
                if bucket is not None:
                    _remove(bucket, key)
                    if not bucket:
                        del index[old_value]


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
