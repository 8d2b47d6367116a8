"""MotionBERT's DSTformer (dual-stream spatio-temporal transformer) lifter.

Written from ``shared/specs/ssr-stf.md`` section 4 (upstream
``Walter0807/MotionBERT`` @ dccfe7b, ``lib/model/DSTformer.py``). Parameter
names, shapes and registration order equal upstream's, so released
checkpoints load with ``load_state_dict(..., strict=True)`` once their
``module.`` prefix has been stripped (spec 4.4).

Input (B, T, J, dim_in) with T <= maxlen -> output (B, T, J, dim_out), or the
(B, T, J, dim_rep) motion representation with ``return_rep=True``.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DSTformer"]


def _drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero the whole residual branch per sample (dim 0)."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


class _Mlp(nn.Module):
    """Linear -> exact GELU -> Linear (names ``fc1``/``fc2`` as upstream)."""

    def __init__(self, dim: int, hidden: int, drop: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class _Attention(nn.Module):
    """Multi-head self-attention over joints ("spatial") or frames ("temporal").

    Tokens arrive as (B*T, J, C), batch-major. The temporal mode regroups them
    so that each (batch, head, joint) attends over its T frames.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, qk_scale, attn_drop: float,
                 proj_drop: float, mode: str):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim_feat={dim} is not divisible by num_heads={num_heads}")
        if mode not in ("spatial", "temporal"):
            raise ValueError(f"unknown attention mode {mode!r}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = qk_scale or self.head_dim ** -0.5
        self.mode = mode
        self.attn_drop = attn_drop
        # `proj` is created before `qkv` only to keep upstream's state-dict order.
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)

    def forward(self, x: torch.Tensor, seqlen: int) -> torch.Tensor:
        bt, j, c = x.shape
        h, d = self.num_heads, self.head_dim
        # qkv channels are [q | k | v], each head-major (channel = head * d + i).
        qkv = self.qkv(x)
        if self.mode == "spatial":
            q, k, v = qkv.reshape(bt, j, 3, h, d).permute(2, 0, 3, 1, 4)  # (BT, h, J, d)
        else:
            b = bt // seqlen
            q, k, v = qkv.reshape(b, seqlen, j, 3, h, d).permute(3, 0, 4, 2, 1, 5)  # (B, h, J, T, d)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.0, scale=self.scale)
        if self.mode == "spatial":
            out = out.transpose(1, 2).reshape(bt, j, c)  # (BT, J, h, d) -> merge heads
        else:
            out = out.permute(0, 3, 2, 1, 4).reshape(bt, j, c)  # (B, T, J, h, d) -> merge heads
        return self.proj_drop(self.proj(out))


class _Block(nn.Module):
    """Spatial and temporal pre-norm sub-blocks in a fixed order (no layer scale).

    ``order="st"``: spatial attention+MLP, then temporal attention+MLP;
    ``order="ts"``: the reverse.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, qk_scale,
                 drop: float, attn_drop: float, drop_path: float, eps: float, order: str):
        super().__init__()
        if order not in ("st", "ts"):
            raise ValueError(f"unknown block order {order!r}")
        self.order = order
        self.drop_path = drop_path
        hidden = int(dim * mlp_ratio)
        # Registration order mirrors upstream's state-dict order.
        self.norm1_s = nn.LayerNorm(dim, eps=eps)
        self.norm1_t = nn.LayerNorm(dim, eps=eps)
        self.attn_s = _Attention(dim, num_heads, qkv_bias, qk_scale, attn_drop, drop, "spatial")
        self.attn_t = _Attention(dim, num_heads, qkv_bias, qk_scale, attn_drop, drop, "temporal")
        self.norm2_s = nn.LayerNorm(dim, eps=eps)
        self.norm2_t = nn.LayerNorm(dim, eps=eps)
        self.mlp_s = _Mlp(dim, hidden, drop)
        self.mlp_t = _Mlp(dim, hidden, drop)

    def _spatial(self, x: torch.Tensor, seqlen: int) -> torch.Tensor:
        x = x + _drop_path(self.attn_s(self.norm1_s(x), seqlen), self.drop_path, self.training)
        return x + _drop_path(self.mlp_s(self.norm2_s(x)), self.drop_path, self.training)

    def _temporal(self, x: torch.Tensor, seqlen: int) -> torch.Tensor:
        x = x + _drop_path(self.attn_t(self.norm1_t(x), seqlen), self.drop_path, self.training)
        return x + _drop_path(self.mlp_t(self.norm2_t(x)), self.drop_path, self.training)

    def forward(self, x: torch.Tensor, seqlen: int) -> torch.Tensor:
        if self.order == "st":
            return self._temporal(self._spatial(x, seqlen), seqlen)
        return self._spatial(self._temporal(x, seqlen), seqlen)


class DSTformer(nn.Module):
    """MotionBERT DSTformer: (B, T, J, dim_in) -> (B, T, J, dim_out), T <= maxlen.

    Defaults are the MotionBERT-Lite shape (dim_feat 256, mlp_ratio 4) with the
    LayerNorm eps 1e-6 that the official scripts use for every released model
    (the bare upstream class would fall back to torch's 1e-5).
    """

    def __init__(self, dim_in: int = 3, dim_out: int = 3, dim_feat: int = 256, dim_rep: int = 512,
                 depth: int = 5, num_heads: int = 8, mlp_ratio: float = 4, num_joints: int = 17,
                 maxlen: int = 243, qkv_bias: bool = True, qk_scale: float | None = None,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 att_fuse: bool = True, layernorm_eps: float = 1e-6):
        super().__init__()
        self.dim_feat = dim_feat
        self.dim_rep = dim_rep
        self.depth = depth
        self.num_joints = num_joints
        self.maxlen = maxlen
        self.att_fuse = att_fuse

        # Registration order mirrors upstream's state-dict order (see dstformer_keys.json).
        self.joints_embed = nn.Linear(dim_in, dim_feat)
        self.pos_drop = nn.Dropout(drop_rate)
        # Stochastic-depth rate grows linearly with depth, shared by the two streams.
        # (plain Python so that construction also works under a "meta" device).
        dpr = [drop_path_rate * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]
        self.blocks_st = nn.ModuleList(
            _Block(dim_feat, num_heads, mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate,
                   dpr[i], layernorm_eps, "st") for i in range(depth))
        self.blocks_ts = nn.ModuleList(
            _Block(dim_feat, num_heads, mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate,
                   dpr[i], layernorm_eps, "ts") for i in range(depth))
        self.norm = nn.LayerNorm(dim_feat, eps=layernorm_eps)
        if dim_rep:
            self.pre_logits = nn.Sequential(OrderedDict(
                [("fc", nn.Linear(dim_feat, dim_rep)), ("act", nn.Tanh())]))
        else:
            self.pre_logits = nn.Identity()
            dim_rep = dim_feat
        self.head = nn.Linear(dim_rep, dim_out) if dim_out > 0 else nn.Identity()
        self.temp_embed = nn.Parameter(torch.zeros(1, maxlen, 1, dim_feat))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_joints, dim_feat))
        if att_fuse:
            self.ts_attn = nn.ModuleList(nn.Linear(dim_feat * 2, 2) for _ in range(depth))
        self._init_weights()

    def _init_weights(self) -> None:
        # Training-time init as upstream (trunc-normal std 0.02, zero biases,
        # unit LayerNorms); irrelevant once a checkpoint is loaded.
        nn.init.trunc_normal_(self.temp_embed, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.att_fuse:
            # Start the stream fusion as an exact 50/50 split.
            for fc in self.ts_attn:
                nn.init.zeros_(fc.weight)
                nn.init.constant_(fc.bias, 0.5)

    def forward(self, x: torch.Tensor, return_rep: bool = False) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected (B, T, J, C) input, got shape {tuple(x.shape)}")
        b, t, j, _ = x.shape
        if t > self.maxlen:
            raise ValueError(f"clip of {t} frames exceeds maxlen={self.maxlen}; split it into chunks")
        # Temporal embedding is cut to the clip length; joint embedding broadcasts over frames.
        x = self.joints_embed(x) + self.pos_embed.unsqueeze(1) + self.temp_embed[:, :t]
        x = self.pos_drop(x.reshape(b * t, j, self.dim_feat))  # batch-major (B*T, J, C)
        for i in range(self.depth):
            x_st = self.blocks_st[i](x, t)
            x_ts = self.blocks_ts[i](x, t)
            if self.att_fuse:
                # Per-token softmax weights: index 0 for the ST stream, 1 for TS.
                alpha = self.ts_attn[i](torch.cat([x_st, x_ts], dim=-1)).softmax(dim=-1)
                x = x_st * alpha[..., 0:1] + x_ts * alpha[..., 1:2]
            else:
                x = (x_st + x_ts) * 0.5
        x = self.norm(x).reshape(b, t, j, self.dim_feat)
        rep = self.pre_logits(x)
        if return_rep:
            return rep
        return self.head(rep)

    def get_representation(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, J, dim_in) -> (B, T, J, dim_rep) motion representation (after tanh)."""
        return self.forward(x, return_rep=True)
