"""Where checkpoints come from: a local folder, or a Hugging Face Hub model repo."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .checkpoint import CONFIG_NAME, WEIGHTS_NAME, CheckpointError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


def resolve_checkpoint(source: str) -> Path:
    """A local folder as is; "user/name[@revision]" is fetched (safetensors + config only)."""
    path = Path(source).expanduser()
    if path.exists() or not HUB_ID.match(source):
        return path
    repo_id, _, revision = source.partition("@")
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import (
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:  # pragma: no cover - huggingface_hub is a runtime requirement
        raise CheckpointError(f"{source}: not a local folder, and huggingface_hub is not installed") from None
    try:
        # only these files: a pickle in the repo is never even downloaded
        folder = snapshot_download(
            repo_id, revision=revision or None, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, "README.md"]
        )
    except RepositoryNotFoundError:
        raise CheckpointError(f"{source}: no such model repo on the Hub (or it is private)") from None
    except RevisionNotFoundError:
        raise CheckpointError(f"{source}: the repo has no revision {revision!r}") from None
    except LocalEntryNotFoundError:
        raise CheckpointError(
            f"{source}: not in the local cache and the Hub cannot be reached (offline or no network)"
        ) from None
    except Exception as e:
        raise CheckpointError(f"{source}: could not download from the Hub ({e})") from None
    return Path(folder)


def model_card(folder: Path) -> str:
    """A Hub model card (README.md) for a checkpoint folder, with the metadata block."""
    from .checkpoint import load_checkpoint

    ck = load_checkpoint(folder)
    m, cfg = ck.meta, ck.config
    license_id = "apache-2.0" if "Apache" in m.license or not m.license else "other"
    metrics = "\n".join(
        f"| {name} | {r.get('fid', float('nan')):.2f} | {1e3 * r.get('kid', float('nan')):.2f} ± "
        f"{1e3 * r.get('kid_std', float('nan')):.2f} | {r.get('n_fake', '?')} vs {r.get('n_real', '?')} |"
        for name, r in sorted(m.metrics.items()) if isinstance(r, dict)
    ) or "| not measured | | | |"
    t = m.training
    grid = "\n![samples](grid.png)\n" if (folder / "grid.png").is_file() else ""
    return f"""---
license: {license_id}
library_name: ganart
tags:
  - gan
  - unconditional-image-generation
  - ganart
---

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
- Compute: {t.get("device", "unknown")}, {t.get("seconds", "?")} s of training, {t.get("steps", "?")} steps
- Licence of the data: {m.license or "see the dataset"}

## Metrics

| metric key | FID | KID ×1e3 | N |
| --- | --- | --- | --- |
{metrics}
"""


def push(folder: str | os.PathLike[str], repo_id: str, private: bool = False, dry_run: bool = False) -> list[str]:
    """Upload a checkpoint (config, weights, model card, sample grid) to a Hub model repo.
    Returns the file names; with dry_run nothing is sent and no token is needed."""
    import tempfile

    from .checkpoint import load_checkpoint

    folder = Path(folder)
    load_checkpoint(folder)  # refuse to publish anything that would not load
    if not re.match(r"^[\w.-]+/[\w.-]+$", repo_id):
        raise CheckpointError(f"--repo must look like USER/NAME, got {repo_id!r}")
    files = [CONFIG_NAME, WEIGHTS_NAME, "README.md"] + (["grid.png"] if (folder / "grid.png").is_file() else [])
    if dry_run:
        return files
    from huggingface_hub import HfApi, get_token

    token = get_token()
    if not token:
        raise CheckpointError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        for name in files:
            if name != "README.md":
                shutil.copyfile(folder / name, staging / name)
        (staging / "README.md").write_text(model_card(folder), encoding="utf-8")
        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=staging, commit_message="Upload ganart checkpoint")
    return files
