"""Pixels <-> the lifters' normalised units (spec ssr-stf.md 2.3 and 2.6).

Two conventions, one per checkpoint family:

* "screen": x = 2u/W - 1, y = 2v/W - H/W (both axes divided by the frame width).
  The official Human3.6M checkpoints of MotionAGFormer and MotionBERT use it.
* "box": a square box around the valid joints of one window, side s, lower
  corner (x0, y0): x = 2(u - x0)/s - 1, y = 2(v - y0)/s - 1. The project's
  SSR-STF trains and runs with it: the person fills the same range whatever the
  camera distance or frame size, which matters with little training data.

Depth uses the same scale as x (z_norm = 2 z_px / scale), so a network output
maps back to "2.5D pixels": u, v of each joint and its depth relative to the
root in pixel units at the root's distance. The metric step is in metric.py.
Training targets are built with `camera_to_25d`, so training and inference share
every convention here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Norm:
    """An affine map pixels -> model units: x_n = 2 (u - x0) / s - 1 (same for y with y0)."""

    x0: float
    y0: float
    s: float

    def to_model(self, xy: np.ndarray) -> np.ndarray:
        out = np.array(xy, dtype=np.float32, copy=True)
        out[..., 0] = 2 * (out[..., 0] - self.x0) / self.s - 1
        out[..., 1] = 2 * (out[..., 1] - self.y0) / self.s - 1
        return out

    def to_pixels(self, pose: np.ndarray) -> np.ndarray:
        """(..., 3) model-unit pose -> u, v in pixels and depth in pixels (2.5D)."""
        out = np.array(pose, dtype=np.float32, copy=True)
        out[..., 0] = (out[..., 0] + 1) * self.s / 2 + self.x0
        out[..., 1] = (out[..., 1] + 1) * self.s / 2 + self.y0
        out[..., 2] = out[..., 2] * self.s / 2
        return out

    def depth_to_model(self, z_px: np.ndarray) -> np.ndarray:
        return 2 * np.asarray(z_px, np.float32) / self.s


def screen_norm(width: int, height: int) -> Norm:
    # x = 2u/W - 1 and y = 2v/W - H/W are the affine map above with s = W, x0 = 0, y0 = (H - W) / 2.
    return Norm(x0=0.0, y0=(height - width) / 2.0, s=float(width))


def box_norm(kp: np.ndarray, min_conf: float = 0.05, margin: float = 0.0) -> Norm | None:
    """Square box around the confident joints of a window (T, 17, 3); None if too few points."""
    kp = np.asarray(kp)
    ok = kp[..., 2] > min_conf
    if ok.sum() < 4:
        return None
    xy = kp[..., :2][ok]
    lo, hi = xy.min(0), xy.max(0)
    s = float(max(hi[0] - lo[0], hi[1] - lo[1])) * (1 + margin)
    if s <= 1e-6:
        return None
    cx, cy = (lo + hi) / 2
    return Norm(x0=float(cx - s / 2), y0=float(cy - s / 2), s=s)


def normalize_window(kp: np.ndarray, mode: str, width: int | None = None, height: int | None = None,
                     ) -> tuple[np.ndarray, Norm | None]:
    """(T, 17, 3) pixels + confidence -> model input (T, 17, 3) and the map used (None: all zeros)."""
    if mode == "screen":
        norm = screen_norm(int(width), int(height))
    elif mode == "box":
        norm = box_norm(kp)
        if norm is None:  # as the lineage does: an input with no usable points becomes zeros
            return np.zeros_like(kp, dtype=np.float32), None
    else:
        raise ValueError(f"unknown normalisation {mode!r}")
    out = norm.to_model(kp)
    out[..., 2] = np.clip(np.asarray(kp)[..., 2], 0, 1)
    return out, norm


def camera_to_25d(joints_cam: np.ndarray, K: np.ndarray, root: int = 0) -> np.ndarray:
    """(..., J, 3) camera-space metres (x right, y down, z forward) -> 2.5D pixels.

    u, v: the perspective projection of each joint; depth: (Z_j - Z_root) * f / Z_root,
    i.e. the depth offset in pixels at the root's distance. A lifter trained on these
    targets predicts what `Norm.to_pixels` maps back.
    """
    X = np.asarray(joints_cam, np.float64)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    z = X[..., 2]
    uv = np.stack([fx * X[..., 0] / z + cx, fy * X[..., 1] / z + cy], -1)
    zr = z[..., root:root + 1]
    depth = (z - zr) * fx / zr
    return np.concatenate([uv, depth[..., None]], -1).astype(np.float32)
