"""Micro-batching: requests that arrive together share one call of the model's compiled function.

Each request's features wait in an asyncio queue. One task takes the first
waiting request and closes the batch as soon as every request being read has
joined it, the batch holds ``max_rows`` rows, or ``window`` seconds have
passed; the batch goes through ``predict`` (``Predictor.outputs``: one
``tf.function``) in one worker thread, which releases the event loop to read
the next requests meanwhile. A lone request therefore waits for nobody, and
under load the batch is whatever arrived while the model was busy.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from dlcli.data.features import rows as count_rows

WINDOW = 0.002  # seconds a batch may wait for requests that are being read
MAX_ROWS = 4096  # rows per batch: Predictor.outputs's batch


@dataclass
class _Waiting:
    x: object
    n: int
    done: asyncio.Future


def concatenate(parts: list):
    """The in-memory features of several requests as one (numpy arrays, or dicts of them)."""
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], dict):
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    return np.concatenate(parts)


class Batcher:
    """``await batcher(x)`` -> the model's raw outputs for ``x``, computed with whatever else arrived with it."""

    def __init__(self, predict, *, window: float = WINDOW, max_rows: int = MAX_ROWS):
        self.predict = predict
        self.window = window
        self.max_rows = max_rows
        self.reading = 0  # requests inside ``reading_request()``: on their way to the queue
        self.batches = 0  # model calls so far
        self.rows = 0  # rows through them
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._busy = False  # a batch is between the queue and its answers

    @contextlib.contextmanager
    def reading_request(self):
        """Around reading and checking one request's rows: a batch being formed waits for it (up to the window)."""
        self.reading += 1
        try:
            yield
        finally:
            self.reading -= 1

    async def __call__(self, x) -> np.ndarray:
        self._start()
        done = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Waiting(x, count_rows(x), done))
        return await done

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.get_loop() is not loop:  # first request, or an app run again in a new loop
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._run())
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="dlcli-model")

    async def close(self) -> None:
        """Stop the batching task (requests still queued are answered first) and the worker thread."""
        task, self._task = self._task, None
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            while self._busy or not self._queue.empty():
                await asyncio.sleep(0.001)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            self._busy = True
            try:
                await self._gather(batch, loop.time() + self.window)
                await self._answer([w for w in batch if not w.done.done()])  # a client that left cancelled its own
            finally:
                self._busy = False

    async def _answer(self, live: list) -> None:
        """One model call for the requests in ``live``; each gets its rows of the outputs (or the call's error)."""
        if not live:
            return
        self.batches += 1
        self.rows += sum(w.n for w in live)
        try:
            x = concatenate([w.x for w in live])
            out = await asyncio.get_running_loop().run_in_executor(self._executor, self.predict, x)
        except Exception as exc:  # a failed model call fails the requests of this batch, not the server
            for w in live:
                if not w.done.done():
                    w.done.set_exception(exc)
            return
        start = 0
        for w in live:
            if not w.done.done():
                w.done.set_result(out[start : start + w.n])
            start += w.n

    async def _gather(self, batch: list, deadline: float) -> None:
        """Add to ``batch`` what is queued, and what is being read until the deadline, up to ``max_rows`` rows."""
        loop = asyncio.get_running_loop()
        rows = batch[0].n
        while rows < self.max_rows:
            if self._queue.empty():
                if self.reading <= 0 or loop.time() >= deadline:
                    return
                await asyncio.sleep(0)  # let the requests being read reach the queue
                continue
            waiting = self._queue.get_nowait()
            batch.append(waiting)
            rows += waiting.n
