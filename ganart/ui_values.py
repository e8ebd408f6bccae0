"""Widget values as the app's callbacks receive them, checked: a public page's endpoints are
called by strangers with any value, so every parse ends in a number or a clear message."""

from __future__ import annotations

import math
from typing import Any

import gradio as gr

from .latent import check_seed
from .limits import MAX_RECIPE_BYTES, MAX_SEED
from .recipe import Recipe
from .ui_models import page_call

DISPLAY_SCALE = 4  # the app shows images at 4x, pixels crisp


def shown(value: Any) -> str:
    """A stranger's value as an error message quotes it: its repr, cut to 60 characters."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**60 else f"a {value.bit_length()}-bit integer"
    return text if len(text) <= 60 else text[:57] + "..."


def _float(value: Any) -> float:
    """float(value), or NaN for anything that is not a number within float's range."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return float("nan")


def seed_of(value: Any) -> int:
    """A widget's seed (Number gives floats, the API may send strings) -> a checked int."""
    f = _float(value)
    if math.isnan(f):
        raise gr.Error(f"Seed must be a whole number from 0 to {MAX_SEED}, got {shown(value)}")
    return page_call(check_seed, f, "Seed")


def whole(value: Any, what: str) -> int:
    """A slider's or Number's whole number (widgets give floats; the API may send anything,
    and NaN, None or "abc" must be a message, not a bare "Error" from int() in the browser)."""
    f = _float(value)
    if not math.isfinite(f) or f != int(f):
        raise gr.Error(f"{what} must be a whole number, got {shown(value)}")
    return int(f)


ANY_KIND = "any"


def kind_of(value: Any, kinds: int) -> int | None:
    """Explore's kind: "any" (or nothing) -> None, else a kind of a model with ``kinds`` of them."""
    if value is None or value == "" or value == ANY_KIND:
        return None
    if not kinds:
        raise gr.Error(f"This model has no kinds (it was trained without --clusters): use {ANY_KIND!r}, "
                       f"got {shown(value)}")
    k = whole(value, "Kind") if isinstance(value, (int, float, str)) and not isinstance(value, bool) else -1
    if not 0 <= k < kinds:
        raise gr.Error(f"Kind must be {ANY_KIND!r} or a number from 0 to {kinds - 1}, got {shown(value)}")
    return k


def kind_choices(shares: list[float]) -> list[tuple[str, str]]:
    """Explore's kind menu for a model's kind shares (none: only "any")."""
    return [(ANY_KIND, ANY_KIND)] + [(f"{k} · {share:.0%} of seeds", str(k)) for k, share in enumerate(shares)]


def edits_of(amounts: list[Any]) -> dict[int, float]:
    out = {}
    for i, a in enumerate(amounts):
        try:
            v = float(a)
        except (TypeError, ValueError):
            raise gr.Error(f"Slider {i} must be a number, got {a!r}") from None
        if v != 0.0:
            out[i] = v
    return out


def latent_state(r: Recipe) -> str:
    """The page's hidden latent box for a recipe: "SEED@LATENT" for a projected picture, else ""."""
    return f"{r.seed}@{r.latent}" if r.latent else ""


def page_latent(state: Any, seed: int) -> str:
    """The latent the shown picture starts from: the box's while the seed is still the one it came
    with. Typing another seed leaves the picture, in whatever order the page's events arrive."""
    if state is None or state == "":
        return ""
    if not isinstance(state, str) or "@" not in state or len(state) > MAX_RECIPE_BYTES:
        raise gr.Error("The page's latent must be SEED@LATENT (see ganart.recipe.encode_latent)")
    owner, _, latent = state.partition("@")
    return latent if owner == str(seed) else ""
