"""The app's loaded models: the ones the catalog allows, a few kept in memory, each with the
render batcher that merges concurrent requests. Its errors are messages for the page."""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future

import gradio as gr
from PIL import Image

from .batching import RenderBatcher
from .catalog import Catalog, Model
from .checkpoint import CheckpointError
from .recipe import Recipe
from .sampler import Sampler


def page_call(fn, *args, **kwargs):
    """Run a Sampler call, turning its ValueErrors into messages for the user."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise gr.Error(str(e)) from None



class Samplers:
    """Loaded checkpoints (a few kept in memory) by the catalog's key, so the aliases of one model
    share an entry, each with its render batcher. Only what the catalog allows is loaded."""

    def __init__(self, default: str, keep: int = 3, batch: int = 1, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or Catalog(default)
        self.default = self.catalog.default.name
        self.keep = keep
        self.batch = batch
        # model key -> (sampler, its batcher or None); oldest first
        self._loaded: OrderedDict[str, tuple[Sampler, RenderBatcher | None]] = OrderedDict()
        self._loading: dict[str, Future] = {}  # model key -> the load in progress, shared by its requests
        self._lock = threading.Lock()  # Gradio calls from many worker threads

    def model(self, name: str | None) -> Model:
        return page_call(self.catalog.resolve, name)

    def source(self, name: str | None) -> str:
        """The public name of the model a box value names (empty: the default)."""
        return self.model(name).name

    def render(self, source: str | None, recipe: Recipe) -> Image.Image:
        """Render through the model's batcher (concurrent callers share forward passes)."""
        s, batcher = self._entry(source)
        return page_call(batcher.render if batcher is not None else s.render, recipe)

    def get(self, source: str | None = None, public: bool = True) -> Sampler:
        """The loaded model. ``public``: errors name it as visitors see it (False: as the server
        does, for the operator's console at start-up)."""
        return self._entry(source, public)[0]

    def _entry(self, name: str | None, public: bool = True) -> tuple[Sampler, RenderBatcher | None]:
        model = self.model(name)
        source = model.key
        with self._lock:
            if source in self._loaded:
                self._loaded.move_to_end(source)
                return self._loaded[source]
            loading = self._loading.get(source)
            if loading is None:
                loading = self._loading[source] = Future()
                mine = True
            else:
                mine = False
        if not mine:  # another request is loading it: share that load (or its error)
            return loading.result()
        # loaded outside the lock: a long Hub download must not stall every other request
        try:
            try:
                s = Sampler.load(model.source, name=model.name)
            except (CheckpointError, ValueError) as e:
                raise gr.Error(self.catalog.public(str(e), model) if public else str(e)) from None
            entry = (s, RenderBatcher(s, max_batch=self.batch) if self.batch > 1 else None)
        except BaseException as e:
            with self._lock:
                del self._loading[source]
            loading.set_exception(e)
            raise
        with self._lock:
            del self._loading[source]
            self._loaded[source] = entry
            while len(self._loaded) > self.keep:
                _, (_, dropped) = self._loaded.popitem(last=False)
                if dropped is not None:
                    dropped.close()  # its thread held the model: close it, or it is never freed
        loading.set_result(entry)
        return entry
