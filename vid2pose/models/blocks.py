"""Small building blocks shared by the skeleton lifters (MotionAGFormer, SSRSTF).

Every block works on the channel-last layout (B, T, J, C) so that no reshuffling
is needed between sub-blocks.
"""
from __future__ import annotations

from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

ActLayer = Union[str, Callable[[], nn.Module]]

_ACTIVATIONS = {
    "gelu": lambda: nn.GELU(approximate="none"),  # exact erf GELU, as the lineage uses
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "relu": nn.ReLU,
    "silu": nn.SiLU,
}


def make_activation(act_layer: ActLayer) -> nn.Module:
    """Build an activation module from a config name, a module class or a factory."""
    if isinstance(act_layer, str):
        try:
            return _ACTIVATIONS[act_layer.lower()]()
        except KeyError:
            raise ValueError(f"unknown act_layer {act_layer!r}; known: {sorted(_ACTIVATIONS)}") from None
    if isinstance(act_layer, nn.Module):
        return act_layer
    if callable(act_layer):
        return act_layer()
    raise TypeError(f"act_layer must be a name, an nn.Module class or a factory, got {act_layer!r}")


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample (training only)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MLP(nn.Module):
    """Linear -> act -> Linear, applied per token."""

    def __init__(self, dim: int, hidden: int, act_layer: ActLayer = "gelu", drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = make_activation(act_layer)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class SkeletonAttention(nn.Module):
    """Multi-head self-attention over the joints of each frame ("spatial") or the
    frames of each joint ("temporal"), for x of shape (B, T, J, C).

    qkv is split as [q | k | v], each head-major (channel = head * d + c).
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False,
                 qk_scale: Optional[float] = None, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, mode: str = "spatial"):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        if mode not in ("spatial", "temporal"):
            raise ValueError(f"mode must be 'spatial' or 'temporal', got {mode!r}")
        self.num_heads = num_heads
        self.mode = mode
        self.scale = qk_scale if qk_scale is not None else (dim // num_heads) ** -0.5
        self.attn_drop = float(attn_drop)
        # proj is registered before qkv so that state_dict order matches upstream.
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, J, C = x.shape
        h = self.num_heads
        d = C // h
        qkv = self.qkv(x).reshape(B, T, J, 3, h, d)
        # 4-D (batch, head, length, d) tensors: SDPA's fused CPU/GPU kernels need 4-D;
        # with more batch dims it falls back to the slow math path.
        if self.mode == "spatial":
            q, k, v = qkv.reshape(B * T, J, 3, h, d).permute(2, 0, 3, 1, 4).unbind(0)  # (B*T, h, J, d)
        else:
            q, k, v = qkv.permute(3, 0, 2, 4, 1, 5).reshape(3, B * J, h, T, d).unbind(0)  # (B*J, h, T, d)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.0, scale=self.scale)
        if self.mode == "spatial":
            out = out.transpose(1, 2).reshape(B, T, J, C)
        else:
            out = out.reshape(B, J, h, T, d).permute(0, 3, 1, 2, 4).reshape(B, T, J, C)
        return self.proj_drop(self.proj(out))


class MetaFormerBlock(nn.Module):
    """u = x + s1 * mixer(LN1(x)); out = u + s2 * MLP(LN2(u)), s1/s2 per-channel layer scales."""

    def __init__(self, dim: int, mixer: nn.Module, mlp_ratio: float = 4.0,
                 act_layer: ActLayer = "gelu", drop: float = 0.0, drop_path: float = 0.0,
                 use_layer_scale: bool = True, layer_scale_init_value: float = 1e-5):
        super().__init__()
        if use_layer_scale:
            self.layer_scale_1 = nn.Parameter(torch.full((dim,), float(layer_scale_init_value)))
            self.layer_scale_2 = nn.Parameter(torch.full((dim,), float(layer_scale_init_value)))
        else:
            self.layer_scale_1 = self.layer_scale_2 = None
        self.norm1 = nn.LayerNorm(dim)
        self.mixer = mixer
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio), act_layer=act_layer, drop=drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mixer(self.norm1(x))
        if self.layer_scale_1 is not None:
            y = y * self.layer_scale_1
        x = x + self.drop_path(y)
        y = self.mlp(self.norm2(x))
        if self.layer_scale_2 is not None:
            y = y * self.layer_scale_2
        return x + self.drop_path(y)


class AdaptiveFusion(nn.Linear):
    """Per-token softmax weighting of two streams: w = softmax(Linear([a; b])),
    out = w0 * a + w1 * b. Starts as an equal split (weight 0, bias 0.5).

    A plain Linear subclass so its parameters are named ``fusion.weight/bias``.
    """

    def __init__(self, dim: int):
        super().__init__(2 * dim, 2)
        with torch.no_grad():
            self.weight.zero_()
            self.bias.fill_(0.5)

    def weights(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.cat((a, b), dim=-1)).softmax(dim=-1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        w = self.weights(a, b)
        return a * w[..., 0:1] + b * w[..., 1:2]
