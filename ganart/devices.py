"""Device names -> torch.device, checked against this machine (never touching CUDA at import)."""

from __future__ import annotations

import torch

DEVICE_TYPES = ("cpu", "cuda", "mps")  # where a generator can run (not "meta", "xla", ...)


def parse_device(device: str | torch.device) -> torch.device:
    """A device name -> torch.device; ValueError for a name torch or ganart cannot use."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {str(device)!r}: {e}") from None
    if dev.type not in DEVICE_TYPES:
        raise ValueError(f"device {str(device)!r} cannot run a model; use one of {', '.join(DEVICE_TYPES)} or auto")
    return dev


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def device_problem(dev: torch.device) -> str | None:
    """Why `dev` cannot be used on this machine, or None: asked first, so that a missing GPU is
    one clear error rather than torch's "Torch not compiled with CUDA enabled" traceback."""
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return "this PyTorch sees no CUDA GPU (torch.cuda.is_available() is False)"
        if dev.index is not None and dev.index >= count:
            return f"this machine has {count} CUDA GPU(s), numbered from 0"
    if dev.type == "mps" and not _mps_available():
        return "this PyTorch has no Apple MPS device here"
    return None


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA, else MPS, else CPU; any other name is checked against this machine."""
    if str(device) != "auto":
        dev = parse_device(device)
        problem = device_problem(dev)
        if problem:
            raise ValueError(f"device {str(device)!r} is not available: {problem}; use cpu or auto")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")
