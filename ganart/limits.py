"""Every limit a request is checked against, in one place.

The Sampler enforces the library's limits (any caller: the CLI, scripts, the app); the app adds
stricter caps for a public server, named ``APP_*`` here. Widgets take their ranges from here too,
so a slider can never offer a value the Sampler refuses.
"""

from __future__ import annotations

import os

MAX_SEED = 2**32 - 1  # seeds are unsigned 32-bit integers
PSI_RANGE = (-1.0, 2.0)  # truncation psi
EDIT_LIMIT = 20.0  # |edit amount| in standard deviations of w along a direction
NUM_DIRECTIONS = 32  # directions computed per method (fewer when w_dim is smaller)
METHODS = ("sefa", "pca")  # how directions are found: SeFa (style weights) or PCA of sampled w
DEFAULT_METHOD = METHODS[0]
MAX_DIRECTION_NAMES = 64  # names per method in a checkpoint's meta
MAX_DIRECTION_NAME = 60  # characters: a slider label
MAX_META_TEXT = 200  # characters of a checkpoint's name, dataset and licence (shown in the app)
MAX_RECIPE_FILE_BYTES = 10 * 1024 * 1024  # a PNG or JSON read for its recipe
MAX_RECIPE_BYTES = 1 << 20  # a recipe's JSON text
MAX_LATENT_ROWS = 64  # ws in a recipe's latent: one w, or one per layer
MAX_PROJECT_STEPS = 2000  # steps of one projection
DEFAULT_PROJECT_STEPS = 200
PROJECT_CANDIDATES = 64  # sampled latents the search starts from the best of
MAX_JSON_DEPTH = 32  # nesting of any JSON ganart parses (a recipe needs 2, a config 4)

MAX_BATCH = 256  # images per Sampler.render_many call
RENDER_MEMORY_ENV = "GANART_RENDER_MEMORY_MB"
DEFAULT_RENDER_MEMORY_MB = 2048  # what one forward pass may take (ModelConfig.render_bytes_per_image)
MAX_KEYFRAMES = 64
MAX_FRAMES_PER_SEGMENT = 240
MAX_FRAMES = 2000  # frames in one walk
MAX_SEEDS = 10_000  # seeds per `ganart sample` run
KIND_SCAN = 1 << 16  # seeds one search for a --clusters model's kind looks through (~1 s)
MAX_ANIMATION_PIXELS = 2**28  # frames x height x width of a GIF/WebP assembled in memory: 768 MB of RGB

# the public app's stricter caps
APP_SLIDER_RANGE = 5.0  # sliders move a direction by up to +-5 std
APP_SLIDERS = 8
APP_EXPLORE_MAX = 64  # seeds shown at once
APP_WALK_FRAMES = 240
APP_HISTORY = 24
APP_QUEUE = 64  # requests waiting in Gradio's queue
APP_RENDER_BATCH = 8  # default: concurrent /generate requests merged into one forward pass
APP_MAX_RENDER_BATCH = 32  # at most this many share a pass (each is a waiting request: at most the queue)
APP_PROJECT_STEPS = 300  # a projection's steps (~15 s of both cores for emoji64)
APP_WEB_MODEL_MB = 64  # an exported synthesis network the page downloads; larger: server rendering
APP_LINK_LATENT = 16_000  # latent characters a link carries (w+ of 10 x 256: 13.7 k); longer: the PNG


def check_render_batch(batch: object, name: str = "batch") -> int:
    """The app's render batch (``ganart serve --batch``, ``build_demo(batch=)``), checked."""
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= APP_MAX_RENDER_BATCH:
        raise ValueError(f"{name} must be a whole number in [1, {APP_MAX_RENDER_BATCH}] (concurrent requests "
                         f"merged into one forward pass), got {batch!r}")
    return batch


def env_megabytes(name: str, default: float, zero_ok: bool) -> int:
    """A size setting in MB from the environment, as bytes; ValueError naming the setting when it
    is not a finite number (above 0, or >= 0 with ``zero_ok``)."""
    text = os.environ.get(name, str(default))
    try:
        mb = float(text)
    except ValueError:
        mb = float("nan")
    if not (0 <= mb if zero_ok else 0 < mb) or mb == float("inf"):
        raise ValueError(f"{name} must be a number of MB {'>= 0' if zero_ok else 'above 0'}, got {text!r}")
    return int(mb * 2**20)


def render_budget_bytes() -> int:
    """The render-memory budget: GANART_RENDER_MEMORY_MB, default 2048."""
    return env_megabytes(RENDER_MEMORY_ENV, DEFAULT_RENDER_MEMORY_MB, zero_ok=False)
