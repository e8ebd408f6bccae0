"""Where training runs: the device of this rank, its default batch, and whether to use bf16."""

from __future__ import annotations

import torch

from ..devices import parse_device, resolve_device


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); elsewhere autocast
    emulates it and trains slower than fp32."""
    cpu = torch.cpu
    return any(getattr(cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def emulated_bf16_warning(amp: str, device: torch.device) -> str | None:
    """A line for ``--amp bf16`` asked for on a CPU that would only emulate it: on a 2-core AVX2
    EPYC, benchmarks/train_speed.py trained 0.71 img/s in bf16 against 14.28 in fp32."""
    if amp != "bf16" or device.type != "cpu" or cpu_has_bf16():
        return None
    return ("ganart train: --amp bf16 on a CPU without native bf16 (no AVX-512 BF16 or AMX): autocast "
            "emulates it (20x slower than fp32 on a 2-core AVX2 EPYC); --amp auto picks fp32 on this CPU")


def default_batch(device: torch.device) -> int:
    """Per-rank batch for ``--batch 0``: small on CPU, where more updates per image pay;
    larger on CUDA, where a step is bound by Python dispatch whatever its batch."""
    return 32 if device.type == "cuda" else 8


def use_bf16(amp: str, device: torch.device) -> bool:
    """``--amp`` resolved: ``auto`` is bf16 on CUDA and on CPUs with native bf16."""
    if amp != "auto":
        return amp == "bf16"
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())


def training_device(name: str, local_rank: int, cuda_available: bool) -> torch.device:
    """``auto`` -> this rank's GPU or the CPU; a bare ``cuda`` gets this rank's index, since
    ``torch.cuda.set_device`` refuses a device without one (seen on an H200)."""
    if name == "auto":  # not resolve_device's auto: training does not try MPS
        name = "cuda" if cuda_available else "cpu"
    device = parse_device(name)  # ValueError naming a bad device string
    if device.type != "cuda":
        return resolve_device(device)  # checked against this machine
    if not cuda_available:
        raise ValueError(f"device {name!r} is not available: this PyTorch sees no CUDA GPU; use cpu or auto")
    return device if device.index is not None else torch.device("cuda", local_rank)
