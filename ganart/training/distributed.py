"""Data-parallel helpers: the same training script alone or under ``torchrun``.

Gradients are averaged with one flat all-reduce per step (gloo on CPU, NCCL on CUDA), as
stylegan3's loop does: R1 needs a double backward, which DistributedDataParallel's hooks
do not support.
"""

from __future__ import annotations

import os

import torch


def dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) alone."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def init(device: torch.device, world: int) -> None:
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")


def all_reduce_grads(params: list[torch.nn.Parameter], world: int) -> None:
    """Average gradients across ranks in one flat all-reduce."""
    if world == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.flatten() for g in grads])
    torch.distributed.all_reduce(flat)
    flat /= world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def all_reduce_scalar(x: float, world: int, device: torch.device) -> float:
    """The sum of ``x`` over all ranks."""
    if world == 1:
        return x
    t = torch.tensor([x], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return float(t.item())


def all_reduce_mean(t: torch.Tensor, world: int) -> torch.Tensor:
    """``t`` averaged over all ranks (in place)."""
    if world > 1:
        torch.distributed.all_reduce(t)
        t /= world
    return t


def broadcast_modules(modules: list[torch.nn.Module], world: int) -> None:
    """Rank 0's parameters and buffers everywhere, so every replica starts the same."""
    if world == 1:
        return
    for m in modules:
        for t in list(m.parameters()) + list(m.buffers()):
            torch.distributed.broadcast(t.data, src=0)


def rank_checksums(modules: list[torch.nn.Module], world: int, device: torch.device) -> list[float]:
    """A float64 checksum of the modules' parameters per rank: equal on all ranks when
    data-parallel training kept the replicas in sync."""
    params = [p for m in modules for p in m.parameters()]
    with torch.no_grad():
        local = sum(p.double().sum() * (i + 1) for i, p in enumerate(params))
        local = torch.as_tensor(local, dtype=torch.float64, device=device).reshape(1)
    if world == 1:
        return [float(local)]
    gathered = [torch.zeros_like(local) for _ in range(world)]
    torch.distributed.all_gather(gathered, local)
    return [float(t) for t in gathered]


def finish(world: int) -> None:
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
