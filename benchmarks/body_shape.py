"""How much of the lifter's error comes from the body it sees: the same motion on three skeletons.

    ANNY_CACHE_DIR=... python benchmarks/body_shape.py --data ../shared/data/mocap [--weights W]

For each clip of the accuracy bench (benchmarks/accuracy.py STANDARD, the rendered clips and their
truth come from its cache, rendered if missing), the frames it rendered, as windows of the lifter's
length, lifted from the exact 2D projections (no 2D stage, confidence 1), with outputs back-projected
to metres with the true scale (as ``vid2pose eval-lifter`` does):

  rig        the motion capture's own H36M joints (the skeleton family the lifter was trained on)
  rig+bones  the same, with each bone's length set to the rendered anny body's
  anny       the rendered anny body's truth joints (its bone lengths and its joint placement)
  anny@cam   the anny truth seen by the bench's own camera (the others: training cameras, 4 draws)

rig -> rig+bones is the cost of body proportions; rig+bones -> anny of the rest of the body's
structure; anny -> anny@cam of the bench's camera choice. Prints P-MPJPE and N-MPJPE (mm), per clip
and averaged over clips, and P-aligned per-joint errors.

The 2D input here is the exact H36M projection for every joint, where the lifter was trained on the
COCO -> H36M mapping of face and hip keypoints (``vid2pose.skeletons.coco17_to_h36m``) for pelvis, spine,
thorax, nose and head: measured on the rig, that costs about 2.6 mm of P-MPJPE, the same for all rows.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import accuracy as bench  # noqa: E402
from vid2pose.lift.normalize import normalize_window  # noqa: E402
from vid2pose.mocap.h36m import load_h36m  # noqa: E402
from vid2pose.render.body import C_YUP_TO_ZUP  # noqa: E402
from vid2pose.skeletons import canonical_torso  # noqa: E402
from vid2pose.train import cameras as cams  # noqa: E402
from vid2pose.train.data import _leg_lengths, _rescale_bones, bone_lengths  # noqa: E402
from vid2pose.train.evaluate import model_to_metres, n_mpjpe, predict, procrustes_align  # noqa: E402

JOINTS = "pelvis rhip rknee rankle lhip lknee lankle spine thorax nose head lsho lelb lwri rsho relb rwri".split()
ROWS = ("rig", "rig+bones", "anny", "anny@cam")


def lift_windows(model, Xc: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, float]:
    """Camera-space windows (B, T, 17, 3) and their K (B, 3, 3) -> per-joint P-aligned error (17,) and N-MPJPE, mm."""
    uv = (Xc[..., :2] / Xc[..., 2:3]) * K[:, None, None, [0, 1], [0, 1]] + K[:, None, None, :2, 2]
    kp = np.concatenate([uv, np.ones_like(uv[..., :1])], -1)
    inp, s = zip(*(normalize_window(w, "box") for w in kp))
    pred = predict(model, np.array(inp, np.float32)).astype(np.float64)
    P = model_to_metres(pred, np.array([n.s for n in s]), K[:, 0, 0], K[:, :2, 2], uv[:, :, 0], Xc[:, :, 0, 2])
    G = Xc - Xc[:, :, :1]
    per_joint = np.linalg.norm(procrustes_align(P, G) - G, axis=-1).mean((0, 1)) * 1000
    return per_joint, float(n_mpjpe(P, G).mean() * 1000)


def under_training_cameras(model, J: np.ndarray, draws: int = 4) -> tuple[np.ndarray, float]:
    """World windows (B, T, 17, 3), Y up -> errors averaged over ``draws`` seeded training-camera draws."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(draws):
        cam = cams.sample_cameras(rng, J)
        Xc = cam.to_camera(J)
        out.append(lift_windows(model, Xc, cam.K))
    return np.mean([o[0] for o in out], 0), float(np.mean([o[1] for o in out]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="the shared/data/mocap folder")
    ap.add_argument("--weights", type=Path, default=REPO / "weights" / "ssr-stf.pt")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "vid2pose" / "bench")
    args = ap.parse_args()
    from vid2pose.train.commands import load_lifter

    model, obj = load_lifter(args.weights)
    T = int(obj["clip_len"])
    args.cache.mkdir(parents=True, exist_ok=True)
    res: dict[str, list] = {k: [] for k in ROWS}
    seen = set()
    for clip in bench.STANDARD:
        if (clip.mocap, clip.start) in seen:  # same frames, same body: training cameras would repeat
            continue
        seen.add((clip.mocap, clip.start))
        _, truth_npz = bench.render(args.data, clip, args.cache, 4.0)
        truth = np.load(truth_npz)
        anny = truth["joints_world"].astype(np.float64) @ C_YUP_TO_ZUP  # anny Z-up -> Y-up
        rig = load_h36m(args.data / clip.mocap)[0].astype(np.float64)[truth["mocap_frames"]]
        f = bone_lengths(anny[None]) / np.maximum(bone_lengths(rig[None]), 1e-9)
        f[:, 0] = 1.0
        rig_bones = _rescale_bones(rig[None], f)
        rig_bones = canonical_torso(rig_bones, _leg_lengths(bone_lengths(rig_bones))[:, None])[0]
        L = min(T, len(anny))  # a clip shorter than the weights' window is lifted whole (SSR-STF takes any length)
        starts = range(0, len(anny) - L + 1, max(1, L // 3))
        win = lambda Z: np.array([Z[s:s + L] for s in starts])  # noqa: E731
        cam_wins = win(truth["joints_cam"].astype(np.float64))
        row = {"rig": under_training_cameras(model, win(rig)),
               "rig+bones": under_training_cameras(model, win(rig_bones)),
               "anny": under_training_cameras(model, win(anny)),
               "anny@cam": lift_windows(model, cam_wins, np.repeat(truth["K"][None].astype(np.float64), len(cam_wins), 0))}
        for k, v in row.items():
            res[k].append(v)
        print(f"{clip.name[:34]:34s} " + "  ".join(f"{k} {v[0].mean():5.1f}/{v[1]:5.1f}" for k, v in row.items()),
              flush=True)
    print(f"\n{len(seen)} clips, P-MPJPE / N-MPJPE mm (exact 2D), weights {args.weights.name}:")
    for k, v in res.items():
        pj = np.mean([x[0] for x in v], 0)
        print(f"  {k:10s} P {pj.mean():5.1f}  N {np.mean([x[1] for x in v]):5.1f}   "
              + " ".join(f"{n} {e:.0f}" for n, e in zip(JOINTS, pj)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
