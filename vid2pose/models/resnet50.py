"""SPIN's HMR ResNet-50 trunk: (N, 3, 224, 224) ImageNet-normalised crops -> (N, 2048) features.

This is the per-frame feature extractor of the GLoT / VIBE / TCMR chain (spec glot.md 1.4):
torchvision's ResNet-50 layout, "v1.5" bottlenecks (the stride sits on the 3x3 conv),
BatchNorm eps 1e-5 in eval mode, and SPIN's ``AvgPool2d(7, stride=1)`` + flatten instead of
torchvision's adaptive pool + fc. Parameter names are torchvision's (``conv1.weight``,
``layer1.0.downsample.0.weight``, ...) because SPIN's checkpoint uses them.

SPIN's ``model_checkpoint.pt`` (shipped as ``spin_model_checkpoint.pth.tar`` in the GLoT / VIBE
``base_data`` bundles) is a dict whose ``model`` entry is the whole HMR state_dict: the trunk plus
the regression head (``fc1``, ``fc2``, ``decpose``, ``decshape``, ``deccam``, ``init_*``) that the
video models do not use. :func:`spin_trunk_state_dict` keeps the trunk keys only, and they are
loaded strictly.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from os import PathLike
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["SpinResNet50", "spin_trunk_state_dict", "TRUNK_PREFIXES", "FEATURE_DIM"]

FEATURE_DIM = 2048
# Top-level modules of the trunk; everything else in a SPIN checkpoint belongs to the head.
TRUNK_PREFIXES = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.", "layer4.")
_BLOCKS = (3, 4, 6, 3)  # ResNet-50
_WIDTHS = (64, 128, 256, 512)
_EXPANSION = 4


class _Bottleneck(nn.Module):
    """1x1 -> 3x3 (carries the stride) -> 1x1 (x4 channels), identity or projected shortcut."""

    def __init__(self, in_ch: int, width: int, stride: int = 1, project: bool = False):
        super().__init__()
        out_ch = width * _EXPANSION
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        # Sequential so the keys read downsample.0 (conv) / downsample.1 (bn), as in the checkpoint
        self.downsample = (nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                                         nn.BatchNorm2d(out_ch)) if project else None)

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        short = x if self.downsample is None else self.downsample(x)
        return self.relu(y + short)


def _stage(in_ch: int, width: int, blocks: int, stride: int) -> nn.Sequential:
    # the first block changes the channel count (and maybe the resolution): projected shortcut
    layers = [_Bottleneck(in_ch, width, stride, project=True)]
    layers += [_Bottleneck(width * _EXPANSION, width) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class SpinResNet50(nn.Module):
    """ResNet-50 trunk of SPIN's HMR; ``forward`` returns (N, 2048) non-negative features.

    Inputs are 224x224 crops normalised with the ImageNet mean/std
    (``vid2pose.mesh.glot_chain.normalize_crops``); the 7x7 average pool assumes that size.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_ch = 64
        for i, (width, blocks) in enumerate(zip(_WIDTHS, _BLOCKS)):
            setattr(self, f"layer{i + 1}", _stage(in_ch, width, blocks, 1 if i == 0 else 2))
            in_ch = width * _EXPANSION
        self.avgpool = nn.AvgPool2d(7, stride=1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    # -- loading ------------------------------------------------------------------

    def load_spin(self, ckpt: Mapping[str, Any]) -> "SpinResNet50":
        """Load the trunk from a SPIN checkpoint dict (or a bare state_dict), strictly."""
        from vid2pose.errors import WeightsError

        try:
            self.load_state_dict(spin_trunk_state_dict(ckpt, self.state_dict()), strict=True)
        except RuntimeError as e:  # missing / mis-shaped trunk weights: the wrong file
            first = str(e).strip().splitlines()[:2]
            raise WeightsError("SPIN checkpoint does not match the ResNet-50 trunk: " + " ".join(first)) from e
        return self

    @classmethod
    def from_checkpoint(cls, ckpt: Mapping[str, Any] | str | PathLike, trust: bool = False
                        ) -> "SpinResNet50":
        """Build and load from a checkpoint path or dict; eval mode.

        Paths are read with :func:`vid2pose.weights.load_torch_checkpoint` (tensors only
        unless ``trust``: SPIN's training checkpoints also hold optimizer state).
        """
        if isinstance(ckpt, (str, PathLike)):
            from vid2pose.weights import load_torch_checkpoint

            ckpt = load_torch_checkpoint(ckpt, trust)
        return cls().load_spin(ckpt).eval()

    @torch.no_grad()
    def features(self, crops: Tensor | Iterable[Tensor], batch_size: int = 64) -> Tensor:
        """(N, 3, 224, 224) normalised crops -> (N, 2048), in batches (eval mode assumed)."""
        x = crops if isinstance(crops, Tensor) else torch.cat(list(crops))
        dev = next(self.parameters()).device
        outs = [self(x[i:i + batch_size].to(dev)) for i in range(0, len(x), batch_size)]
        return torch.cat(outs) if outs else torch.zeros(0, FEATURE_DIM, device=dev)


def spin_trunk_state_dict(ckpt: Mapping[str, Any], reference: Mapping[str, Tensor] | None = None
                          ) -> dict[str, Tensor]:
    """The trunk entries of a SPIN checkpoint.

    Accepts ``{'model': state_dict, ...}`` (SPIN / GLoT / VIBE layout) or a bare state_dict;
    strips a ``module.`` prefix (DataParallel) and drops the HMR head. With ``reference``
    (the target's state_dict), BatchNorm ``num_batches_tracked`` counters that very old files
    lack are filled in (they do not affect eval-mode outputs), so a strict load only fails on
    real weights that are missing.
    """
    from vid2pose.errors import WeightsError

    sd = ckpt.get("model", ckpt) if isinstance(ckpt, Mapping) else None
    if not isinstance(sd, Mapping):
        raise WeightsError("not a SPIN checkpoint: expected a dict with a 'model' state_dict")
    out: dict[str, Tensor] = {}
    for key, val in sd.items():
        if key.startswith("module."):
            key = key[len("module."):]
        if key.startswith(TRUNK_PREFIXES):
            out[key] = val
    if not out:
        raise WeightsError("not a SPIN checkpoint: no ResNet-50 trunk weights (conv1.*, layer1.* ...)")
    if reference is not None:
        for key, val in reference.items():
            if key.endswith("num_batches_tracked") and key not in out:
                out[key] = torch.zeros_like(val)
    return out
