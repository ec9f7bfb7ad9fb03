"""Timers of catch and boundary events on the engine clock."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

__all__ = ["Timer", "TimerQueue"]


@dataclass(slots=True, eq=False)
class Timer:
    key: int
    element_instance_key: int  # the catch event, or the activity a boundary event is on
    element_id: str  # the timer event itself
    due_ms: int


@dataclass(slots=True)
class TimerQueue:
    timers: dict[int, Timer] = field(default_factory=dict)
    _heap: list[tuple[int, int]] = field(default_factory=list)

    def add(self, timer: Timer) -> None:
        self.timers[timer.key] = timer
        heapq.heappush(self._heap, (timer.due_ms, timer.key))

    def cancel(self, key: int) -> None:
        self.timers.pop(key, None)  # the heap entry is skipped when popped

    def pop_due(self, now_ms: int) -> Timer | None:
        while self._heap and self._heap[0][0] <= now_ms:
            _, key = heapq.heappop(self._heap)
            timer = self.timers.pop(key, None)
            if timer is not None:
                return timer
        return None

    def next_due_ms(self) -> int | None:
        while self._heap and self._heap[0][1] not in self.timers:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None
