"""Where checkpoints come from: a local folder, or a Hugging Face Hub model repo."""

from __future__ import annotations

import re
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
