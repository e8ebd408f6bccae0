"""Where checkpoints come from: a local folder, or a Hugging Face Hub model repo."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .card import CARD_NAME, card_text
from .checkpoint import CONFIG_NAME, DISCRIMINATOR_NAME, MAX_CONFIG_BYTES, WEIGHTS_NAME, CheckpointError
from .config import MAX_PARAMS

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
# what a checkpoint's files can weigh at most: fp32 weights of the largest model we load (+ header)
MAX_HUB_BYTES = {CONFIG_NAME: MAX_CONFIG_BYTES, WEIGHTS_NAME: 4 * MAX_PARAMS + (1 << 20), CARD_NAME: 1 << 20}


def _refuse_oversized(repo_id: str, revision: str | None) -> None:
    """Ask the Hub how big the files are before fetching them: a hostile repo's 50 GB weights
    would fill the disk before the loader could refuse them. When the Hub cannot answer (offline,
    no network, no such repo) there is nothing to check here: snapshot_download names the problem."""
    from huggingface_hub import HfApi

    try:
        files = HfApi().get_paths_info(repo_id, list(MAX_HUB_BYTES), revision=revision)
    except Exception:
        return
    for f in files:
        lfs = getattr(f, "lfs", None)
        size = max(getattr(f, "size", None) or 0, (lfs.size if lfs is not None else 0) or 0)
        limit = MAX_HUB_BYTES.get(f.path)
        if limit is not None and size > limit:
            raise CheckpointError(f"{repo_id}: {f.path} is {size / 1e6:,.0f} MB on the Hub, over the "
                                  f"{limit / 1e6:,.0f} MB a ganart checkpoint can need; not downloaded")


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
    _refuse_oversized(repo_id, revision or None)
    try:
        # only these files: a pickle in the repo is never even downloaded
        folder = snapshot_download(repo_id, revision=revision or None, allow_patterns=list(MAX_HUB_BYTES))
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


def push(folder: str | os.PathLike[str], repo_id: str, private: bool = False, dry_run: bool = False) -> list[str]:
    """Upload a checkpoint (config, weights, model card as `card_text` gives it, sample grid) to a Hub model repo.
    Returns the file names; with dry_run nothing is sent and no token is needed."""
    import tempfile

    from .card import LINEAGE_NAME
    from .checkpoint import load_checkpoint, load_discriminator

    folder = Path(folder)
    load_checkpoint(folder)  # refuse to publish anything that would not load
    load_discriminator(folder)
    if not re.match(r"^[\w.-]+/[\w.-]+$", repo_id):
        raise CheckpointError(f"--repo must look like USER/NAME, got {repo_id!r}")
    files = [CONFIG_NAME, WEIGHTS_NAME, CARD_NAME] + [
        name for name in (DISCRIMINATOR_NAME, "grid.png", "nearest.png", LINEAGE_NAME) if (folder / name).is_file()]
    if dry_run:
        return files
    from huggingface_hub import HfApi, get_token

    token = get_token()
    if not token:
        raise CheckpointError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        for name in files:
            if name != CARD_NAME:
                shutil.copyfile(folder / name, staging / name)
        (staging / CARD_NAME).write_text(card_text(folder), encoding="utf-8")
        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=staging, commit_message="Upload ganart checkpoint")
    return files
