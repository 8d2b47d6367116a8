"""Left-right flip of Human3.6M-17 poses and flip test-time averaging (spec ssr-stf.md 2.5).

Valid for 2D inputs and 3D outputs alike because both are centred on x = 0 by the
lineage's normalisations.
"""
from __future__ import annotations

from typing import Callable

import torch

# Joint i of the flipped pose is joint H36M_FLIP_PERM[i] of the original (an involution).
H36M_FLIP_PERM = (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)


def flip_pose(x: torch.Tensor) -> torch.Tensor:
    """Mirror (..., 17, D) poses: negate channel 0 (x) and swap left/right joints.

    The other channels (y, z or confidence) move with their joint unchanged.
    Returns a new tensor; differentiable.
    """
    if x.dim() < 2 or x.shape[-2] != len(H36M_FLIP_PERM):
        raise ValueError(f"expected (..., 17, D), got shape {tuple(x.shape)}")
    perm = torch.tensor(H36M_FLIP_PERM, device=x.device)
    sign = torch.ones(x.shape[-1], dtype=x.dtype, device=x.device)
    sign[0] = -1
    return x.index_select(-2, perm) * sign


def flip_average(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Flip test-time augmentation: (f(X) + flip(f(flip(X)))) / 2.

    The root is not zeroed here; root-relative configs do that afterwards.
    Two separate calls (not one doubled batch) so train-mode BatchNorm statistics
    stay those of the real batch.
    """
    return (model(x) + flip_pose(model(flip_pose(x)))) / 2
