"""Any-length 2D tracks -> root-relative 3D, through a lifter with a fixed clip length.

A track is made dense (gaps interpolated and flagged), resampled to the lifter's
frame rate, cut into windows of the lifter's clip length T that overlap by three quarters,
normalised, lifted in batches (with flip averaging), mapped back to 2.5D pixels
and blended with linear cross-fades, so window borders show no jump.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vid2pose.lift.loading import LoadedLifter
from vid2pose.lift.normalize import normalize_window


@dataclass
class LiftOptions:
    flip: bool | None = None  # None: what the lifter was released with
    batch_size: int = 64  # windows per forward pass
    half: bool = False  # float16 on CUDA
    hops: int | None = None  # windows start every T // hops frames; None: the lifter's own (registry)


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


def lift_sequence(kp: np.ndarray, fps: float, width: int, height: int, lifter: LoadedLifter,
                  opts: LiftOptions | None = None) -> np.ndarray:
    """(N, 17, 3) dense pixel keypoints + confidence -> (N, 17, 3) root-relative 2.5D pixels.

    x right, y down (image axes), z away from the camera; units: pixels at the root's depth.
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
    inputs, scales = [], []
    for c in clips:
        z, norm = normalize_window(c, spec.norm, width, height)
        inputs.append(z)
        scales.append(norm.s / 2 if norm is not None else 0.0)
    out = _run(lifter, np.stack(inputs), opts)  # (W, T', 17, 3) model units
    out = out - out[:, :, :1]  # root-relative, after flip averaging as the lineage does
    out *= np.asarray(scales, np.float32)[:, None, None, None]
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
