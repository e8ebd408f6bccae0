"""RenderBatcher: concurrent renders from many threads share one forward pass."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

from PIL import Image

from .limits import MAX_BATCH
from .recipe import Recipe
from .sampler import Sampler


class RenderBatcher:
    """Merges concurrent ``render`` calls from many threads into batched forward passes.

    Each caller validates its own recipe first (so a bad request is that caller's error
    alone), then waits while a worker thread renders up to ``max_batch`` queued recipes at
    once. The Sampler is batch-invariant on CPU, so pixels never depend on the batching.
    """

    def __init__(self, sampler: Sampler, max_batch: int = 8, window_s: float = 0.004) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be in [1, {MAX_BATCH}], got {max_batch}")
        self.sampler = sampler
        self.max_batch = max_batch
        self.window_s = window_s
        self._queue: queue.Queue = queue.Queue()
        self.batches: list[int] = []  # sizes of the last batches, for tests and benchmarks
        self._closed = False
        self._lock = threading.Lock()  # a render never queues behind close()'s stop mark
        self._worker = threading.Thread(target=self._run, name="ganart-render-batcher", daemon=True)
        self._worker.start()

    def render(self, recipe: Recipe) -> Image.Image:
        if not isinstance(recipe, Recipe):
            raise ValueError(f"expected a Recipe, got {type(recipe).__name__}")
        self.sampler._check_recipe_fits(recipe)  # the caller's error, raised in the caller
        fut: Future | None = None
        with self._lock:
            if not self._closed:
                fut = Future()
                self._queue.put((recipe, fut))
        if fut is None:  # closed while this caller still held it: render alone
            return self.sampler.render(recipe)
        return fut.result()

    def close(self) -> None:
        """Stop the worker once the renders already queued are served (it holds the Sampler,
        so a batcher left running kept its model in memory for good)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            items, stop = [first], False
            deadline = time.monotonic() + self.window_s
            while len(items) < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                items.append(item)
            self._serve(items)
            if stop:
                return

    def _serve(self, items: list) -> None:
        """Render one batch of (recipe, future) pairs and hand each caller its image or error."""
        self.batches = (self.batches + [len(items)])[-1000:]
        try:
            images = self.sampler.render_many([r for r, _ in items])
        except Exception:
            # a batch-level failure (e.g. a sha mismatch): render each alone, so each
            # caller gets its own result or its own error
            for r, fut in items:
                try:
                    fut.set_result(self.sampler.render(r))
                except Exception as e:
                    fut.set_exception(e)
            return
        for (_, fut), img in zip(items, images):
            fut.set_result(img)
