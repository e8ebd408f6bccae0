"""Where checkpoints come from: a local folder, or a Hugging Face Hub model repo."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .card import CARD_NAME, card_text
from .checkpoint import (
    CONFIG_NAME,
    DISCRIMINATOR_NAME,
    MAX_CONFIG_BYTES,
    WEIGHTS_NAME,
    CheckpointError,
    read_config,
)
from .config import MAX_PARAMS
from .limits import env_megabytes

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
# what a checkpoint's files can weigh at most: fp32 weights of the largest model we load (+ header)
MAX_HUB_BYTES = {CONFIG_NAME: MAX_CONFIG_BYTES, WEIGHTS_NAME: 4 * MAX_PARAMS + (1 << 20), CARD_NAME: 1 << 20}
QUOTA_ENV = "GANART_HUB_CACHE_MB"
DEFAULT_QUOTA_MB = 2048


def _commit_and_sizes(repo_id: str, revision: str | None) -> tuple[str, dict[str, int]] | None:
    """The commit a ref names now, and the sizes the Hub reports for a checkpoint's files there
    (those it has): everything after is fetched from that commit, so what was checked is what
    comes down. None when the Hub cannot be asked (offline, no network); a missing repo or
    revision raises huggingface_hub's error."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    if constants.HF_HUB_OFFLINE:
        return None
    try:
        commit = HfApi().repo_info(repo_id, revision=revision).sha
        files = HfApi().get_paths_info(repo_id, list(MAX_HUB_BYTES), revision=commit)
    except (RepositoryNotFoundError, RevisionNotFoundError):
        raise
    except Exception:
        return None
    sizes = {}
    for f in files:
        lfs = getattr(f, "lfs", None)
        sizes[f.path] = max(getattr(f, "size", None) or 0, (lfs.size if lfs is not None else 0) or 0)
    return commit, sizes


def _refuse_oversized(repo_id: str, sizes: dict[str, int]) -> None:
    """A hostile repo's 50 GB weights would fill the disk before the loader could refuse them."""
    for name, size in sizes.items():
        limit = MAX_HUB_BYTES.get(name)
        if limit is not None and size > limit:
            raise CheckpointError(f"{repo_id}: {name} is {size / 1e6:,.0f} MB on the Hub, over the "
                                  f"{limit / 1e6:,.0f} MB a ganart checkpoint can need; not downloaded")


def _forget(snapshot: Path) -> None:
    """Delete everything the Hub cache holds of the repo a snapshot folder belongs to (its blobs,
    snapshots, refs and tree listings: the cache's ``models--USER--NAME/snapshots/COMMIT``)."""
    repo = snapshot.parent.parent
    if snapshot.parent.name == "snapshots" and repo.name.startswith("models--"):
        shutil.rmtree(repo, ignore_errors=True)


def _is_ganart(repo) -> bool:
    """Whether a cached repo holds a ganart checkpoint (only those are ganart's to evict)."""
    for rev in repo.revisions:
        config = rev.snapshot_path / CONFIG_NAME
        try:
            if config.is_file() and '"ganart-checkpoint"' in config.read_text(encoding="utf-8")[:4096]:
                return True
        except (OSError, UnicodeDecodeError):
            continue
    return False


def hub_quota_bytes() -> int:
    """How much of the Hub cache ganart's downloads may hold (GANART_HUB_CACHE_MB, default 2048)."""
    try:
        return env_megabytes(QUOTA_ENV, DEFAULT_QUOTA_MB, zero_ok=True)
    except ValueError as e:
        raise CheckpointError(str(e)) from None


def _touch(folder: Path) -> None:
    """Mark a cached checkpoint as just used (its files' access times), for the quota's LRU order."""
    for f in folder.iterdir():
        try:
            os.utime(f.resolve())  # the blob behind the snapshot's link
        except OSError:
            pass


def enforce_quota(cache_dir: Path, keep: str, quota: int | None = None) -> list[str]:
    """Evict the least recently used ganart checkpoints from the Hub cache in ``cache_dir`` until
    what they hold fits the quota; never ``keep`` (the one just loaded). Returns the evicted ids."""
    from huggingface_hub import scan_cache_dir

    quota = hub_quota_bytes() if quota is None else quota
    cache = scan_cache_dir(cache_dir)
    ours = sorted((r for r in cache.repos if r.repo_type == "model" and _is_ganart(r)), key=lambda r: r.last_accessed)
    total = sum(r.size_on_disk for r in ours)
    evicted = []
    for repo in ours:
        if total <= quota:
            break
        if repo.repo_id == keep:
            continue
        shutil.rmtree(repo.repo_path, ignore_errors=True)
        total -= repo.size_on_disk
        evicted.append(repo.repo_id)
    return evicted


def resolve_checkpoint(source: str) -> Path:
    """A local folder as is; "user/name[@revision]" is fetched: first the sizes of its files
    (refused over the cap, or when the Hub cannot tell and the cache does not hold them), then
    config.json alone (refused, and deleted, unless it is a ganart config), then the weights and
    card, never any other file. Downloads stay under the Hub cache quota (least recently used
    first out)."""
    path = Path(source).expanduser()
    try:
        if path.exists() or not HUB_ID.match(source):
            return path
    except OSError as e:  # a name too long for the file system, ...
        raise CheckpointError(f"{source[:60]}: not a usable path ({e.strerror})") from None
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
        checked = _commit_and_sizes(repo_id, revision or None)
        if checked is not None:
            _refuse_oversized(repo_id, checked[1])
        # only these files: a pickle in the repo is never even downloaded; without the Hub's
        # word on their sizes, only what the cache already holds
        local = checked is None
        # by the ref (so the cache records it, and loads offline later), then held to the checked commit
        snapshot = Path(snapshot_download(repo_id, revision=revision or None, allow_patterns=[CONFIG_NAME],
                                          local_files_only=local))
        if checked is not None and snapshot.name != checked[0]:
            raise CheckpointError(f"{source}: the repo changed while it was being checked; load it again")
        try:
            cfg, _ = read_config(snapshot / CONFIG_NAME)
            cfg.render_chunk()  # a model over the render budget is refused before its weights come
        except ValueError as e:
            _forget(snapshot)  # refused: what it downloaded goes too
            raise CheckpointError(f"{source}: not a checkpoint this app can use ({str(e).split(': ', 1)[-1]})") from None
        # the rest from the same commit (the snapshot folder is named by it), whatever the ref does meanwhile
        folder = Path(snapshot_download(repo_id, revision=snapshot.name, allow_patterns=list(MAX_HUB_BYTES),
                                        local_files_only=local))
    except CheckpointError:
        raise
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
    _touch(folder)
    enforce_quota(folder.parents[2], keep=repo_id)  # the cache holding .../models--X/snapshots/COMMIT
    return folder


def push(folder: str | os.PathLike[str], repo_id: str, private: bool = False, dry_run: bool = False) -> list[str]:
    """Upload a checkpoint (config, weights, model card as `card_text` gives it, sample grid) to a Hub model repo.
    Returns the file names; with dry_run nothing is sent and no token is needed."""
    import tempfile

    from .card import LINEAGE_NAME
    from .checkpoint import check_discriminator, load_checkpoint

    folder = Path(folder)
    load_checkpoint(folder)  # refuse to publish anything that would not load
    check_discriminator(folder)
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
