"""Jobs of service tasks: the activatable queue per type, timeouts, back-offs, waiters."""

from __future__ import annotations

import heapq
from concurrent.futures import Future, InvalidStateError
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Literal

from .state import ElementInstance

__all__ = ["Job", "JobQueue", "JobState"]

JobState = Literal["CREATED", "ACTIVATED", "FAILED", "COMPLETED", "ERROR_THROWN", "CANCELED"]


@dataclass(slots=True, eq=False)
class Job:
    key: int
    type: str
    retries: int
    element_instance: ElementInstance
    custom_headers: dict[str, str]
    tenant_id: str
    state: JobState = "CREATED"
    worker: str = ""
    deadline_ms: int = -1
    retry_at_ms: int = -1
    error_message: str = ""
    incident_key: int | None = None


@dataclass(slots=True)
class JobQueue:
    """Which jobs can be activated now, oldest first, and when others come due."""

    jobs: dict[int, Job] = field(default_factory=dict)
    _activatable: dict[str, dict[int, None]] = field(default_factory=dict)
    _timeouts: list[tuple[int, int]] = field(default_factory=list)
    _backoffs: list[tuple[int, int]] = field(default_factory=list)
    _waiters: dict[str, list[Future[None]]] = field(default_factory=dict)

    def add(self, job: Job) -> None:
        self.jobs[job.key] = job
        self.make_activatable(job)

    def make_activatable(self, job: Job) -> None:
        job.state = "CREATED"  # Zeebe's ACTIVATABLE
        self._activatable.setdefault(job.type, {})[job.key] = None
        for waiter in self._waiters.pop(job.type, []):
            with suppress(InvalidStateError):  # cancelled by its caller meanwhile
                waiter.set_result(None)

    def remove(self, job: Job) -> None:
        """Forget a job that ended (completed, cancelled, error thrown)."""
        self.jobs.pop(job.key, None)
        self._unqueue(job)

    def _unqueue(self, job: Job) -> None:
        queue = self._activatable.get(job.type)
        if queue is not None:
            queue.pop(job.key, None)
            if not queue:
                del self._activatable[job.type]

    def activatable(self, job_type: str) -> list[Job]:
        return [self.jobs[k] for k in self._activatable.get(job_type, {})]

    def activate(self, job: Job, worker: str, deadline_ms: int) -> None:
        self._unqueue(job)
        job.state = "ACTIVATED"
        job.worker = worker
        job.deadline_ms = deadline_ms
        heapq.heappush(self._timeouts, (deadline_ms, job.key))

    def back_off(self, job: Job, retry_at_ms: int) -> None:
        job.retry_at_ms = retry_at_ms
        heapq.heappush(self._backoffs, (retry_at_ms, job.key))

    def waiter(self, job_type: str) -> Future[None]:
        future: Future[None] = Future()
        if self._activatable.get(job_type):
            future.set_result(None)
        else:
            waiters = self._waiters.setdefault(job_type, [])
            waiters[:] = [w for w in waiters if not w.done()]
            waiters.append(future)
        return future

    def due(self, now_ms: int) -> None:
        """Re-queue jobs whose activation timed out or whose retry back-off elapsed."""
        while self._timeouts and self._timeouts[0][0] <= now_ms:
            deadline, key = heapq.heappop(self._timeouts)
            job = self.jobs.get(key)
            if job is not None and job.state == "ACTIVATED" and job.deadline_ms == deadline:
                job.state = "CREATED"
                job.worker = ""
                job.deadline_ms = -1
                self.make_activatable(job)
        while self._backoffs and self._backoffs[0][0] <= now_ms:
            retry_at, key = heapq.heappop(self._backoffs)
            job = self.jobs.get(key)
            if job is not None and job.state == "FAILED" and job.retry_at_ms == retry_at:
                job.retry_at_ms = -1
                self.make_activatable(job)

    def next_due_ms(self) -> int | None:
        times = [h[0][0] for h in (self._timeouts, self._backoffs) if h]
        return min(times) if times else None
