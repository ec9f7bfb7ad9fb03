"""Observed activations not yet published, kept on disk across restarts (``--state-dir``).

The worker is otherwise stateless: everything it polls is rediscovered from the cluster.
An activation is the exception: an endpoint may report the awaited state once, so an
activation observed while the gateway is unreachable exists only in the worker. With a
state directory, such an activation is written down (fsync'd) when its first publish
fails, and marked settled once it is published, dropped (the instance stopped waiting) or
refused for good. A restarted worker publishes what is still unsettled, with the same
message id and variables, to the instances that still wait.

The file is JSON lines, appended to: one ``kept`` line per activation and one ``settled``
line per key. It is rewritten with only the unsettled entries when loaded. A line that
cannot be read (a torn last write) is skipped and counted, never fatal.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from connector.config import ConfigError
from connector.correlation import Activation
from connector.observability import log_event

# The operator sees one logger for everything the worker does.
log = logging.getLogger("connector.worker")

JOURNAL_NAME = "activations.jsonl"

#: (element instance key, element id): one waiting instance.
InstanceKey = tuple[int, str]


@dataclass(frozen=True, slots=True)
class Kept:
    """An activation observed for one waiting instance and not published yet."""

    element_instance_key: int
    element_id: str
    process_instance_key: int
    tenant_id: str | None
    activation: Activation

    @property
    def key(self) -> InstanceKey:
        return (self.element_instance_key, self.element_id)


def encode_kept(entry: Kept) -> str:
    activation = entry.activation
    return json.dumps(
        {
            "op": "kept",
            "elementInstanceKey": entry.element_instance_key,
            "elementId": entry.element_id,
            "processInstanceKey": entry.process_instance_key,
            "tenantId": entry.tenant_id,
            "processId": activation.process_id,
            "messageName": activation.message_name,
            "correlationKey": activation.correlation_key,
            "messageId": activation.message_id,
            "ttlMs": int(activation.ttl / dt.timedelta(milliseconds=1)),
            "variables": activation.variables,
        },
        separators=(",", ":"),
    )


def encode_settled(key: InstanceKey, outcome: str) -> str:
    line = {"op": "settled", "elementInstanceKey": key[0], "elementId": key[1], "outcome": outcome}
    return json.dumps(line, separators=(",", ":"))


def decode(line: str) -> Kept | InstanceKey:
    """A ``kept`` line as its entry, a ``settled`` line as the key it settles; raises
    ValueError (or KeyError/TypeError) for anything else."""
    item: Any = json.loads(line)
    key = (int(item["elementInstanceKey"]), str(item["elementId"]))
    if item["op"] == "settled":
        return key
    if item["op"] != "kept" or not isinstance(item["variables"], dict):
        raise ValueError("not a journal entry")
    tenant = item.get("tenantId")
    activation = Activation(
        message_name=str(item["messageName"]),
        correlation_key=str(item["correlationKey"]),
        message_id=str(item["messageId"]),
        ttl=dt.timedelta(milliseconds=int(item["ttlMs"])),
        variables=item["variables"],
        process_id=str(item.get("processId") or ""),
        element_id=key[1],
        element_instance_key=key[0],
    )
    return Kept(key[0], key[1], int(item["processInstanceKey"]), tenant, activation)


def unsettled(lines: Iterable[str]) -> tuple[dict[InstanceKey, Kept], int]:
    """The entries ``lines`` keep and do not settle, and how many lines were unreadable."""
    pending: dict[InstanceKey, Kept] = {}
    bad = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            entry = decode(line)
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        if isinstance(entry, Kept):
            pending[entry.key] = entry
        else:
            pending.pop(entry, None)
    return pending, bad


class ActivationJournal:
    """The journal file in one state directory. Thread-safe; every write is fsync'd."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / JOURNAL_NAME
        self._lock = threading.Lock()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._file = _append_only(self.path)
        except OSError as exc:
            raise ConfigError(
                [f"--state-dir: cannot write {self.path}: {exc.strerror or exc}"]
            ) from None

    def load(self) -> tuple[dict[InstanceKey, Kept], int]:
        """The unsettled entries (and the count of unreadable lines); the file is rewritten
        with only those, so it never grows beyond what is pending."""
        with self._lock:
            text = self.path.read_text(encoding="utf-8", errors="replace")
            pending, bad = unsettled(text.splitlines())
            spare = self.path.with_suffix(".tmp")
            spare.unlink(missing_ok=True)
            with _append_only(spare) as out:
                out.writelines(encode_kept(entry) + "\n" for entry in pending.values())
                out.flush()
                os.fsync(out.fileno())
            self._file.close()
            os.replace(spare, self.path)
            self._file = _append_only(self.path)
        return pending, bad

    def kept(self, entry: Kept) -> None:
        self._append(encode_kept(entry))

    def settled(self, key: InstanceKey, outcome: str) -> None:
        self._append(encode_settled(key, outcome))

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def _append(self, line: str) -> None:
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())


class JournalWriter:
    """The journal as the worker's event loop uses it (or nothing, without a state
    directory): every write runs in a thread of its own (an fsync never stalls the loop);
    a failed write (full disk, a value JSON cannot hold) is logged, and the activation
    stays kept in memory."""

    def __init__(self, journal: ActivationJournal | None) -> None:
        self.journal = journal
        self._pool = (
            None
            if journal is None
            else concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="journal")
        )

    @property
    def enabled(self) -> bool:
        return self.journal is not None

    def load(self) -> dict[InstanceKey, Kept]:
        """What a previous run left unsettled (blocking: at start)."""
        if self.journal is None:
            return {}
        pending, unreadable = self.journal.load()
        if unreadable:
            log_event(
                log,
                "unreadable lines in the activation journal skipped",
                logging.WARNING,
                path=str(self.journal.path),
                lines=unreadable,
            )
        return pending

    async def kept(self, entry: Kept) -> bool:
        """Write ``entry`` down; whether it was."""
        if self.journal is None:
            return False
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._write, self.journal.kept, entry)

    def kept_now(self, entry: Kept) -> bool:
        """:meth:`kept`, blocking: while stopping, when the loop has nothing else to do."""
        return self.journal is not None and self._write(self.journal.kept, entry)

    async def settled(self, key: InstanceKey, outcome: str) -> None:
        if self.journal is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._pool, self._write, self.journal.settled, key, outcome)

    def settle_soon(self, key: InstanceKey, outcome: str) -> None:
        """:meth:`settled`, without waiting for it."""
        if self.journal is not None and self._pool is not None:
            self._pool.submit(self._write, self.journal.settled, key, outcome)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self.journal is not None:
            self.journal.close()

    @staticmethod
    def _write(write: Callable[..., None], *args: Any) -> bool:
        try:
            write(*args)
        except (OSError, TypeError, ValueError) as exc:
            why = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
            log_event(log, "activation journal write failed", logging.ERROR, reason=why)
            return False
        return True


def _append_only(path: Path) -> TextIO:
    """``path`` opened for appending, created readable by the worker's user only: the
    entries hold correlation keys and message variables."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.fdopen(descriptor, "a", encoding="utf-8")
