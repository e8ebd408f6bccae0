"""The model card: a checkpoint folder's README.md, generated from its config.json."""

from __future__ import annotations

import os
from pathlib import Path

from .checkpoint import CONFIG_NAME, atomic_write_bytes, read_config

CARD_NAME = "README.md"


GENERATED = "<!-- ganart:generated card: `ganart train` and `ganart eval` rewrite it; delete this line to keep edits -->"
METRICS_BEGIN, METRICS_END = "<!-- ganart:metrics -->", "<!-- /ganart:metrics -->"


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
    return f"""{METRICS_BEGIN}
| metric key | FID | KID ×1e3 | N fake vs real | ψ | precision / recall (k=3) |
| --- | --- | --- | --- | --- | --- |
{rows}
{METRICS_END}"""


def model_card(folder: Path) -> str:
    """A Hub model card (README.md) for a checkpoint folder, with the metadata block."""
    # config.json holds all the card needs: no weight load or hash on every training snapshot
    cfg, m = read_config(folder / CONFIG_NAME)
    license_id = "apache-2.0" if "Apache" in m.license or not m.license else "other"
    t = m.training
    grid = "\n![samples](grid.png)\n" if (folder / "grid.png").is_file() else ""
    parent = t.get("init_from")
    lineage = (f"\n- Fine-tuned from `{parent.get('source')}` (weights sha256 {str(parent.get('sha256'))[:12]}…), which had "
               f"seen {parent.get('images_seen', 0):,} images in {parent.get('steps', '?')} steps and "
               f"{parent.get('seconds', '?')} s; the totals above include them, the command is this run's"
               if isinstance(parent, dict) else "")
    return f"""---
license: {license_id}
library_name: ganart
tags:
  - gan
  - unconditional-image-generation
  - ganart
---
{GENERATED}

# {m.name or folder.name}

A {cfg.resolution}×{cfg.resolution} style-based GAN generator trained with
ganart on `{m.dataset or "unknown data"}` ({m.images_seen:,} images seen).
{grid}
## Use

```python
from ganart import Sampler
s = Sampler.load("USER/NAME")   # this repo's id
s.generate(seed=42, psi=0.7).save("seed42.png")
```

## Training

- Command: `{t.get("command", "unknown")}`
- Compute: {t.get("device", "unknown")}, {t.get("seconds", "?")} s of training, {t.get("steps", "?")} steps{lineage}
- Licence of the data: {m.license or "see the dataset"}

## Metrics

{metrics_block(m.metrics)}
{_directions_section(m.directions)}"""


def _directions_section(directions: dict[str, list[str]]) -> str:
    """What the named latent directions do (the app's slider labels), by method."""
    lines = [f"- {method.upper()} {i}: {name}" for method, names in sorted(directions.items())
             for i, name in enumerate(names) if name]
    return "\n## Directions\n\n" + "\n".join(lines) + "\n" if lines else ""


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
