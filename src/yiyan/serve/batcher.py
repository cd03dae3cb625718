"""Dynamic batching: one worker thread translates queued requests together.

Requests are `Job`s (texts + decoding options + a `concurrent.futures.Future`). The worker
takes the oldest job, waits up to `max_wait_ms` (counted from that job's arrival) for more
jobs with the *same* options until `max_batch_size` sentences are collected, calls
`translate_detailed` (or, for documents, `translate_document`) once for the group and resolves each job's future with its share of
the results. The event loop awaits the futures (`asyncio.wrap_future`), so torch never
runs on it.

- The queue is bounded: `submit` raises `QueueFull` beyond `max_queue` waiting jobs.
- A job whose future was cancelled (its request timed out) is dropped, not translated.
- When a group of several jobs fails, each job is retried alone, so one bad input fails
  only its own request; the worker keeps running whatever the translator raises.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from yiyan.serve.documents import translate_documents
from yiyan.serve.settings import DocumentLike, TranslationLike, TranslatorLike

Result = TranslationLike | DocumentLike  # a sentence's translation, or a document's

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """Too many requests are waiting."""


class ShuttingDown(Exception):
    """The batcher was stopped before the job ran."""


@dataclass(frozen=True)
class Options:
    """Decoding options of a request; only jobs with equal options share a batch."""

    beam: int | None = None
    max_length_ratio: float | None = None
    attention: bool = False
    document: bool = False  # texts are documents: translate_document, not translate_detailed
    glossary: tuple[tuple[str, str], ...] | None = None  # (source term, target term) pairs

    def translator_kwargs(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("beam", self.beam),
                ("max_length_ratio", self.max_length_ratio),
                ("glossary", self.glossary),
            )
            if v is not None
        }


@dataclass
class Job:
    texts: list[str]
    options: Options
    future: Future[list[Result]] = field(default_factory=Future)
    enqueued: float = field(default_factory=time.monotonic)


class Batcher:
    def __init__(
        self,
        translator: TranslatorLike,
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 10.0,
        max_queue: int = 256,
    ) -> None:
        self.translator = translator
        self.max_batch_size = max(1, max_batch_size)
        self.max_wait = max(0.0, max_wait_ms) / 1000.0
        self.max_queue = max_queue
        self._pending: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.batches = 0  # translate_detailed calls made
        self.sentences = 0  # sentences translated

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="yiyan-batcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in progress, fail the jobs still queued, join the worker."""
        with self._cond:
            self._stopping = True
            leftover = list(self._pending)
            self._pending.clear()
            self._cond.notify_all()
        for job in leftover:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(ShuttingDown("server is shutting down"))
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def queued(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------------ producer side

    def submit(self, texts: Sequence[str], options: Options) -> Future[list[Result]]:
        job = Job(list(texts), options)
        with self._cond:
            if self._stopping:
                raise ShuttingDown("server is shutting down")
            if len(self._pending) >= self.max_queue:
                raise QueueFull(
                    f"{len(self._pending)} requests are already waiting (max_queue {self.max_queue})"
                )
            self._pending.append(job)
            self._cond.notify()
        if not self.alive:
            self.start()
        return job.future

    # ------------------------------------------------------------------ worker side

    def _run(self) -> None:
        while True:
            group = self._next_group()
            if group is None:
                return
            self._execute(group)

    def _next_group(self) -> list[Job] | None:
        """Block until a group is ready: full, or the oldest job waited `max_wait`."""
        with self._cond:
            while True:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return None
                group = self._compatible(self._pending[0])
                remaining = self._pending[0].enqueued + self.max_wait - time.monotonic()
                if sum(len(j.texts) for j in group) >= self.max_batch_size or remaining <= 0:
                    break
                self._cond.wait(remaining)
            for job in group:
                self._pending.remove(job)
        return [job for job in group if job.future.set_running_or_notify_cancel()]

    def _compatible(self, first: Job) -> list[Job]:
        """The oldest job, plus later jobs with the same options while they fit the batch."""
        group, size = [first], len(first.texts)
        for job in list(self._pending)[1:]:
            if size >= self.max_batch_size:
                break
            if job.options == first.options and size + len(job.texts) <= self.max_batch_size:
                group.append(job)
                size += len(job.texts)
        return group

    def _execute(self, group: list[Job]) -> None:
        if not group:
            return
        try:
            results = self._translate([t for job in group for t in job.texts], group[0].options)
        except Exception as error:
            if len(group) > 1:
                log.warning("batch of %d requests failed (%s); retrying each alone", len(group), error)
                for job in group:
                    self._execute_alone(job)
                return
            log.exception("translation failed")
            group[0].future.set_exception(error)
            return
        start = 0
        for job in group:
            job.future.set_result(results[start : start + len(job.texts)])
            start += len(job.texts)

    def _execute_alone(self, job: Job) -> None:
        try:
            job.future.set_result(self._translate(job.texts, job.options))
        except Exception as error:
            log.exception("translation failed")
            job.future.set_exception(error)

    def _translate(self, texts: list[str], options: Options) -> list[Result]:
        results: list[Result]
        if options.document:
            results = list(
                translate_documents(
                    self.translator, texts, attention=options.attention, **options.translator_kwargs()
                )
            )
        else:
            results = list(
                self.translator.translate_detailed(
                    texts, attention=options.attention, **options.translator_kwargs()
                )
            )
        if len(results) != len(texts):
            raise RuntimeError(f"translator returned {len(results)} results for {len(texts)} texts")
        self.batches += 1
        self.sentences += len(texts)
        log.debug("translated a batch of %d sentences", len(texts))
        return results
