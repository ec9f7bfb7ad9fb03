"""Batched variable reads: concurrent polls' variables fetched together.

Pollers fall due one by one; reading each one's variables separately would cost one REST
request per poll. :class:`VariableLoader` gathers the reads that arrive while fetches are
running into the next fetch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any

from connector.discovery import WaitingInstance

#: Variables per instance: (element instance key, element id) -> name -> JSON value.
Variables = dict[tuple[int, str], dict[str, Any]]


def share_strings(variables: Variables) -> Variables:
    """Make equal text values one object (in place): instances kept alive with their
    variables often hold the same text (a base URL, a status), and each read parses its own
    copy of each. Only strings: they are immutable, and no other JSON type tells ``1`` from
    ``1.0`` or ``True`` by equality."""
    seen: dict[str, str] = {}
    for scope in variables.values():
        for name, value in scope.items():
            if type(value) is str:
                scope[name] = seen.setdefault(value, value)
    return variables


class LoaderClosed(Exception):
    """The worker is shutting down: no more variable reads."""


class VariableLoader:
    """Merges concurrent variable reads into few batched fetches.

    Requests that arrive while fetches are running wait and go together in the next fetch
    (at most ``max_batch`` instances, ``parallel`` fetches).
    """

    def __init__(
        self,
        fetch: Callable[[list[WaitingInstance]], Variables],
        executor: concurrent.futures.Executor,
        *,
        max_batch: int = 1000,
        parallel: int = 2,
    ) -> None:
        self._fetch = fetch
        self._executor = executor
        self._max_batch = max_batch
        self._parallel = parallel
        self._pending: list[tuple[list[WaitingInstance], asyncio.Future[Variables]]] = []
        self._running = 0
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.fetches = 0

    def close(self) -> None:
        """Fail queued loads at once (shutdown); a fetch already running finishes."""
        self._closed = True
        pending, self._pending = self._pending, []
        for _, future in pending:
            if not future.done():
                future.set_exception(LoaderClosed())

    async def load(self, targets: Sequence[WaitingInstance]) -> Variables:
        if self._closed:
            raise LoaderClosed()
        future: asyncio.Future[Variables] = asyncio.get_running_loop().create_future()
        self._pending.append((list(targets), future))
        while self._running < self._parallel and self._pending:
            self._running += 1
            task = asyncio.ensure_future(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    def _read(self, instances: list[WaitingInstance]) -> Variables:
        return share_strings(self._fetch(instances))

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch: list[tuple[list[WaitingInstance], asyncio.Future[Variables]]] = []
                size = 0
                while self._pending and (not batch or size < self._max_batch):
                    item = self._pending.pop(0)
                    batch.append(item)
                    size += len(item[0])
                instances = [t for targets, _ in batch for t in targets]
                self.fetches += 1
                try:
                    values = await loop.run_in_executor(self._executor, self._read, instances)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for _, future in batch:
                    if not future.done():
                        future.set_result(values)
        finally:
            self._running -= 1
