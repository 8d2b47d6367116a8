"""--device auto|cpu|cuda, resolved once per command."""
from __future__ import annotations

import importlib.util

from vid2pose.errors import UsageError

DEVICES = ("auto", "cpu", "cuda")


def cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(name: str) -> str:
    """'auto' picks the GPU when there is one; asking for 'cuda' without one is a usage error."""
    name = name.lower()
    if name not in DEVICES and not name.startswith("cuda:"):
        raise UsageError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    if name == "cpu":
        return "cpu"
    has_cuda = cuda_available()
    if name == "auto":
        return "cuda" if has_cuda else "cpu"
    if not has_cuda:
        raise UsageError(f"--device {name} was asked for, but PyTorch sees no CUDA GPU "
                         "(install a CUDA build of torch, see README, or use --device cpu)")
    return name
