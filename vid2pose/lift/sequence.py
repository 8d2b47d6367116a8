"""Any-length 2D tracks -> root-relative 3D, through a lifter with a fixed clip length.

A track is made dense (gaps interpolated and flagged), resampled to the lifter's
frame rate, cut into windows of the lifter's clip length T that overlap by three quarters,
normalised, lifted in batches (with flip averaging), mapped back to pixels (camera space
at the person's depth when the focal length is given, 2.5D otherwise) and blended with linear cross-fades, so window borders show no jump.

Recentring (lifters with "box" normalisation, when the camera's focal length is known or assumed).
A box-normalised window tells the network nothing about where the person is in the frame, and it
was trained on people near the optical axis, so what it predicts is the pose as a camera looking
straight at the person sees it. For a person off to the side (angle a from the axis) that is the
camera-space pose turned by a: a hand 30 cm to the side of the pelvis gets a depth of 30 cm * sin a
that it does not have. So each window is first seen through a virtual camera with the same lens,
turned (pan, then tilt, no roll) to look where the training cameras look (``AIM_ABOVE_BOX_CENTRE``):
the keypoints go through the homography K R K^-1, the network lifts them, each joint is put on its
own ray at its own depth (``back_project``) and the result is turned back by R^T.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vid2pose.lift.loading import LoadedLifter
from vid2pose.lift.normalize import box_norm, normalize_window


# Where the training cameras' optical axis meets the image, in box sides above the centre of the
# window's keypoint box: they look at the pelvis raised 0-0.35 m (vid2pose.train.cameras). Measured
# over 2,560 training windows: 0.118 above (std 0.10), 0.001 to the side. The virtual camera aims
# there too, so the network sees the framing it was trained on.
AIM_ABOVE_BOX_CENTRE = 0.118


@dataclass
class LiftOptions:
    flip: bool | None = None  # None: what the lifter was released with
    batch_size: int = 64  # windows per forward pass
    half: bool = False  # float16 on CUDA
    hops: int | None = None  # windows start every T // hops frames; None: the lifter's own (registry)
    recentre: bool = True  # look at each window through a virtual camera aimed at the person (box lifters)


def dense_track(frame_indices: np.ndarray, kp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill the frames between detections by linear interpolation.

    Returns (frames (N,), keypoints (N, 17, 3), interpolated (N,) bool) over first..last.
    Interpolated frames keep half the interpolated confidence: the network is told to trust them less.
    """
    frames = np.arange(frame_indices[0], frame_indices[-1] + 1)
    flat = kp.reshape(len(kp), -1)
    dense = np.stack([np.interp(frames, frame_indices, flat[:, c]) for c in range(flat.shape[1])], -1)
    dense = dense.reshape(len(frames), *kp.shape[1:]).astype(np.float32)
    interpolated = ~np.isin(frames, frame_indices)
    dense[interpolated, :, 2] *= 0.5
    return frames, dense, interpolated


def resample(x: np.ndarray, n_out: int) -> np.ndarray:
    """Linear resampling of a (N, ...) sequence to n_out samples over the same time span."""
    n = len(x)
    if n_out == n:
        return x
    src = np.linspace(0, n - 1, n_out)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = (src - lo).reshape(-1, *([1] * (x.ndim - 1)))
    return ((1 - w) * x[lo] + w * x[hi]).astype(x.dtype)


def window_starts(n: int, T: int, hops: int = 4) -> list[int]:
    """Starts of windows of length T covering 0..n-1, a quarter window apart; the last one ends at n.

    Every frame is seen by up to four windows: their blend hides the differences between windows
    (measured: with half overlap a random network's window borders showed 1.4x the acceleration
    of the rest, with three-quarter overlap under 1.2x)."""
    if n <= T:
        return [0]
    stride = max(1, T // hops)
    starts = list(range(0, n - T + 1, stride))
    if starts[-1] != n - T:
        starts.append(n - T)
    return starts


def blend_weights(T: int) -> np.ndarray:
    """Hann window: at a quarter-window hop neighbours sum to a constant, and the weights start and end
    with zero slope, so a difference between two windows fades in without a kink (a linear ramp
    leaves an acceleration spike where it starts). Never exactly zero."""
    t = np.arange(T, dtype=np.float32)
    return np.sin(np.pi * (t + 0.5) / T) ** 2 + 1e-4


def _fit_short(kp: np.ndarray, T: int, policy: str) -> tuple[np.ndarray, np.ndarray]:
    """A clip shorter than T as the official code feeds it. Returns (input, index map back)."""
    n = len(kp)
    if policy == "cut":  # DSTformer: any T' <= maxlen works as it is
        return kp, np.arange(n)
    if policy == "resample":  # MotionAGFormer demo: frames repeated to fill T
        idx = (np.arange(T) * n) // T
        back = np.array([int(np.argmax(idx == i)) for i in range(n)])  # first position of each frame
        return kp[idx], back
    if policy == "pad":  # repeat the edge frames, clip in the middle
        left = (T - n) // 2
        idx = np.clip(np.arange(T) - left, 0, n - 1)
        return kp[idx], np.arange(n) + left
    raise ValueError(f"unknown short-clip policy {policy!r}")


def recentres(lifter: LoadedLifter, opts: LiftOptions) -> bool:
    """Whether windows are seen through the aimed virtual camera (box-normalised lifters, unless turned off)."""
    return opts.recentre and lifter.spec.norm == "box"


def aim_point(box) -> tuple[float, float]:
    """Where the virtual camera looks, in pixels, for a window's keypoint box (``normalize.Norm``)."""
    return box.x0 + box.s / 2, box.y0 + box.s * (0.5 - AIM_ABOVE_BOX_CENTRE)


def aim_rotation(point_px: np.ndarray, focal: float, cx: float, cy: float) -> np.ndarray:
    """Rotation (3, 3) from camera coordinates to a virtual camera's that looks through ``point_px``.

    Rows are the virtual camera's axes in camera coordinates: z along the ray, x level
    (perpendicular to the camera's y, as a pan then a tilt leave it), y = z x x.
    """
    z = np.array([(point_px[0] - cx) / focal, (point_px[1] - cy) / focal, 1.0])
    z /= np.linalg.norm(z)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def rotate_keypoints(kp: np.ndarray, R: np.ndarray, focal: float, cx: float, cy: float) -> np.ndarray:
    """(..., 3) pixels + confidence as the camera rotated by R sees them (homography K R K^-1)."""
    rays = np.stack([(kp[..., 0] - cx) / focal, (kp[..., 1] - cy) / focal, np.ones(kp.shape[:-1])], -1)
    r = rays @ R.T
    out = np.array(kp, dtype=np.float32, copy=True)
    out[..., 0] = focal * r[..., 0] / r[..., 2] + cx
    out[..., 1] = focal * r[..., 1] / r[..., 2] + cy
    return out


def back_project(uvd: np.ndarray, focal: float, cx: float, cy: float, turn: np.ndarray | None = None
                 ) -> np.ndarray:
    """(..., 17, 3) 2.5D pixels (u, v, depth offset in pixels at the root's depth) -> root-relative
    camera-space joints in pixels at the root's depth (metres * focal / root depth).

    Each joint is put on its own ray at its own depth (Z_j = Z_root (1 + d_j / f)): reading the
    pixel offsets as metric offsets instead makes the near limbs of a close person too long (measured
    on the held-out performers' spans as `run` lifts them, without recentring: P-MPJPE 31.9 mm this
    way, 36.1 mm the other). ``turn``: the virtual camera's rotation the 2.5D was seen through
    (``aim_rotation``), undone here.
    """
    z = np.maximum(1 + uvd[..., 2] / focal, 0.05)  # depth in units of the root's depth
    P = np.stack([(uvd[..., 0] - cx) / focal * z, (uvd[..., 1] - cy) / focal * z, z], -1)
    if turn is not None:  # x_cam = R^T x_virtual: rows times R
        P = P @ np.asarray(turn, P.dtype)
    root = P[..., :1, :]
    return (P - root) * (focal / root[..., 2:3])


def _at_root(uvd: np.ndarray, root_uv: np.ndarray) -> np.ndarray:
    """2.5D moved so its root is where the 2D stage put it (our lifter predicts root-relative u, v)."""
    out = uvd.copy()
    out[..., :2] += root_uv - uvd[..., :1, :2]
    return out


def lift_sequence(kp: np.ndarray, fps: float, width: int, height: int, lifter: LoadedLifter,
                  opts: LiftOptions | None = None, focal: float | None = None,
                  centre: tuple[float, float] | None = None) -> np.ndarray:
    """(N, 17, 3) dense pixel keypoints + confidence -> (N, 17, 3) root-relative joints.

    x right, y down (image axes), z away from the camera; units: pixels at the root's depth.
    Without ``focal`` the result is the network's 2.5D (pixel offsets and depth offsets). With
    ``focal`` (pixels) and ``centre`` (principal point; default the frame's centre) it is the
    camera-space pose (``back_project``), and "box" lifters see each window recentred (module
    docstring).
    """
    opts = opts or LiftOptions()
    spec = lifter.spec
    n_video = len(kp)
    # Feed the network at the frame rate it was trained at (speed of motion matters to it).
    n = max(1, int(round((n_video - 1) * spec.fps / fps)) + 1) if abs(fps - spec.fps) > 0.05 * spec.fps else n_video
    x = resample(kp, n)
    T = spec.clip_len
    if n < T:
        clip, back = _fit_short(x, T, spec.short_clips)
        clips, starts, maps = [clip], [0], [back]
    else:
        starts = window_starts(n, T, opts.hops or spec.hops)
        clips = [x[s:s + T] for s in starts]
        maps = None
    recentre = focal is not None and recentres(lifter, opts)
    cx, cy = centre if centre is not None else (width / 2, height / 2)
    inputs, norms, turns, roots = [], [], [], []
    for c in clips:
        R = None
        if recentre:
            box = box_norm(c)
            if box is not None:
                R = aim_rotation(aim_point(box), focal, cx, cy)
                c = rotate_keypoints(c, R, focal, cx, cy)
        z, norm = normalize_window(c, spec.norm, width, height)
        inputs.append(z)
        norms.append(norm)
        turns.append(R)
        roots.append(c[:, :1, :2])  # the root's pixel position as the 2D stage gave it (in the view lifted)
    out = _run(lifter, np.stack(inputs), opts)  # (W, T', 17, 3) model units
    if focal is None:  # 2.5D: root-relative pixel offsets and depth
        out = out - out[:, :, :1]  # root-relative, after flip averaging as the lineage does
        out *= np.asarray([0.0 if m is None else m.s / 2 for m in norms], np.float32)[:, None, None, None]
    else:
        out = np.stack([np.zeros_like(o) if m is None else back_project(_at_root(m.to_pixels(o), r), focal, cx, cy, R)
                        for o, m, R, r in zip(out, norms, turns, roots)])
    if maps is not None:
        y = out[0][maps[0]]
    else:
        acc = np.zeros((n, 17, 3), np.float32)
        wsum = np.zeros((n, 1, 1), np.float32)
        w = blend_weights(T)[:, None, None]
        for s, o in zip(starts, out):
            acc[s:s + T] += w * o
            wsum[s:s + T] += w
        y = acc / wsum
    return resample(y, n_video)


@torch.no_grad()
def _run(lifter: LoadedLifter, x: np.ndarray, opts: LiftOptions) -> np.ndarray:
    from vid2pose.models.flip import flip_average

    flip = lifter.spec.flip if opts.flip is None else opts.flip
    dev = lifter.device
    use_half = opts.half and dev.startswith("cuda")
    outs = []
    for i in range(0, len(x), opts.batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(x[i:i + opts.batch_size])).to(dev)
        with torch.autocast("cuda", dtype=torch.float16, enabled=use_half):
            y = flip_average(lifter.model, batch) if flip else lifter.model(batch)
        outs.append(y.float().cpu().numpy())  # one transfer per batch of windows
    return np.concatenate(outs)
