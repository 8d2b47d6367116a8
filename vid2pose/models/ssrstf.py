"""SSR-STF lifter: our working design of spec ssr-stf.md section 1.4.

The SSR-STF authors (poker-xu/SSR-STF) have released no code or weights, so this
is an inference from the paper's abstract and the lineage it credits, not a
reproduction: MotionAGFormer with its GCN stream replaced by an "SSRFormer"
stream whose mixer (SSRA) is an LSKNet-style large selective kernel along one
skeleton axis (variant A of 1.4.3). Parameter names are ours.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ActLayer, AdaptiveFusion, MetaFormerBlock, SkeletonAttention, make_activation

# Named sizes of spec 1.4.5 (suggested clip length in "n_frames": a hint only,
# the model has no T-sized parameter).
SSRSTF_SIZES = {
    "xs": dict(n_layers=12, dim_feat=64, n_frames=27),
    "s": dict(n_layers=26, dim_feat=64, n_frames=81),
    "b": dict(n_layers=16, dim_feat=128, n_frames=243),
    "l": dict(n_layers=26, dim_feat=128, n_frames=243),
}
# Parameter counts the spec gives for the default kernels (1.4.5 table).
SSRSTF_SPEC_PARAMS = {"xs": 2_408_619, "s": 5_176_335, "b": 12_556_131, "l": 20_359_631}


class SSRA(nn.Module):
    """Skeleton selective refine attention along one axis of (B, T, J, C) (spec 1.4.3, variant A).

    p = act(W_in z); a1 = DW_k1(p); a2 = DW_k2,d(a1); u1 = W1 a1, u2 = W2 a2 (C -> C/2);
    sel = sigmoid(Conv_2->2([mean_c; max_c] of [u1; u2])); A = W3(sel0 u1 + sel1 u2);
    out = W_out(p * A) + z. All convolutions run along ``axis`` only, zero "same" padding.

    The work is done with 2-D convolutions whose kernels are 1 wide on the other axis,
    on a (B, C, T, J) permuted view of the channel-last input: that view is already in
    channels_last memory format, so no copies are made and every frame/joint is batched.
    """

    def __init__(self, dim: int, axis: str = "temporal", kernel_local: int = 5, kernel_wide: int = 7,
                 dilation: int = 3, select_kernel: int = 7, act_layer: ActLayer = "gelu"):
        super().__init__()
        if axis not in ("spatial", "temporal"):
            raise ValueError(f"axis must be 'spatial' or 'temporal', got {axis!r}")
        self.axis = axis

        def along(k: int):  # kernel/dilation shape acting on T ("temporal") or J ("spatial")
            return (k, 1) if axis == "temporal" else (1, k)

        half = max(1, dim // 2)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.act = make_activation(act_layer)
        self.dw_local = nn.Conv2d(dim, dim, along(kernel_local), padding="same", groups=dim)
        self.dw_wide = nn.Conv2d(dim, dim, along(kernel_wide), padding="same", dilation=along(dilation), groups=dim)
        self.reduce_local = nn.Conv2d(dim, half, 1)
        self.reduce_wide = nn.Conv2d(dim, half, 1)
        self.select = nn.Conv2d(2, 2, along(select_kernel), padding="same")
        self.expand = nn.Conv2d(half, dim, 1)
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def wide(self, x: torch.Tensor) -> torch.Tensor:
        """``dw_wide(x)``, with the dilated kernel spread out into an undilated one with zeros between its
        taps: the same sums, but oneDNN's dilated depthwise convolution took about 4 times as long
        (fwd + bwd of the temporal one on (16, 64, 27, 17), one thread: 9.2 against 2.4 ms)."""
        conv = self.dw_wide
        ax = 2 if self.axis == "temporal" else 3
        d = conv.dilation[ax - 2]
        if d == 1:
            return conv(x)
        w = conv.weight
        shape = list(w.shape)
        shape[ax] = (w.shape[ax] - 1) * d + 1
        spread = w.new_zeros(shape)
        spread[(slice(None),) * ax + (slice(None, None, d),)] = w
        return F.conv2d(x, spread, conv.bias, padding="same", groups=conv.groups)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        zc = z.permute(0, 3, 1, 2)  # (B, C, T, J) view, channels_last strides
        p = self.act(self.proj_in(zc))
        a1 = self.dw_local(p)
        a2 = self.wide(a1)
        u1 = self.reduce_local(a1)
        u2 = self.reduce_wide(a2)
        # Channel mean and max of [u1; u2] without materialising the concatenation.
        mean = (u1.sum(1, keepdim=True) + u2.sum(1, keepdim=True)) / (u1.shape[1] + u2.shape[1])
        peak = torch.maximum(u1.amax(1, keepdim=True), u2.amax(1, keepdim=True))
        sel = torch.sigmoid(self.select(torch.cat((mean, peak), dim=1)))
        attn = self.expand(sel[:, 0:1] * u1 + sel[:, 1:2] * u2)
        out = self.proj_out(p * attn) + zc
        return out.permute(0, 2, 3, 1)  # back to (B, T, J, C)


class SSRSTFBlock(nn.Module):
    """STFormer stream AT(AS(x)) and SSRFormer stream RT(RS(x)) on the same input,
    fused per token with softmax weights (spec 1.4.2)."""

    def __init__(self, dim: int, mlp_ratio: float, act_layer: ActLayer, attn_drop: float, drop: float,
                 drop_path: float, num_heads: int, qkv_bias: bool, qk_scale: Optional[float],
                 use_layer_scale: bool, layer_scale_init_value: float,
                 joint_kernels: Sequence[int], frame_kernels: Sequence[int], select_kernel: int):
        super().__init__()
        sub = dict(mlp_ratio=mlp_ratio, act_layer=act_layer, drop=drop, drop_path=drop_path,
                   use_layer_scale=use_layer_scale, layer_scale_init_value=layer_scale_init_value)
        att = dict(num_heads=num_heads, qkv_bias=qkv_bias, qk_scale=qk_scale, attn_drop=attn_drop, proj_drop=drop)
        jk1, jk2, jd = joint_kernels
        fk1, fk2, fd = frame_kernels
        self.att_spatial = MetaFormerBlock(dim, SkeletonAttention(dim, mode="spatial", **att), **sub)
        self.att_temporal = MetaFormerBlock(dim, SkeletonAttention(dim, mode="temporal", **att), **sub)
        self.ssr_spatial = MetaFormerBlock(
            dim, SSRA(dim, "spatial", jk1, jk2, jd, select_kernel, act_layer), **sub)
        self.ssr_temporal = MetaFormerBlock(
            dim, SSRA(dim, "temporal", fk1, fk2, fd, select_kernel, act_layer), **sub)
        self.fusion = AdaptiveFusion(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.att_temporal(self.att_spatial(x))
        q = self.ssr_temporal(self.ssr_spatial(x))
        return self.fusion(s, q)


class SSRSTF(nn.Module):
    """SSR-STF lifter, our working design (spec ssr-stf.md 1.4) -- NOT the authors' model.

    The authors published no code or weights; this design is inferred from the
    paper's abstract and the code lineage it credits (MotionAGFormer with its GCN
    stream replaced by an SSRA stream). It must be trained by us.

    (B, T, J, dim_in) keypoints (x, y, confidence) -> (B, T, J, dim_out); any T >= 1
    (no parameter depends on T). Named sizes: ``SSRSTF_SIZES`` / :meth:`from_size`.
    ``joint_kernels`` / ``frame_kernels`` are (k1, k2, dilation) of the SSRA mixers.
    ``n_frames`` is accepted only as the suggested clip length; it changes nothing.
    """

    def __init__(self, n_layers: int = 16, dim_in: int = 3, dim_feat: int = 128, dim_rep: int = 512,
                 dim_out: int = 3, mlp_ratio: float = 4, act_layer: ActLayer = "gelu",
                 attn_drop: float = 0.0, drop: float = 0.0, drop_path: float = 0.0,
                 use_layer_scale: bool = True, layer_scale_init_value: float = 1e-5,
                 num_heads: int = 8, qkv_bias: bool = False, qkv_scale: Optional[float] = None,
                 num_joints: int = 17, joint_kernels: Sequence[int] = (3, 3, 2),
                 frame_kernels: Sequence[int] = (5, 7, 3), select_kernel: int = 7,
                 n_frames: Optional[int] = None):
        super().__init__()
        if len(joint_kernels) != 3 or len(frame_kernels) != 3:
            raise ValueError("joint_kernels and frame_kernels must be (k1, k2, dilation)")
        self.num_joints = int(num_joints)
        self.n_frames = n_frames  # informational only

        self.pos_embed = nn.Parameter(torch.zeros(1, num_joints, dim_feat))
        self.joints_embed = nn.Linear(dim_in, dim_feat)
        self.norm = nn.LayerNorm(dim_feat)
        self.layers = nn.ModuleList(
            SSRSTFBlock(dim_feat, mlp_ratio, act_layer, attn_drop, drop, drop_path, num_heads, qkv_bias,
                        qkv_scale, use_layer_scale, layer_scale_init_value,
                        tuple(joint_kernels), tuple(frame_kernels), int(select_kernel))
            for _ in range(n_layers))
        self.rep_logit = nn.Sequential(OrderedDict(fc=nn.Linear(dim_feat, dim_rep), act=nn.Tanh()))
        self.head = nn.Linear(dim_rep, dim_out)
        self._init_weights()

    @classmethod
    def from_size(cls, name: str, **overrides) -> "SSRSTF":
        """Build a named size of spec 1.4.5 ("xs", "s", "b", "l"), with optional overrides."""
        try:
            kwargs = dict(SSRSTF_SIZES[name.lower()])
        except KeyError:
            raise ValueError(f"unknown SSRSTF size {name!r}; known: {sorted(SSRSTF_SIZES)}") from None
        kwargs.update(overrides)
        return cls(**kwargs)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, AdaptiveFusion):
                continue  # keeps its equal split
            # Convolutions keep PyTorch's fan-in init: a tiny std on the small
            # depthwise kernels would shrink the SSRA attention map towards zero.
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, x: torch.Tensor, return_rep: bool = False) -> torch.Tensor:
        if x.dim() != 4 or x.shape[2] != self.num_joints or x.shape[1] < 1:
            raise ValueError(f"SSRSTF expects (B, T>=1, {self.num_joints}, C), got {tuple(x.shape)}")
        x = self.joints_embed(x) + self.pos_embed
        for layer in self.layers:
            x = layer(x)
        rep = self.rep_logit(self.norm(x))
        return rep if return_rep else self.head(rep)
