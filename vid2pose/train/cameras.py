"""Virtual cameras for training pairs: where a phone or a tripod would stand, and projection.

World: metres, Y up. Camera: x right, y down, z forward (the convention of
``vid2pose.lift.normalize.camera_to_25d``). All functions are vectorised over a batch
of windows (leading axis B).

Sampling (``sample_cameras``), per window:

* framing: "phone" (portrait 1080x1920 or landscape 1920x1080, horizontal field of
  view of the long side 60-78 deg, a little roll) or "tripod" (landscape 1920x1080 or
  1280x720, field of view 35-70 deg, no roll);
* azimuth 0..360 deg around the person (every side is seen), elevation -10..40 deg
  (below the hips to looking down from above);
* distance from the framing: the person's stature fills 35-90 % of the image height
  (phone) or 25-80 % (tripod); the camera is pushed back if the motion of the whole
  window would not stay in frame, and is never closer than 1.2 m;
* look-at point: the window's mean pelvis, raised 0..0.35 m, with a small random
  off-centre shift so the person is not always in the middle.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Cameras:
    R: np.ndarray  # (B, 3, 3) world -> camera rotation
    C: np.ndarray  # (B, 3) camera centres (world)
    K: np.ndarray  # (B, 3, 3) intrinsics
    size: np.ndarray  # (B, 2) image width, height

    def to_camera(self, X: np.ndarray) -> np.ndarray:
        """(B, ..., 3) world -> camera coordinates."""
        B = X.shape[0]
        Xf = X.reshape(B, -1, 3) - self.C[:, None]
        return np.einsum("bij,bnj->bni", self.R, Xf).reshape(X.shape)

    def project(self, Xc: np.ndarray) -> np.ndarray:
        """(B, ..., 3) camera coordinates -> (B, ..., 2) pixels."""
        B = Xc.shape[0]
        sh = (B,) + (1,) * (Xc.ndim - 2)
        fx, fy = self.K[:, 0, 0].reshape(sh), self.K[:, 1, 1].reshape(sh)
        cx, cy = self.K[:, 0, 2].reshape(sh), self.K[:, 1, 2].reshape(sh)
        z = np.maximum(Xc[..., 2], 1e-3)
        return np.stack([fx * Xc[..., 0] / z + cx, fy * Xc[..., 1] / z + cy], -1)


def look_at(C: np.ndarray, target: np.ndarray, roll: np.ndarray | None = None) -> np.ndarray:
    """(B, 3) centres and targets -> (B, 3, 3) world->camera rotations (x right, y down)."""
    z = target - C
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    down = np.array([0.0, -1.0, 0.0])
    x = np.cross(down, z)
    x /= np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)
    y = np.cross(z, x)
    R = np.stack([x, y, z], 1)  # rows are the camera axes in world coordinates
    if roll is not None:
        c, s = np.cos(roll), np.sin(roll)
        Rr = np.zeros((len(roll), 3, 3))
        Rr[:, 0, 0], Rr[:, 0, 1], Rr[:, 1, 0], Rr[:, 1, 1], Rr[:, 2, 2] = c, -s, s, c, 1
        R = Rr @ R
    return R


def intrinsics(width: np.ndarray, height: np.ndarray, hfov_long_deg: np.ndarray) -> np.ndarray:
    """Pinhole K with the principal point at the centre; the field of view is that of the long side."""
    long = np.maximum(width, height)
    f = (long / 2) / np.tan(np.deg2rad(hfov_long_deg) / 2)
    K = np.zeros((len(f), 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = f
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = width / 2, height / 2, 1
    return K


def sample_cameras(rng: np.random.Generator, joints: np.ndarray, cfg: dict | None = None) -> Cameras:
    """Cameras for a batch of windows of world joints (B, T, 17, 3) metres, Y up."""
    cfg = dict(cfg or {})
    B = joints.shape[0]
    el_lo, el_hi = cfg.get("elevation_deg", (-10.0, 40.0))
    phone = rng.random(B) < cfg.get("phone_fraction", 0.6)
    portrait = phone & (rng.random(B) < 0.6)
    W = np.where(portrait, 1080.0, 1920.0)
    H = np.where(portrait, 1920.0, 1080.0)
    small = (~phone) & (rng.random(B) < 0.3)
    W, H = np.where(small, 1280.0, W), np.where(small, 720.0, H)
    fov = np.where(phone, rng.uniform(60, 78, B), rng.uniform(35, 70, B))
    K = intrinsics(W, H, fov)
    f = K[:, 0, 0]

    pelvis = joints[:, :, 0]  # (B, T, 3)
    centre = pelvis.mean(1)
    stature = np.linalg.norm(joints[:, :, 10] - joints[:, :, 3], axis=-1).max(1) * 1.05 + 0.05
    frac = np.where(phone, rng.uniform(0.35, 0.9, B), rng.uniform(0.25, 0.8, B))
    d = f * stature / (frac * H)
    # keep the window's horizontal travel inside the narrow side of the image
    spread = np.linalg.norm(pelvis[:, :, [0, 2]] - centre[:, None, [0, 2]], axis=-1).max(1)
    need = (2 * spread + 0.6 * stature) * f / np.minimum(W, H) * 1.1
    d = np.maximum(np.maximum(d, need), cfg.get("min_distance", 1.2)) + spread

    az = rng.uniform(0, 2 * np.pi, B)
    el = np.deg2rad(rng.uniform(el_lo, el_hi, B))
    target = centre + np.stack([np.zeros(B), rng.uniform(0.0, 0.35, B), np.zeros(B)], -1)
    offs = rng.normal(0, 1, (B, 3)) * (0.08 * stature)[:, None]
    offs[:, 1] *= 0.5
    target = target + offs
    dirn = np.stack([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)], -1)
    C = target + d[:, None] * dirn
    roll = np.where(phone, rng.normal(0, np.deg2rad(3), B), 0.0)
    R = look_at(C, target, roll)
    return Cameras(R=R, C=C, K=K, size=np.stack([W, H], -1))
