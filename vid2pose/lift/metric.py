"""From 2.5D pixels to metres: body scale from bone lengths, camera-space root from the 2D projection.

Scale. A lifter's output is root-relative in pixels at the person's depth; its
proportions are right but not its size. We scale it so that the person's standing
height is ``height`` metres (default 1.70 m, a typical adult). The standing height is
taken from median bone lengths: the chain ankle-knee-hip (left and right legs averaged),
pelvis-thorax, thorax-head top, divided by ``CHAIN_PER_HEIGHT`` (the share of the height
this chain spans, measured on bodies of known height). A pixel at the person's depth is
more metres the farther away they are, so the scale follows the depth: per frame, from
the bones' medians over the two seconds around it (``metric_scales``); one scale for the
whole track would make a person walking away from the camera shrink.

Root trajectory. With the metric root-relative joints P_j and their 2D detections
(u_j, v_j), a pinhole camera (focal f, centre c) sees u_j - c_x = f (P_jx + T_x) /
(P_jz + T_z); this is linear in the root position T, so T is solved per frame by
confidence-weighted least squares over the 17 joints (x and y equations), then
lightly smoothed in time. The focal length is ``--focal`` pixels, or assumed from
a 60 degree field of view on the frame's long side.
"""
from __future__ import annotations

import numpy as np

ANKLE_HEIGHT = 0.08  # metres from the floor to the ankle joint centre
# chain_length / standing height (floor to head top), measured on the anny body with the shared
# joint definitions (vid2pose.render.body.anny_h36m_joints): 0.957-0.966 (median 0.962) over the 12
# bodies (1.36-2.08 m) and motions of benchmarks/accuracy.py, the height being the rest mesh's extent.
# The chain and rule this replaced (pelvis-spine-thorax-nose-head top, plus a fixed 8 cm for the ankle)
# zig-zagged through the nose tip: every metric output came out about 5 % too small.
CHAIN_PER_HEIGHT = 0.962
_LEGS = ((3, 2), (2, 1), (6, 5), (5, 4))  # ankle-knee, knee-hip, right then left
_TRUNK = ((0, 8), (8, 10))  # pelvis-thorax, thorax-head top: straight, not through spine and nose
DEFAULT_FOV_DEG = 60.0


def _chain_bones(pose: np.ndarray) -> np.ndarray:
    """(F, 6) lengths of the chain's bones (``_LEGS`` then ``_TRUNK``) in a (F, 17, 3) sequence."""
    return np.stack([np.linalg.norm(pose[:, a] - pose[:, b], axis=-1) for a, b in _LEGS + _TRUNK], -1)


def _chain(bones: np.ndarray) -> np.ndarray:
    """(..., 6) chain bone lengths -> the ankle-to-head-top chain (the two legs averaged)."""
    return bones[..., :4].sum(-1) / 2 + bones[..., 4:].sum(-1)


def chain_length(pose: np.ndarray) -> float:
    """Median-bone length of the ankle-to-head-top chain of a (F, 17, 3) sequence."""
    return float(_chain(np.median(_chain_bones(pose), 0)))


def standing_height(pose: np.ndarray) -> float:
    """The standing height (floor to head top) of a (F, 17, 3) sequence, in its own units (metres if metric)."""
    return chain_length(pose) / CHAIN_PER_HEIGHT


def _running_median(x: np.ndarray, window: int) -> np.ndarray:
    """Median over ``window`` (odd) samples centred on each one, along axis 0. Near the ends the window
    shrinks but stays centred, so a steady trend (a person walking away) is followed without lag."""
    from numpy.lib.stride_tricks import sliding_window_view

    n, half = len(x), min(window // 2, (len(x) - 1) // 2)
    mid = np.median(sliding_window_view(x, 2 * half + 1, axis=0), -1)  # centred on half .. n - half - 1
    head = [np.median(x[:2 * i + 1], 0) for i in range(half)]
    tail = [np.median(x[2 * i - n + 1:], 0) for i in range(n - half, n)]
    return np.concatenate([np.reshape(head, (-1,) + x.shape[1:]), mid, np.reshape(tail, (-1,) + x.shape[1:])])


def metric_scales(pose: np.ndarray, height: float, window: int = 61) -> np.ndarray:
    """Per-frame factors (F,) that turn the (F, 17, 3) root-relative pose (pixels at the person's depth)
    into metres for a person ``height`` m tall: the chain of ``chain_length`` from the bones' running
    medians over ``window`` frames, so the factor follows the person's distance but not single-frame
    errors. Frames whose chain cannot be measured take the nearest measured factor; 0 if none can."""
    chain = _chain(_running_median(_chain_bones(pose), window))
    good = np.isfinite(chain) & (chain > 1e-9)
    if not good.any():
        return np.zeros(len(pose))
    idx = np.arange(len(pose))
    chain = np.interp(idx, idx[good], chain[good])
    return height * CHAIN_PER_HEIGHT / chain


def default_focal(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG) -> float:
    return 0.5 * max(width, height) / np.tan(np.radians(fov_deg) / 2)


def root_trajectory(rel_m: np.ndarray, kp2d: np.ndarray, focal: float, cx: float, cy: float,
                    smooth_sigma: float = 1.0, min_depth: float = 0.3) -> np.ndarray:
    """Camera-space root positions (F, 3) from metric root-relative joints and 2D keypoints."""
    P = rel_m.astype(np.float64)
    u = kp2d[..., 0].astype(np.float64) - cx
    v = kp2d[..., 1].astype(np.float64) - cy
    w = np.sqrt(np.clip(kp2d[..., 2], 1e-3, 1).astype(np.float64))
    F, J = u.shape
    # Rows: f*Tx - u*Tz = u*Pz - f*Px ;  f*Ty - v*Tz = v*Pz - f*Py
    A = np.zeros((F, 2 * J, 3))
    b = np.zeros((F, 2 * J))
    A[:, :J, 0], A[:, :J, 2], b[:, :J] = focal, -u, u * P[..., 2] - focal * P[..., 0]
    A[:, J:, 1], A[:, J:, 2], b[:, J:] = focal, -v, v * P[..., 2] - focal * P[..., 1]
    ww = np.concatenate([w, w], 1)
    A, b = A * ww[..., None], b * ww
    AtA = np.einsum("fji,fjk->fik", A, A) + 1e-9 * np.eye(3)
    Atb = np.einsum("fji,fj->fi", A, b)
    T = np.linalg.solve(AtA, Atb[..., None])[..., 0]
    T[:, 2] = np.maximum(T[:, 2], min_depth)
    if smooth_sigma > 0 and F > 2:
        T = gaussian_smooth(T, smooth_sigma)
    return T.astype(np.float32)


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian filter along axis 0 with edge padding (no shrinking at the ends)."""
    r = max(1, int(round(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.concatenate([np.repeat(x[:1], r, 0), x, np.repeat(x[-1:], r, 0)])
    return np.stack([np.convolve(pad[:, c], k, mode="valid") for c in range(x.shape[1])], 1)
