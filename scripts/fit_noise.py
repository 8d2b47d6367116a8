#!/usr/bin/env python
"""Fit the training 2D noise model (vid2pose/train/noise.py) to measurements, and write a config.

    python benchmarks/accuracy.py --data .../mocap --save-2d bench2d.npz
    python scripts/fit_noise.py bench2d.npz --base configs/ssr-stf-default.yaml --out configs/ssr-stf-fitted-noise.yaml

What comes from where:

* Rendered clips (``bench2d.npz``: the default 2D stage's keypoints next to the exact truth of the
  rendered body) measure what real video cannot: the *systematic* offset of BlazePose's hip keypoints
  from the hip joint centres (``hip_up``, ``hip_out``, ``hip_fwd``, in metres), of its shoulders (up the torso, and
  inwards once the arm is raised overhead), ankles (up the shin), elbows (up the upper arm) and knees (up
  the thigh) (``shoulder_*``, ``ankle_up``, ``elbow_up``, ``knee_up``), how much more level than
  the truth it draws each left/right pair (``lr_y_scale``), and
  which limb joints are noisier than others (``joint_scale`` of the 12 limb keypoints, relative, at
  the old mean level).
* Real video (shared/research/mediapipe_2d_noise.md: 90th percentile of the keypoint error 54.3 px at a
  person height of 747 px) anchors the tail (``outlier_scale``). Rendered clips are cleaner than real
  video (no blur, clothes or clutter), so their tail is not used.

Face keypoints (not measurable against anny's joints) keep their scales.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from accuracy import person_height_px  # noqa: E402  (the bench's definition, so fit and bench agree)
from vid2pose import atomic  # noqa: E402
from vid2pose.skeletons import _COCO_DIRECT, h36m_to_coco17  # noqa: E402
from vid2pose.train.noise import LR_PAIRS, NOISE_DEFAULTS, apply_noise, observe  # noqa: E402

REAL_P90 = 54.3 / 747  # real-video 90th percentile of the keypoint error, fraction of person height
LIMB_PAIRS = {"hips": (4, 1), "knees": (5, 2), "ankles": (6, 3), "shoulders": (11, 14), "elbows": (12, 15),
              "wrists": (13, 16)}  # H36M (left, right)


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def body_forward(true3d: np.ndarray) -> np.ndarray:
    """(F, 3) unit vector the way the body faces, as ``noise.hip_bias`` has it: (right -> left hip) x up."""
    return unit(np.cross(true3d[:, 4] - true3d[:, 1], true3d[:, 8] - true3d[:, 0]))


def projector(true2d: np.ndarray, true3d: np.ndarray, focal: np.ndarray):
    """Per-frame pinhole projection (F, 3) -> (F, 2) of the clip camera, its principal point recovered
    from the pelvis' truth in 2D and 3D."""
    centre = true2d[:, 0] - focal[:, None] * true3d[:, 0, :2] / true3d[:, 0, 2:3]
    return lambda p: focal[:, None] * p[:, :2] / p[:, 2:3] + centre


def offsets_2d(pred: np.ndarray, true2d: np.ndarray, true3d: np.ndarray, focal: np.ndarray, j: int,
               a3d: np.ndarray, b3d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: joint ``j`` of BlazePose minus the joint centre as a 3D offset a * a3d + b * b3d (unit
    vectors (F, 3), metres), solved from the 2D offset through the projection's Jacobian. Frames where
    the two directions project badly (foreshortened, nearly parallel in the image) are left out:
    returns (a, b, the mask of frames kept)."""
    proj = projector(true2d, true3d, focal)
    eps = 0.01
    J = np.stack([(proj(true3d[:, j] + eps * a3d) - proj(true3d[:, j])) / eps,
                  (proj(true3d[:, j] + eps * b3d) - proj(true3d[:, j])) / eps], -1)  # (F, 2, 2) px/m
    sv = np.linalg.svd(J, compute_uv=False)
    ok = sv[:, 1] > 0.5 * sv[:, 0]
    ab = np.linalg.solve(J[ok], (pred[ok, j] - true2d[ok, j])[..., None])[..., 0]
    return ab[:, 0], ab[:, 1], ok


def hip_offsets(pred: np.ndarray, true2d: np.ndarray, true3d: np.ndarray, focal: np.ndarray):
    """Per frame and hip: BlazePose's hip minus the joint centre as a * up + b * out, the basis of
    ``noise.hip_bias`` (up: pelvis -> thorax, out: pelvis -> hip)."""
    up3d = unit(true3d[:, 8] - true3d[:, 0])
    ab = [offsets_2d(pred, true2d, true3d, focal, j, up3d, unit(true3d[:, j] - true3d[:, 0]))[:2] for j in (4, 1)]
    return np.concatenate([a for a, _ in ab]), np.concatenate([b for _, b in ab])


def hip_forward_offsets(pred: np.ndarray, true2d: np.ndarray, true3d: np.ndarray, focal: np.ndarray,
                        out_median: float) -> np.ndarray:
    """Per frame and hip: how far BlazePose's hip sits forwards (the way the body faces; metres), solved
    as a * up + b * forward once the median outward offset is taken off. Only views that show the
    forward direction (side-on ones) are solvable; there the outward direction is mostly depth."""
    up, forward = unit(true3d[:, 8] - true3d[:, 0]), body_forward(true3d)
    proj = projector(true2d, true3d, focal)
    fwd = []
    for j in (4, 1):
        shifted = pred.copy()
        shifted[:, j] -= proj(true3d[:, j] + out_median * unit(true3d[:, j] - true3d[:, 0])) - true2d[:, j]
        fwd.append(offsets_2d(shifted, true2d, true3d, focal, j, up, forward)[1])
    return np.concatenate(fwd)


def limb_offsets(pred: np.ndarray, true2d: np.ndarray, true3d: np.ndarray, focal: np.ndarray) -> dict:
    """The ``noise.limb_bias`` parameters: shoulders as a * up + b * out (up: pelvis -> thorax, out:
    thorax -> shoulder square to it) with the upper arm within 60 degrees of hanging (IQR of a and b),
    the extra inward shift with it raised past 130 degrees (difference of the medians of b); ankles
    as a * (ankle -> knee) + b * (the body's left or forward direction, whichever the view shows) (IQR
    of a); elbows the same way along elbow -> shoulder (``elbow_up``), knees along knee -> hip (``knee_up``)."""
    up = unit(true3d[:, 8] - true3d[:, 0])
    ups, outs, raised_outs = [], [], []
    for sho, elb in ((11, 12), (14, 15)):
        lat = true3d[:, sho] - true3d[:, 8]
        lat = unit(lat - np.sum(lat * up, -1, keepdims=True) * up)
        arm = unit(true3d[:, elb] - true3d[:, sho])
        lift = np.degrees(np.arccos(np.clip(np.sum(arm * -up, -1), -1.0, 1.0)))
        a, b, ok = offsets_2d(pred, true2d, true3d, focal, sho, up, lat)
        down, high = lift[ok] < 60, lift[ok] > 130
        ups.append(a[down])
        outs.append(b[down])
        raised_outs.append(b[high])
    left = unit(true3d[:, 4] - true3d[:, 1])
    fwd = unit(np.cross(up, left))  # a second solve direction (its sign only moves the finite differences)

    def toward(pairs) -> list:
        """Per (joint, toward): the offset along joint -> toward, solved with a second direction that
        is sideways where the body faces the camera and forwards where it is side-on."""
        a = []
        for j, k in pairs:
            along = unit(true3d[:, k] - true3d[:, j])
            a += [offsets_2d(pred, true2d, true3d, focal, j, along, other)[0] for other in (left, fwd)]
        return a

    ankle, elbow, knee = toward(((6, 5), (3, 2))), toward(((12, 11), (15, 14))), toward(((5, 4), (2, 1)))

    def iqr(v: list) -> list:
        v = np.concatenate(v)
        return [round(float(x), 4) for x in np.percentile(v, [25, 75])] if len(v) else [0.0, 0.0]

    down_out, high_out = np.concatenate(outs), np.concatenate(raised_outs)
    in_raised = float(np.median(down_out) - np.median(high_out)) if len(high_out) >= 20 else 0.0
    return {"shoulder_up": iqr(ups), "shoulder_out": iqr(outs), "shoulder_in_raised": round(max(in_raised, 0.0), 4),
            "ankle_up": iqr(ankle), "elbow_up": iqr(elbow), "knee_up": iqr(knee),
            "frames": (len(down_out), len(high_out))}


# noise.LR_PAIRS in H36M joints (left, right): shoulders, elbows, wrists, hips, knees, ankles
_H36M_OF_COCO = {c: h for h, c in _COCO_DIRECT.items()}
LR_H36M = tuple((_H36M_OF_COCO[left], _H36M_OF_COCO[right]) for left, right in LR_PAIRS)
# Half-width of each drawn range: one clip's slope differs from the pooled one by this much and more
# (measured per clip on the bench: hips -0.5..0.5, shoulders -0.8..0.9).
LR_SPREAD = 0.25


def lr_y_scales(pred: np.ndarray, true2d: np.ndarray, true3d: np.ndarray, focal: np.ndarray, cfg: dict,
                seeds: int = 4, window: int = 27) -> list:
    """The ``noise.level_pairs`` ranges: per left/right pair, the slope of BlazePose's left-minus-right
    image y on the truth's, over the slope that the rest of the noise model (``cfg``: 3D offsets, jitter,
    gross errors, swaps; sampled on the same frames in windows as in training) gives, +- LR_SPREAD (less
    near 0, so no factor is negative). Frames where the pair looks swapped are left out of both."""
    n = len(true2d) // window * window
    pred, true2d, true3d, focal = pred[:n], true2d[:n], true3d[:n], focal[:n]
    h = person_height_px(true2d)
    proj = projector(true2d, true3d, focal)
    windows = true3d.reshape(-1, window, 17, 3)

    def project(w: np.ndarray) -> np.ndarray:
        flat = w.reshape(n, 17, 3)
        return np.stack([proj(flat[:, j]) for j in range(17)], 1).reshape(-1, window, 17, 2)

    models = [observe(np.random.default_rng(s), windows, project, h.reshape(-1, window).mean(1), cfg).reshape(n, 17, 2)
              for s in range(seeds)]

    def slope(p2d: np.ndarray, left: int, right: int) -> float:
        kept = (np.linalg.norm(p2d[:, left] - true2d[:, left], axis=-1)
                < np.linalg.norm(p2d[:, left] - true2d[:, right], axis=-1))
        dp, dt = ((x[kept, left, 1] - x[kept, right, 1]) / h[kept] for x in (p2d, true2d))
        return float(np.sum(dp * dt) / np.sum(dt * dt))

    ranges = []
    for left, right in LR_H36M:
        ratio = max(slope(pred, left, right) / np.mean([slope(m, left, right) for m in models]), 0.0)
        half = min(LR_SPREAD, ratio)
        ranges.append([round(float(ratio - half), 3), round(float(ratio + half), 3)])
    return ranges


def sample_p90(windows2d: np.ndarray, h: np.ndarray, cfg: dict, seeds: int = 8) -> float:
    errs = []
    for s in range(seeds):
        noisy = apply_noise(np.random.default_rng(s), windows2d, h, cfg)
        errs.append((np.linalg.norm(noisy[..., :2] - windows2d, axis=-1) / h[:, None, None]).ravel())
    return float(np.percentile(np.concatenate(errs), 90))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench2d", type=Path, help="npz from benchmarks/accuracy.py --save-2d")
    ap.add_argument("--base", type=Path, required=True, help="training config to add the fitted noise section to")
    ap.add_argument("--out", type=Path, required=True, help="training config to write (YAML)")
    args = ap.parse_args(argv)
    d = np.load(args.bench2d)
    pred, true2d, true3d, focal = (d[k].astype(np.float64) for k in ("pred2d", "true2d", "true3d", "focal"))
    h = person_height_px(true2d)
    print(f"{len(pred)} frames, median person height {np.median(h):.0f} px")

    ups, outs = hip_offsets(pred, true2d, true3d, focal)
    hip_up = tuple(round(float(x), 4) for x in np.percentile(ups, [25, 75]))
    hip_out = tuple(round(float(x), 4) for x in np.percentile(outs, [25, 75]))  # negative: inwards
    print(f"hip offset, m: up median {np.median(ups):.3f} (IQR {hip_up}); out median {np.median(outs):.3f} "
          f"(IQR {hip_out}; {len(outs)} hip views solvable)   model before: up {NOISE_DEFAULTS['hip_up']}, "
          f"out {NOISE_DEFAULTS['hip_out']}")

    fwds = hip_forward_offsets(pred, true2d, true3d, focal, float(np.median(outs)))
    if len(fwds) >= 20:
        hip_fwd = tuple(round(float(x), 4) for x in np.percentile(fwds, [25, 75]))
        print(f"hip offset forwards, m: median {np.median(fwds):.3f} (IQR {hip_fwd}; {len(fwds)} hip views solvable)")
    else:  # only side-on views show it: nothing measured, nothing added
        fwds, hip_fwd = np.zeros(1), (0.0, 0.0)
        print("hip offset forwards: not measurable (no side-on views); left at 0")

    limbs = limb_offsets(pred, true2d, true3d, focal)
    print(f"shoulder offset, m (arm within 60 degrees of hanging, {limbs['frames'][0]} views): up IQR "
          f"{limbs['shoulder_up']}, out IQR {limbs['shoulder_out']}; further inwards with the arm raised past 130 "
          f"degrees ({limbs['frames'][1]} views): {limbs['shoulder_in_raised']}; ankle up the shin IQR {limbs['ankle_up']}; "
          f"elbow up the upper arm IQR {limbs['elbow_up']}; knee up the thigh IQR {limbs['knee_up']}")

    # limb jitter per joint; the hips without their systematic offset (modelled by hip_up/hip_out/hip_fwd)
    err = pred - true2d
    proj = projector(true2d, true3d, focal)
    up3d = unit(true3d[:, 8] - true3d[:, 0])
    fwd3d = body_forward(true3d)
    for j in (4, 1):
        moved = (true3d[:, j] + np.median(ups) * up3d + np.median(outs) * unit(true3d[:, j] - true3d[:, 0])
                 + np.median(fwds) * fwd3d)
        err[:, j] -= proj(moved) - true2d[:, j]
    med = {g: float(np.median(np.linalg.norm(err[:, list(js)], axis=-1) / h[:, None])) for g, js in LIMB_PAIRS.items()}
    old = np.asarray(NOISE_DEFAULTS["joint_scale"], np.float64)
    limb_coco = [_COCO_DIRECT[j] for js in LIMB_PAIRS.values() for j in js]
    level = old[limb_coco].mean() / np.mean(list(med.values()))
    scale = old.copy()
    for g, js in LIMB_PAIRS.items():
        for j in js:
            scale[_COCO_DIRECT[j]] = round(med[g] * level, 3)
    print("limb median error, % of height: " + ", ".join(f"{g} {100 * v:.2f}" for g, v in med.items()))
    print(f"joint_scale before {old.round(3).tolist()}\n            after  {scale.tolist()}")

    # the tail, anchored to real video: outlier_scale so that the model's 90th percentile matches
    T = 27
    n = len(true2d) // T * T
    windows = h36m_to_coco17(true2d[:n]).reshape(-1, T, 17, 2)
    hw = h[:n].reshape(-1, T).mean(1)
    cfg = dict(NOISE_DEFAULTS, joint_scale=tuple(scale))
    before = sample_p90(windows, hw, dict(NOISE_DEFAULTS))
    lo, hi = 0.1, 2.0
    for _ in range(12):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sample_p90(windows, hw, dict(cfg, outlier_scale=mid)) < REAL_P90 else (lo, mid)
    outlier_scale = round((lo + hi) / 2, 3)
    after = sample_p90(windows, hw, dict(cfg, outlier_scale=outlier_scale))
    print(f"90th percentile of the error, % of height: real video {100 * REAL_P90:.2f}; model before "
          f"{100 * before:.2f}, after {100 * after:.2f} (outlier_scale {outlier_scale})")

    offsets = dict(NOISE_DEFAULTS, hip_up=hip_up, hip_out=hip_out, hip_fwd=hip_fwd,
                   joint_scale=tuple(scale),
                   outlier_scale=outlier_scale, **{k: v for k, v in limbs.items() if k != "frames"})
    lr_y_scale = lr_y_scales(pred, true2d, true3d, focal, offsets)
    print("left/right pairs' vertical separation, BlazePose over the model's, drawn from (shoulders, elbows, "
          f"wrists, hips, knees, ankles): {lr_y_scale}")

    base = args.base.read_text()
    if "\nnoise:" in base:
        raise SystemExit(f"{args.base} already has a noise section")
    body = base.rstrip("\n").split("\n")
    if body[0].startswith("#"):  # the base's title line describes the base, not this file
        body = body[1:]
    lines = [
        f"# SSR-STF with the 2D noise model fitted to measurements (scripts/fit_noise.py); otherwise {args.base.name}.",
        *body,
        "",
        "# The 2D noise model fitted by scripts/fit_noise.py (see its docstring for what comes from where).",
        f"# Source: {args.bench2d.name}, {len(pred)} frames of rendered validation clips.",
        "noise:",
        f"  hip_up: [{hip_up[0]}, {hip_up[1]}]",
        f"  hip_out: [{hip_out[0]}, {hip_out[1]}]",
        f"  hip_fwd: [{hip_fwd[0]}, {hip_fwd[1]}]",
        f"  joint_scale: [{', '.join(f'{x:g}' for x in scale)}]",
        f"  outlier_scale: {outlier_scale}",
        *(f"  {k}: {limbs[k]}" for k in ("shoulder_up", "shoulder_out", "shoulder_in_raised", "ankle_up", "elbow_up", "knee_up")),
        f"  lr_y_scale: {[[float(a), float(b)] for a, b in lr_y_scale]}",
    ]
    atomic.write_text(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
