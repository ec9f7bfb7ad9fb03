"""Message subscriptions and the message buffer, indexed for O(1) correlation.

Open subscriptions are indexed by (tenant, message name, correlation key) and then by BPMN
process id, so a publish touches only the processes waiting for exactly that message,
whatever the number of waiting instances.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .state import ElementInstance

__all__ = ["BufferedMessage", "MessageBuffer", "Subscription", "SubscriptionIndex"]

MatchKey = tuple[str, str, str]  # tenant, name, correlation key


@dataclass(slots=True, eq=False)
class Subscription:
    key: int
    tenant_id: str
    message_name: str
    correlation_key: str
    element_instance: ElementInstance  # the catch event / the activity of a boundary event
    element_id: str  # the catch or boundary event
    interrupting: bool
    state: str = "CREATED"

    @property
    def match_key(self) -> MatchKey:
        return (self.tenant_id, self.message_name, self.correlation_key)

    @property
    def bpmn_process_id(self) -> str:
        return self.element_instance.process_instance.definition.model.bpmn_process_id


@dataclass(slots=True)
class SubscriptionIndex:
    by_key: dict[int, Subscription] = field(default_factory=dict)
    _open: dict[MatchKey, dict[str, dict[int, None]]] = field(default_factory=dict)

    def open(self, subscription: Subscription) -> None:
        self.by_key[subscription.key] = subscription
        per_process = self._open.setdefault(subscription.match_key, {})
        per_process.setdefault(subscription.bpmn_process_id, {})[subscription.key] = None

    def close(self, subscription: Subscription) -> None:
        self.by_key.pop(subscription.key, None)
        per_process = self._open.get(subscription.match_key)
        if per_process is None:
            return
        keys = per_process.get(subscription.bpmn_process_id)
        if keys is not None:
            keys.pop(subscription.key, None)
            if not keys:
                del per_process[subscription.bpmn_process_id]
        if not per_process:
            del self._open[subscription.match_key]

    def first_per_process(self, match: MatchKey) -> list[Subscription]:
        """The oldest open subscription of each BPMN process waiting for ``match``."""
        per_process = self._open.get(match, {})
        return [self.by_key[next(iter(keys))] for keys in per_process.values() if keys]


@dataclass(slots=True, eq=False)
class BufferedMessage:
    key: int
    tenant_id: str
    name: str
    correlation_key: str
    variables: dict[str, Any]
    message_id: str
    deadline_ms: int
    correlated_processes: set[str] = field(default_factory=set)

    @property
    def match_key(self) -> MatchKey:
        return (self.tenant_id, self.name, self.correlation_key)


@dataclass(slots=True)
class MessageBuffer:
    """Messages with a TTL, FIFO per match key, plus the buffered message ids."""

    _by_match: dict[MatchKey, dict[int, BufferedMessage]] = field(default_factory=dict)
    _ids: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    _expiry: list[tuple[int, int, MatchKey]] = field(default_factory=list)

    def has_id(self, match: MatchKey, message_id: str) -> bool:
        return bool(message_id) and (*match, message_id) in self._ids

    def add(self, message: BufferedMessage) -> None:
        self._by_match.setdefault(message.match_key, {})[message.key] = message
        if message.message_id:
            self._ids[(*message.match_key, message.message_id)] = message.key
        heapq.heappush(self._expiry, (message.deadline_ms, message.key, message.match_key))

    def candidates(self, match: MatchKey, now_ms: int) -> Iterator[BufferedMessage]:
        """Unexpired buffered messages for ``match``, oldest first."""
        for message in list(self._by_match.get(match, {}).values()):
            if message.deadline_ms > now_ms:
                yield message

    def expire(self, now_ms: int) -> None:
        while self._expiry and self._expiry[0][0] <= now_ms:
            _, key, match = heapq.heappop(self._expiry)
            messages = self._by_match.get(match)
            if messages is None:
                continue
            message = messages.pop(key, None)
            if not messages:
                del self._by_match[match]
            if message is not None and message.message_id:
                self._ids.pop((*match, message.message_id), None)

    def next_due_ms(self) -> int | None:
        return self._expiry[0][0] if self._expiry else None

    def __len__(self) -> int:
        return sum(len(m) for m in self._by_match.values())
