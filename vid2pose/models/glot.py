"""GLoT: global-to-local transformer for video human mesh recovery (CVPR 2023).

Inference-only re-implementation written from ``shared/specs/glot.md``.  The
module maps a window of per-frame ResNet-50 features (B, T, 2048) to SMPL
parameters (6D pose / rotation matrices / betas / weak-perspective camera) of
the window's middle frame.  There is deliberately no SMPL layer in here: the
caller owns the body model (the official checkpoints embed SMPL arrays, which
:func:`glot_state_dict_from_checkpoint` drops).

Parameter names follow the official ``sxl142/GLoT`` state_dict so that a
released ``gen_state_dict`` loads with ``strict=True`` once the ``*.smpl.*``
entries are removed.  Dropout / drop-path / masking only matter in training and
are not implemented: ``forward`` always computes the eval-mode result.

Official quirks reproduced on purpose (they are baked into the released weights):

* the global IEF regressor defines ``fc2`` but never applies it, and there is
  no activation between ``fc1`` and the decoders;
* the kinematic-tree decoder (KTD) feeds joint ``j`` the slice
  ``p0[..., j : j + 6]`` of the initial 6D pose (one-element stride), not the
  joint's own 6D block;
* the cross-attention memory is the global *encoder* output, the decoder output
  only feeds the global regressor;
* the local branch reads the raw input features;
* the rotation-matrix -> axis-angle conversion is the legacy kornia quaternion
  route (on the transposed matrix), including its case split.
"""
from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "GLoT",
    "RELEASED_CONFIG",
    "SMPL_PARENTS",
    "ktd_ancestors",
    "rot6d_to_rotmat",
    "rotmat_to_axis_angle",
    "glot_state_dict_from_checkpoint",
]

# Constructor kwargs shared by the three released configs (spec 2.1).
RELEASED_CONFIG: dict[str, Any] = dict(
    seqlen=16, batch_size=64, n_layers=2, d_model=512, num_head=8, dropout=0.1,
    drop_path_r=0.2, atten_drop=0.0, mask_ratio=0.5, short_n_layers=3,
    short_d_model=256, short_num_head=8, short_dropout=0.1, short_drop_path_r=0.2,
    short_atten_drop=0.0, stride_short=4, drop_reg_short=0.25,
)

# SMPL kinematic tree (parent of each of the 24 joints).
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

_FEAT_DIM = 2048        # ResNet-50 feature size (fixed by the official code)
_NPOSE = 24 * 6         # 6D pose of 24 joints
_NSHAPE = 10
_NCAM = 3
_REG_HIDDEN = 1024      # global IEF regressor and HSCR hidden size
_IEF_ITERS = 3
_CROSS_HEADS = 8        # cross-attention heads are hard-coded officially
_LN_EPS = 1e-6


def ktd_ancestors(parents: tuple[int, ...] = SMPL_PARENTS) -> list[list[int]]:
    """Ancestors of every joint, root first (the KTD conditioning order)."""
    out: list[list[int]] = []
    for j in range(len(parents)):
        chain, p = [], parents[j]
        while p >= 0:
            chain.append(p)
            p = parents[p]
        out.append(chain[::-1])
    return out


# ---------------------------------------------------------------------------
# rotation helpers


def rot6d_to_rotmat(x: Tensor) -> Tensor:
    """(..., 6k) 6D rotations -> (..., k, 3, 3).

    Each group of 6 is a row-major 3x2 matrix (first two columns of R), as in
    SPIN; Gram-Schmidt with the official 1e-6 norm clamp (spec 2.6).
    """
    m = x.reshape(*x.shape[:-1], -1, 3, 2)
    a1, a2 = m[..., 0], m[..., 1]
    b1 = F.normalize(a1, dim=-1, eps=1e-6)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1, eps=1e-6)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def rotmat_to_axis_angle(rotmat: Tensor, eps: float = 1e-6) -> Tensor:
    """(..., 3, 3) -> (..., 3) via the legacy kornia quaternion route (spec 2.6).

    Kept bit-for-bit in spirit (same case split on M = R^T, same w < 0 folding)
    because near-pi rotations are ill-conditioned and another algorithm would
    give a different (equally valid) axis-angle vector.
    """
    m = rotmat.transpose(-1, -2)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]

    t0 = 1 + m00 - m11 - m22
    q0 = torch.stack((m12 - m21, t0, m01 + m10, m20 + m02), -1)
    t1 = 1 - m00 + m11 - m22
    q1 = torch.stack((m20 - m02, m01 + m10, t1, m12 + m21), -1)
    t2 = 1 - m00 - m11 + m22
    q2 = torch.stack((m01 - m10, m20 + m02, m12 + m21, t2), -1)
    t3 = 1 + m00 + m11 + m22
    q3 = torch.stack((t3, m12 - m21, m20 - m02, m01 - m10), -1)

    d2 = m22 < eps
    d0_d1 = m00 > m11
    d0_nd1 = m00 < -m11
    c0 = d2 & d0_d1
    c1 = d2 & ~d0_d1
    c2 = ~d2 & d0_nd1
    # c3 = the rest
    t = torch.where(c0, t0, torch.where(c1, t1, torch.where(c2, t2, t3)))
    q = torch.where(c0[..., None], q0, torch.where(c1[..., None], q1,
                                                   torch.where(c2[..., None], q2, q3)))
    q = q * (0.5 / torch.sqrt(t))[..., None]

    w, xyz = q[..., 0], q[..., 1:]
    n2 = (xyz * xyz).sum(-1)
    sn = torch.sqrt(n2)
    # fold w < 0 onto -q so the angle stays in [0, pi]
    angle2 = 2.0 * torch.where(w < 0, torch.atan2(-sn, -w), torch.atan2(sn, w))
    pos = n2 > 0
    k = torch.where(pos, angle2 / torch.where(pos, sn, torch.ones_like(sn)),
                    torch.full_like(sn, 2.0))
    aa = xyz * k[..., None]
    return torch.nan_to_num(aa, nan=0.0, posinf=float("inf"), neginf=float("-inf"))


# ---------------------------------------------------------------------------
# building blocks (names mirror the official modules)


class _Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        # channel layout of qkv is [q/k/v][head][head_dim]
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v)  # default scale = head_dim ** -0.5
        return self.proj(o.transpose(1, 2).reshape(b, n, c))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact (erf) GELU
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    """Pre-norm transformer block (spec 2.2)."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=_LN_EPS)
        self.attn = _Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=_LN_EPS)
        self.mlp = _Mlp(dim, mlp_hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def _run_blocks(x: Tensor, blocks: nn.ModuleList) -> Tensor:
    for blk in blocks:
        x = blk(x)
    return x


class _LocalEncoder(nn.Module):
    """``local_trans_en``: pos-embed + blocks + final norm over the 2s+1 local frames."""

    def __init__(self, length: int, dim: int, depth: int, num_heads: int):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, length, dim))
        self.blocks = nn.ModuleList(_Block(dim, num_heads, 4 * dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=_LN_EPS)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(_run_blocks(x + self.pos_embed, self.blocks))


class _GlobalTransformer(nn.Module):
    """``global_modeling.trans``: encoder (memory M) + narrower decoder.

    ``mask_token_mlp`` only produces mask tokens for masked pose modelling in
    training; it is kept so that checkpoints load strictly.
    """

    def __init__(self, seqlen: int, d_model: int, depth: int, num_heads: int):
        super().__init__()
        d_dec = d_model // 2
        self.pos_embed = nn.Parameter(torch.zeros(1, seqlen, d_model))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, seqlen, d_dec))
        self.mask_token_mlp = nn.Sequential(
            nn.Linear(_NPOSE + _NSHAPE + _NCAM, 256), nn.ReLU(inplace=True),
            nn.Linear(256, 512), nn.ReLU(inplace=True), nn.Linear(512, d_dec))
        self.blocks = nn.ModuleList(_Block(d_model, num_heads, 4 * d_model) for _ in range(depth))
        self.norm = nn.LayerNorm(d_model, eps=_LN_EPS)
        self.decoder_blocks = nn.ModuleList(
            _Block(d_dec, num_heads, 4 * d_dec) for _ in range(depth // 2))
        self.decoder_embed = nn.Linear(d_model, d_dec)
        self.decoder_norm = nn.LayerNorm(d_dec, eps=_LN_EPS)

    def encode(self, x: Tensor) -> Tensor:
        return self.norm(_run_blocks(x + self.pos_embed, self.blocks))

    def decode(self, mem: Tensor) -> Tensor:
        # eval: nothing is masked, so no shuffling and no mask tokens
        x = self.decoder_embed(mem) + self.decoder_pos_embed
        return self.decoder_norm(_run_blocks(x, self.decoder_blocks))


def _default_mean_pose() -> Tensor:
    # Placeholder until a checkpoint provides the SPIN mean pose: root = diag(1,-1,-1)
    # (pi about x, the SPIN convention), other joints identity.
    pose = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(24)
    pose[:6] = torch.tensor([1.0, 0.0, 0.0, -1.0, 0.0, 0.0])
    return pose[None]


class _GlobalRegressor(nn.Module):
    """``global_modeling.regressor``: SPIN-style IEF with ``fc2`` skipped (quirk)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("init_pose", _default_mean_pose())
        self.register_buffer("init_shape", torch.zeros(1, _NSHAPE))
        self.register_buffer("init_cam", torch.tensor([[0.9, 0.0, 0.0]]))
        self.fc1 = nn.Linear(_FEAT_DIM + _NPOSE + _NSHAPE + _NCAM, _REG_HIDDEN)
        self.fc2 = nn.Linear(_REG_HIDDEN, _REG_HIDDEN)  # in the weights, never applied
        self.decpose = nn.Linear(_REG_HIDDEN, _NPOSE)
        self.decshape = nn.Linear(_REG_HIDDEN, _NSHAPE)
        self.deccam = nn.Linear(_REG_HIDDEN, _NCAM)

    def forward(self, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        lead = g.shape[:-1]
        p = self.init_pose.expand(*lead, -1)
        b = self.init_shape.expand(*lead, -1)
        c = self.init_cam.expand(*lead, -1)
        for _ in range(_IEF_ITERS):
            h = self.fc1(torch.cat((g, p, b, c), -1))  # order [feature, pose, shape, cam]
            # quirk: no activation and no fc2 between fc1 and the decoders
            p = self.decpose(h) + p
            b = self.decshape(h) + b
            c = self.deccam(h) + c
        return p, b, c


class _GMM(nn.Module):
    """``global_modeling``: projection, global transformer, out_proj, regressor."""

    def __init__(self, seqlen: int, d_model: int, n_layers: int, num_head: int):
        super().__init__()
        self.proj = nn.Linear(_FEAT_DIM, d_model)
        self.trans = _GlobalTransformer(seqlen, d_model, n_layers, num_head)
        self.out_proj = nn.Linear(d_model // 2, _FEAT_DIM)
        self.regressor = _GlobalRegressor()


class _CrossAttention(nn.Module):
    """``local_trans_de``: bias-free q / kv projections, no residual, no norm."""

    def __init__(self, dim: int, num_heads: int = _CROSS_HEADS):
        super().__init__()
        self.num_heads = num_heads
        self.kv_l = nn.Linear(dim, dim * 2, bias=False)
        self.q_l = nn.Linear(dim, dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, query: Tensor, memory: Tensor) -> Tensor:
        b, nq, c = query.shape
        h, d = self.num_heads, c // self.num_heads
        q = self.q_l(query).reshape(b, nq, h, d).transpose(1, 2)
        # kv channel layout is [k/v][head][head_dim]
        k, v = self.kv_l(memory).reshape(b, memory.shape[1], 2, h, d).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v)
        return self.proj(o.transpose(1, 2).reshape(b, nq, c))


class _KTD(nn.Module):
    """``regressor.local_reg``: kinematic-tree 6D pose decoder.

    ``decshape`` / ``deccam`` exist in the checkpoints but are never used.
    """

    def __init__(self, hidden: int = _REG_HIDDEN):
        super().__init__()
        self.ancestors = ktd_ancestors()
        self.joint_regs = nn.ModuleList(
            nn.Linear(hidden + 6 * len(anc) + 6, 6) for anc in self.ancestors)
        self.decshape = nn.Linear(hidden, _NSHAPE)
        self.deccam = nn.Linear(hidden, _NCAM)

    def forward(self, hp: Tensor, p0: Tensor) -> Tensor:
        # quirk: joint j sees p0[..., j:j+6] (one-element stride), all 24 windows at once
        windows = p0.unfold(-1, 6, 1)
        deltas: list[Tensor] = []
        for j, (reg, anc) in enumerate(zip(self.joint_regs, self.ancestors)):
            # ancestors contribute their raw deltas (not p0 + delta)
            deltas.append(reg(torch.cat([hp, *(deltas[a] for a in anc), windows[..., j, :]], -1)))
        return torch.cat(deltas, -1)


class _HSCR(nn.Module):
    """``regressor``: one-step hierarchical spatial correlation regressor."""

    def __init__(self, dim: int, hidden: int = _REG_HIDDEN):
        super().__init__()
        self.fc1 = nn.Linear(dim + _NSHAPE, hidden)
        self.fc2 = nn.Linear(dim + _NPOSE, hidden)
        self.decshape = nn.Linear(hidden, _NSHAPE)
        self.deccam = nn.Linear(2 * hidden + _NCAM, _NCAM)
        self.local_reg = _KTD(hidden)

    def forward(self, z: Tensor, p0: Tensor, b0: Tensor, c0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        hs = self.fc1(torch.cat((z, b0), -1))   # no activations anywhere (official)
        hp = self.fc2(torch.cat((z, p0), -1))
        p = p0 + self.local_reg(hp, p0)
        b = b0 + self.decshape(hs)
        c = c0 + self.deccam(torch.cat((hp, hs, c0), -1))
        return p, b, c


# ---------------------------------------------------------------------------
# the network


class GLoT(nn.Module):
    """GLoT network (no SMPL layer). Keyword names follow the official constructor.

    ``forward(features)`` takes (B, seqlen, 2048) features and returns a dict for
    the window's middle frame ``seqlen // 2`` (see :meth:`forward`).
    """

    def __init__(
        self,
        seqlen: int = 16,
        batch_size: int = 64,
        n_layers: int = 2,
        d_model: int = 512,
        num_head: int = 8,
        dropout: float = 0.1,
        drop_path_r: float = 0.2,
        atten_drop: float = 0.0,
        mask_ratio: float = 0.5,
        short_n_layers: int = 3,
        short_d_model: int = 256,
        short_num_head: int = 8,
        short_dropout: float = 0.1,
        short_drop_path_r: float = 0.2,
        short_atten_drop: float = 0.0,
        stride_short: int = 4,
        drop_reg_short: float = 0.25,
        pretrained: str | None = None,
    ):
        super().__init__()
        # Constraints of the official architecture (spec 2.9).
        if short_d_model != 256:
            raise ValueError("short_d_model must be 256 (HSCR input sizes are fixed officially)")
        if short_d_model % short_num_head or short_d_model % _CROSS_HEADS:
            raise ValueError("short_d_model must be divisible by short_num_head and by 8")
        if d_model % 2 or d_model % num_head or (d_model // 2) % num_head:
            raise ValueError("d_model must be even and d_model, d_model/2 divisible by num_head")
        mid = seqlen // 2
        if stride_short < 1 or mid - stride_short < 0 or mid + stride_short >= seqlen:
            raise ValueError("local window 2*stride_short+1 must fit around seqlen // 2")
        # batch_size, dropout rates, mask_ratio and pretrained are training-only;
        # kept as attributes for reference.
        self.seqlen, self.mid, self.stride_short = seqlen, mid, stride_short
        self.config = dict(
            seqlen=seqlen, batch_size=batch_size, n_layers=n_layers, d_model=d_model,
            num_head=num_head, dropout=dropout, drop_path_r=drop_path_r, atten_drop=atten_drop,
            mask_ratio=mask_ratio, short_n_layers=short_n_layers, short_d_model=short_d_model,
            short_num_head=short_num_head, short_dropout=short_dropout,
            short_drop_path_r=short_drop_path_r, short_atten_drop=short_atten_drop,
            stride_short=stride_short, drop_reg_short=drop_reg_short)

        # Registration order = official state_dict order.
        self.proj_short = nn.Linear(_FEAT_DIM, short_d_model)
        self.proj_mem = nn.Linear(d_model, short_d_model)
        self.local_trans_de = _CrossAttention(short_d_model, _CROSS_HEADS)
        self.local_trans_en = _LocalEncoder(2 * stride_short + 1, short_d_model,
                                            short_n_layers, short_num_head)
        self.regressor = _HSCR(short_d_model)
        self.global_modeling = _GMM(seqlen, d_model, n_layers, num_head)

    # -- loading ----------------------------------------------------------

    def load_checkpoint(self, ckpt: Mapping[str, Any] | str | PathLike,
                        weights_only: bool = True) -> "GLoT":
        """Load a released checkpoint (dict with ``gen_state_dict``, a bare
        state_dict, or a path). ``*.smpl.*`` entries are dropped, the rest is
        loaded strictly. ``weights_only=False`` only for trusted files that the
        safe unpickler refuses (spec 3.2)."""
        if isinstance(ckpt, (str, PathLike)):
            ckpt = torch.load(ckpt, map_location="cpu", weights_only=weights_only)
        self.load_state_dict(glot_state_dict_from_checkpoint(ckpt), strict=True)
        return self

    @classmethod
    def from_checkpoint(cls, ckpt: Mapping[str, Any] | str | PathLike,
                        weights_only: bool = True, **config: Any) -> "GLoT":
        """Build (released config unless overridden) and load a checkpoint; eval mode."""
        model = cls(**{**RELEASED_CONFIG, **config})
        return model.load_checkpoint(ckpt, weights_only=weights_only).eval()

    # -- forward ------------------------------------------------------------

    def forward(self, features: Tensor, return_intermediates: bool = False) -> dict[str, Tensor]:
        """features (B, seqlen, 2048) -> dict (eval-mode result, middle frame).

        Keys: ``theta`` (B,85) = [cam 3, axis-angle 72, betas 10], ``pred_cam``,
        ``pred_pose_aa``, ``pred_betas``, ``rotmat`` (B,24,3,3), ``pred_pose_6d``
        (B,144), and the global-branch estimate (HSCR initialisation) with a
        window axis of length 1: ``global_pose_6d`` (B,1,144), ``global_betas``,
        ``global_cam``, ``global_rotmat`` (B,1,24,3,3), ``global_theta`` (B,1,85).
        With ``return_intermediates`` an ``intermediates`` sub-dict is added.
        """
        if features.ndim != 3 or features.shape[1] != self.seqlen or features.shape[2] != _FEAT_DIM:
            raise ValueError(f"expected (B, {self.seqlen}, {_FEAT_DIM}) features, got {tuple(features.shape)}")
        mid, s = self.mid, self.stride_short
        gm = self.global_modeling

        # global branch: encoder memory M, decoder, out_proj of the middle frame only
        mem = gm.trans.encode(gm.proj(features))
        dec = gm.trans.decode(mem)
        g = gm.out_proj(dec[:, mid:mid + 1])                        # (B,1,2048)
        gp, gb, gc = gm.regressor(g)                                # (B,1,·)

        # local branch: raw features of the 2s+1 frames around the middle frame
        loc = self.local_trans_en(self.proj_short(features[:, mid - s:mid + s + 1]))
        mem_proj = self.proj_mem(mem)                               # memory = encoder output (quirk)
        cross = self.local_trans_de(loc[:, s - 1:s + 2], mem_proj)  # (B,3,256)
        z = cross[:, 1:2]                                           # eval keeps the middle token

        p, b, c = self.regressor(z, gp, gb, gc)
        p, b, c = p[:, 0], b[:, 0], c[:, 0]

        rotmat = rot6d_to_rotmat(p)
        aa = rotmat_to_axis_angle(rotmat).flatten(-2)
        g_rotmat = rot6d_to_rotmat(gp)
        g_aa = rotmat_to_axis_angle(g_rotmat).flatten(-2)
        out = {
            "theta": torch.cat((c, aa, b), -1),
            "pred_cam": c,
            "pred_pose_aa": aa,
            "pred_betas": b,
            "rotmat": rotmat,
            "pred_pose_6d": p,
            "global_theta": torch.cat((gc, g_aa, gb), -1),
            "global_rotmat": g_rotmat,
            "global_pose_6d": gp,
            "global_betas": gb,
            "global_cam": gc,
        }
        if return_intermediates:
            out["intermediates"] = {
                "gmm_encoder_out": mem,
                "gmm_decoder_out": dec,
                "gmm_out_proj_all_frames": gm.out_proj(dec),
                "local_encoder_out": loc,
                "mem_proj": mem_proj,
                "cross_attn_out": cross,
            }
        return out


def glot_state_dict_from_checkpoint(ckpt: Mapping[str, Any]) -> dict[str, Tensor]:
    """Network state_dict from an official checkpoint dict.

    Accepts ``{'gen_state_dict': ...}`` or a bare state_dict; strips a
    defensive ``module.`` prefix and drops the embedded SMPL layer entries
    (``*.smpl.*``), which belong to the body model, not to the network.
    """
    sd = ckpt.get("gen_state_dict", ckpt)
    out: dict[str, Tensor] = {}
    for key, val in sd.items():
        if key.startswith("module."):
            key = key[len("module."):]
        if key.startswith("smpl.") or ".smpl." in key:
            continue
        out[key] = val
    return out
