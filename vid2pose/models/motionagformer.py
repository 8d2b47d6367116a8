"""MotionAGFormer lifter (TaatiTeam/MotionAGFormer @ 4756fd1), written from spec ssr-stf.md section 3.

Parameter and buffer names equal upstream's, so the released checkpoints load with
``load_state_dict(..., strict=True)`` once their ``module.`` prefix is stripped.
Only the released variant is implemented (not hierarchical, adaptive fusion,
temporal-similarity graph, no TCN, both streams); other flag values raise.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional

import torch
from torch import nn

from .blocks import ActLayer, AdaptiveFusion, MetaFormerBlock, SkeletonAttention

# Upstream's one-directional H36M neighbour table: joint i gathers from these joints.
# Deliberately not symmetric and without self-loops (spec 3.2).
H36M_GATHER = (
    (1, 7), (2, 0), (3, 1), (2,), (5, 0), (6, 4), (5,), (0, 8), (7, 9), (8, 10), (9,),
    (12, 8), (13, 11), (12,), (15, 8), (16, 14), (15,),
)


def _spatial_adjacency(num_joints: int) -> torch.Tensor:
    if num_joints != len(H36M_GATHER):
        raise ValueError(f"the spatial GCN is defined for the H36M-17 skeleton, got num_joints={num_joints}")
    a = torch.zeros(num_joints, num_joints)
    for i, nbrs in enumerate(H36M_GATHER):
        a[i, list(nbrs)] = 1.0
    return a


def _normalise_rows(a: torch.Tensor) -> torch.Tensor:
    """D^-1/2 A D^-1/2 with D = row sums used on both sides (A need not be symmetric)."""
    d = a.sum(-1).rsqrt()
    return d.unsqueeze(-1) * a * d.unsqueeze(-2)


class GraphConvMixer(nn.Module):
    """M(z) = ReLU(z + BN(Â V(z) + U(z))) over joints ("spatial") or frames ("temporal").

    Spatial: fixed skeleton graph, BatchNorm over the joint index.
    Temporal: per joint track, frame s is a neighbour of frame t iff the similarity
    z_t.z_s is >= the k-th largest in row t (ties add neighbours); BatchNorm over the
    frame index, which is why T is fixed to n_frames.
    """

    def __init__(self, dim: int, num_nodes: int, mode: str = "spatial", neighbour_num: int = 2):
        super().__init__()
        if mode not in ("spatial", "temporal"):
            raise ValueError(f"mode must be 'spatial' or 'temporal', got {mode!r}")
        self.mode = mode
        self.neighbour_num = int(neighbour_num)
        self.U = nn.Linear(dim, dim)
        self.V = nn.Linear(dim, dim)
        self.batch_norm = nn.BatchNorm1d(num_nodes)
        if mode == "spatial":
            # Not persistent: upstream has no adjacency entry in its state_dict.
            self.register_buffer("adj", _normalise_rows(_spatial_adjacency(num_nodes)), persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        B, T, J, C = z.shape
        if self.mode == "spatial":
            y = self.adj @ self.V(z) + self.U(z)  # (J, J) @ (B, T, J, C)
            # (B*T, J, C) is a free view: BatchNorm channels = joints.
            y = self.batch_norm(y.reshape(B * T, J, C)).reshape(B, T, J, C)
        else:
            zt = z.transpose(1, 2)  # (B, J, T, C): one track per joint
            sim = zt @ zt.transpose(-1, -2)
            tau = sim.topk(self.neighbour_num, dim=-1).values[..., -1:]
            adj = _normalise_rows((sim >= tau).to(z.dtype))
            y = (adj @ self.V(zt)).transpose(1, 2) + self.U(z)
            # (B, T, J*C): BatchNorm channels = frames, statistics over batch, joints and
            # channels -- the same sets as upstream's (B*J, T, C) layout.
            y = self.batch_norm(y.reshape(B, T, J * C)).reshape(B, T, J, C)
        return torch.relu(z + y)


class MotionAGFormerBlock(nn.Module):
    """Attention stream AT(AS(x)) and graph stream GT(GS(x)) on the same input,
    fused per token with softmax weights."""

    def __init__(self, dim: int, num_joints: int, n_frames: int, mlp_ratio: float, act_layer: ActLayer,
                 attn_drop: float, drop: float, drop_path: float, num_heads: int, qkv_bias: bool,
                 qk_scale: Optional[float], use_layer_scale: bool, layer_scale_init_value: float,
                 neighbour_num: int):
        super().__init__()
        sub = dict(mlp_ratio=mlp_ratio, act_layer=act_layer, drop=drop, drop_path=drop_path,
                   use_layer_scale=use_layer_scale, layer_scale_init_value=layer_scale_init_value)
        att = dict(num_heads=num_heads, qkv_bias=qkv_bias, qk_scale=qk_scale, attn_drop=attn_drop, proj_drop=drop)
        self.att_spatial = MetaFormerBlock(dim, SkeletonAttention(dim, mode="spatial", **att), **sub)
        self.att_temporal = MetaFormerBlock(dim, SkeletonAttention(dim, mode="temporal", **att), **sub)
        self.graph_spatial = MetaFormerBlock(dim, GraphConvMixer(dim, num_joints, "spatial"), **sub)
        self.graph_temporal = MetaFormerBlock(
            dim, GraphConvMixer(dim, n_frames, "temporal", neighbour_num=neighbour_num), **sub)
        self.fusion = AdaptiveFusion(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.att_temporal(self.att_spatial(x))
        g = self.graph_temporal(self.graph_spatial(x))
        return self.fusion(a, g)


class MotionAGFormer(nn.Module):
    """(B, T = n_frames, J, dim_in) 2D keypoints (x, y, confidence) -> (B, T, J, dim_out) 3D.

    Constructor arguments are upstream's (the keys of the released configs);
    ``act_layer`` is a name ("gelu" = exact erf GELU) or an nn.Module class/factory.
    ``drop_path`` is applied with the same rate in every sub-block (training only).
    """

    def __init__(self, n_layers: int = 16, dim_in: int = 3, dim_feat: int = 128, dim_rep: int = 512,
                 dim_out: int = 3, mlp_ratio: float = 4, act_layer: ActLayer = "gelu",
                 attn_drop: float = 0.0, drop: float = 0.0, drop_path: float = 0.0,
                 use_layer_scale: bool = True, layer_scale_init_value: float = 1e-5,
                 use_adaptive_fusion: bool = True, num_heads: int = 8, qkv_bias: bool = False,
                 qkv_scale: Optional[float] = None, hierarchical: bool = False, num_joints: int = 17,
                 use_temporal_similarity: bool = True, temporal_connection_len: int = 1,
                 use_tcn: bool = False, graph_only: bool = False, neighbour_num: int = 2,
                 n_frames: int = 243):
        super().__init__()
        # Variants absent from the released weights and not described by the spec:
        # refuse rather than guess upstream's behaviour.
        unsupported = {"hierarchical": (hierarchical, False), "use_tcn": (use_tcn, False),
                       "graph_only": (graph_only, False), "use_adaptive_fusion": (use_adaptive_fusion, True),
                       "use_temporal_similarity": (use_temporal_similarity, True)}
        bad = [f"{k}={v!r}" for k, (v, ok) in unsupported.items() if bool(v) != ok]
        if bad:
            raise NotImplementedError("MotionAGFormer: only the released variant is implemented; got " + ", ".join(bad))
        del temporal_connection_len  # only used when use_temporal_similarity is False
        self.n_frames = int(n_frames)
        self.num_joints = int(num_joints)

        self.pos_embed = nn.Parameter(torch.zeros(1, num_joints, dim_feat))
        self.joints_embed = nn.Linear(dim_in, dim_feat)
        self.norm = nn.LayerNorm(dim_feat)
        self.layers = nn.ModuleList(
            MotionAGFormerBlock(dim_feat, num_joints, n_frames, mlp_ratio, act_layer, attn_drop, drop,
                                drop_path, num_heads, qkv_bias, qkv_scale, use_layer_scale,
                                layer_scale_init_value, neighbour_num)
            for _ in range(n_layers))
        self.rep_logit = nn.Sequential(OrderedDict(fc=nn.Linear(dim_feat, dim_rep), act=nn.Tanh()))
        self.head = nn.Linear(dim_rep, dim_out)
        _init_weights(self)

    def forward(self, x: torch.Tensor, return_rep: bool = False) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.n_frames or x.shape[2] != self.num_joints:
            raise ValueError(f"MotionAGFormer expects (B, {self.n_frames}, {self.num_joints}, C) "
                             f"(T must equal n_frames), got {tuple(x.shape)}")
        x = self.joints_embed(x) + self.pos_embed
        for layer in self.layers:
            x = layer(x)
        rep = self.rep_logit(self.norm(x))
        return rep if return_rep else self.head(rep)


def _init_weights(model: nn.Module) -> None:
    """Truncated-normal Linear weights, zero biases; fusion layers keep their equal split."""
    for m in model.modules():
        if isinstance(m, AdaptiveFusion):
            continue
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    for name, p in model.named_parameters():
        if name.endswith("pos_embed"):
            nn.init.trunc_normal_(p, std=0.02)
