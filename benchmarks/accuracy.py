"""Accuracy from pixels: render clips with exact 3D truth, run `vid2pose run` and MediaPipe's own 3D on them,
print the errors of both.

    ANNY_CACHE_DIR=... python benchmarks/accuracy.py --data ../shared/data/mocap [--quick] [--cache DIR]

Clips: motion capture of the *validation* performers only (vid2pose/train/split.py: CMU subjects 7
and 131, Bandai Namco's held-out styles; never trained on), retargeted onto the anny body and rendered
by scripts/make_sample.py (OpenCV rasteriser, floor and wall) from cameras all around the person
(azimuth relative to the direction of travel), at heights from 0.15 to 3.5 m (elevations from about -10
to 40 degrees), at 1 to 2.7 times the nearest distance that keeps the body in frame (about 3 to 10 m),
with phone-like (65-70 degrees) and tripod/zoom (40-50 degrees) fields of view, with varied body shapes
(anny's phenotype), outfit and skin colours, floor and wall colours and light (--look). The truth per
frame is the rendered body's H36M-17 joints in camera space (metres) read off the posed body
(vid2pose.render.body.anny_h36m_joints documents how each joint is taken). Rendered clips are cached.

Two contestants on the same frames (frames where both found the person):
  vid2pose   `vid2pose run` as a user runs it: the tool's own metric scale (--height 1.70, not the
             truth's) and its assumed focal length (60 degrees, not the truth's).
  mediapipe  MediaPipe's pose_world_landmarks (BlazePose GHUM 3D, mediapipe.solutions.pose,
             model_complexity=1, the one offline peer), mapped to H36M-17 by
             vid2pose.skeletons.blazepose33_world_to_h36m. It gives no camera-space position.

Metrics (mm):
  det      frames with a 3D pose / frames
  cam      camera-space MPJPE (root position included; vid2pose only), as run: the assumed focal length
  cam|f    the same with the true focal length given (--focal), as a user who knows the lens gets it
           (re-lifted from the run's own 2D with `vid2pose lift`, as are cam|fh and the exact-2D line)
  cam|fh   the same with the true focal length and the body's true height given (--focal, --height):
           what is left is the tool's own error (bone proportions, depth from the 2D fit)
  root     root-aligned MPJPE (pelvis on pelvis)
  N        N-MPJPE (root-relative, best uniform scale)
  P        P-MPJPE (best similarity transform per frame)
  P12      P-MPJPE on the 12 limb joints only (hips, knees, ankles, shoulders, elbows, wrists), which
           both define directly, so joint-definition choices for spine/thorax/nose/head drop out
  accel    acceleration error, mm/frame^2 (root-relative)

Also printed: the default 2D backend's error against the projected truth (the 12 limb joints, % of the
person's height in the image), next to the training noise model (vid2pose/train/noise.py) sampled on
the same clips, so the noise model can be checked against what the 2D stage really does.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vid2pose.atomic import atomic_path  # noqa: E402
from vid2pose.lift.swaps import repair_limb_swaps  # noqa: E402
from vid2pose.skeletons import blazepose33_world_to_h36m  # noqa: E402
from vid2pose.skeletons import H36M_JOINTS  # noqa: E402
from vid2pose.train.evaluate import accel_error, mpjpe, n_mpjpe, p_mpjpe, procrustes_align  # noqa: E402
from vid2pose.train.split import is_validation  # noqa: E402

LIMBS = np.array([1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16])  # H36M indices of the 12 limb joints
LIMB_GROUPS = {"hips": [1, 4], "knees": [2, 5], "ankles": [3, 6], "shoulders": [11, 14], "elbows": [12, 15],
               "wrists": [13, 16]}


@dataclass(frozen=True)
class Clip:
    mocap: str               # under --data
    start: float             # s
    azimuth: float           # deg; make_sample's convention: 0 = side view, 90 = front of the direction of travel
    #                          (for motion on the spot: of the mocap's own axes; the view band comes from the truth)
    cam_height: float        # m
    hfov: float = 62.0       # horizontal field of view, deg (phone ~65-70, zoom/tripod ~40-50)
    distance: float = 1.0    # multiple of the nearest distance that keeps the body in frame
    body: tuple = (0.1, 0.5, 0.55, 0.5, 0.55)  # anny phenotype: gender, age, height, weight, muscle
    look: int = 0            # seed of outfit/skin/floor/wall colours and light

    @property
    def name(self) -> str:
        return Path(self.mocap).name.split(".")[0]


STANDARD = [
    Clip("cmu/iclone_cc/007/007_01.bvh.gz", 0.5, 20, 1.35, 65, 1.0, (0.1, 0.5, 0.55, 0.5, 0.55), 1),
    Clip("cmu/iclone_cc/007/007_01.bvh.gz", 0.5, 110, 1.0, 45, 1.2, (0.1, 0.5, 0.55, 0.5, 0.55), 2),
    Clip("cmu/iclone_cc/007/007_05.bvh.gz", 0.5, 200, 1.6, 68, 1.2, (0.9, 0.4, 0.4, 0.6, 0.4), 3),
    Clip("cmu/iclone_cc/007/007_09.bvh.gz", 0.5, 290, 3.5, 65, 1.0, (0.3, 0.7, 0.7, 0.3, 0.7), 4),
    Clip("cmu/cgspeed_bvh/131_01.bvh.gz", 0.0, 60, 1.35, 50, 1.4, (0.6, 0.5, 0.5, 0.8, 0.5), 5),
    Clip("cmu/cgspeed_bvh/131_03.bvh.gz", 0.0, 240, 0.15, 68, 1.3, (0.0, 0.3, 0.8, 0.4, 0.8), 6),
    Clip("bandai_namco/dataset-1/data/dataset-1_bye_childish_001.bvh.gz", 0.0, 90, 1.35, 42, 1.3,
         (1.0, 0.5, 0.3, 0.5, 0.3), 7),
    Clip("bandai_namco/dataset-1/data/dataset-1_dash_childish_001.bvh.gz", 0.0, 160, 1.8, 66, 1.0,
         (0.2, 0.6, 0.6, 0.7, 0.6), 8),
    Clip("bandai_namco/dataset-1/data/dataset-1_guide_childish_001.bvh.gz", 0.0, 135, 3.0, 60, 2.7,
         (0.7, 0.4, 0.5, 0.4, 0.4), 9),
    Clip("bandai_namco/dataset-2/data/dataset-2_raise-up-both-hands_youthful_001.bvh.gz", 0.0, 330, 1.2, 65,
         1.0, (0.4, 0.5, 0.6, 0.5, 0.6), 10),
    Clip("bandai_namco/dataset-2/data/dataset-2_wave-both-hands_youthful_001.bvh.gz", 0.0, 45, 2.5, 44, 1.2,
         (0.8, 0.6, 0.45, 0.3, 0.35), 11),
    Clip("bandai_namco/dataset-2/data/dataset-2_walk-turn-left_youthful_001.bvh.gz", 0.0, 250, 1.5, 66, 1.2,
         (0.1, 0.45, 0.65, 0.6, 0.7), 12),
]
QUICK = STANDARD[:2]
# Renders of other validation takes that neither the noise model's fits (scripts/fit_noise.py, the swap
# rates of configs/ssr-stf-bench-swaps.yaml) nor the table above used: a check that what was fitted on
# STANDARD carries over (--unseen).
UNSEEN = [
    Clip("cmu/iclone_cc/007/007_03.bvh.gz", 0.5, 135, 1.5, 60, 1.1, (0.3, 0.5, 0.6, 0.4, 0.5), 21),
    Clip("cmu/iclone_cc/007/007_07.bvh.gz", 0.5, 320, 1.1, 50, 1.3, (0.8, 0.45, 0.45, 0.6, 0.4), 22),
    Clip("cmu/cgspeed_bvh/131_02.bvh.gz", 0.0, 30, 1.6, 66, 1.0, (0.2, 0.55, 0.7, 0.5, 0.7), 23),
    Clip("bandai_namco/dataset-1/data/dataset-1_walk-left_childish_001.bvh.gz", 0.0, 200, 1.4, 62, 1.2,
         (0.6, 0.5, 0.5, 0.5, 0.5), 24),
    Clip("bandai_namco/dataset-1/data/dataset-1_bow_childish_001.bvh.gz", 0.0, 70, 2.2, 46, 1.4,
         (0.1, 0.6, 0.6, 0.7, 0.6), 25),
    Clip("bandai_namco/dataset-2/data/dataset-2_raise-up-left-hand_youthful_003.bvh.gz", 0.0, 250, 1.3, 68, 1.0,
         (0.9, 0.5, 0.4, 0.3, 0.4), 26),
]
# Version of the truth's joint definitions (vid2pose.render.body.anny_h36m_joints), part of the cache
# names so that cached truth from older definitions is never scored. j2: canonical thorax and spine.
TRUTH_DEFS = "j2"


def view_band(joints_cam: np.ndarray) -> str:
    """Where the camera sees the person from, from the truth: 'front' when the body faces the camera
    within 45 degrees (median over the clip), 'back' when it faces away, 'side' otherwise."""
    j = np.asarray(joints_cam, np.float64)
    lateral = (j[:, 4] - j[:, 1]) + (j[:, 11] - j[:, 14])  # right -> left, hips and shoulders
    up = j[:, 8] - j[:, 0]
    forward = np.cross(lateral, up)  # camera axes: x right, y down, z away from the camera
    facing = float(np.median(-forward[:, 2] / np.linalg.norm(forward, axis=-1)))
    return "front" if facing > np.cos(np.pi / 4) else "back" if facing < -np.cos(np.pi / 4) else "side"


def render(data: Path, clip: Clip, cache: Path, duration: float) -> tuple[Path, Path]:
    from vid2pose.mocap import read_bvh

    motion = read_bvh(data / clip.mocap)
    duration = round(min(duration, motion.num_frames * motion.frame_time - clip.start - 0.1), 2)  # short takes
    body = "-".join(f"{b:g}" for b in clip.body)
    name = (f"{clip.name}_s{clip.start:g}_a{clip.azimuth:g}_h{clip.cam_height:g}_f{clip.hfov:g}"
            f"_d{clip.distance:g}_b{body}_l{clip.look}_t{duration:g}_{TRUTH_DEFS}")
    video, truth = cache / f"{name}.mp4", cache / f"{name}_truth.npz"
    if not (video.exists() and truth.exists()):
        g, age, h, w, m = clip.body
        cmd = [sys.executable, str(REPO / "scripts" / "make_sample.py"), "--mocap", str(data / clip.mocap),
               "--out", str(cache), "--name", name, "--start", str(clip.start), "--duration", str(duration),
               "--azimuth", str(clip.azimuth), "--cam-height", str(clip.cam_height), "--hfov", str(clip.hfov),
               "--distance-factor", str(clip.distance), "--look", str(clip.look), "--gender", str(g),
               "--age", str(age), "--body-height", str(h), "--weight", str(w), "--muscle", str(m)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return video, truth


def mediapipe_world(video: Path) -> dict[int, np.ndarray]:
    """frame -> (33, 3) pose_world_landmarks of MediaPipe's own pose solution, run as its users run it."""
    import cv2
    import mediapipe as mp

    out = {}
    cap = cv2.VideoCapture(str(video))
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        k = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            r = pose.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if r.pose_world_landmarks is not None:
                out[k] = np.array([[p.x, p.y, p.z] for p in r.pose_world_landmarks.landmark])
            k += 1
    cap.release()
    return out


def metrics(pred_rel: np.ndarray, gt_rel: np.ndarray) -> dict:
    m = lambda x: 1000 * float(np.mean(x))  # noqa: E731 (mm)
    return {"root": m(mpjpe(pred_rel, gt_rel)), "N": m(n_mpjpe(pred_rel, gt_rel)), "P": m(p_mpjpe(pred_rel, gt_rel)),
            "P12": m(p_mpjpe(pred_rel[:, LIMBS], gt_rel[:, LIMBS])),
            "accel": m(accel_error(pred_rel, gt_rel)) if len(pred_rel) > 2 else float("nan")}


def weights_noise(weights: Path | None) -> dict:
    """The noise section of the training config stored in a lifter weights file (default: the shipped one)."""
    import torch

    path = weights or REPO / "weights" / "ssr-stf.pt"
    try:
        return dict(torch.load(path, map_location="cpu", weights_only=True)["train"]["config"].get("noise") or {})
    except (OSError, KeyError, RuntimeError):
        return {}


def noise_model_errors(truth: dict, noise: dict | None = None, seeds: int = 16, window: int = 27) -> np.ndarray:
    """Errors (N, 12) of the training noise model (``noise`` overrides its defaults, as in the weights'
    config) on this clip's truth, in fractions of the person height, sampled per window as in training
    (hips and limb joints biased in 3D as configured, then projected, in training's order; the pairs'
    levelling and the jitter in ``apply_noise``)."""
    from vid2pose.train.noise import NOISE_DEFAULTS, observe

    cfg = dict(NOISE_DEFAULTS, **(noise or {}))

    cam, K = truth["joints_cam"].astype(np.float64), truth["K"]
    T = len(cam) // window * window
    win = cam[:T].reshape(-1, window, 17, 3)
    proj = lambda p: (p[..., :2] / p[..., 2:3]) @ K[:2, :2].T + K[:2, 2]  # noqa: E731
    errs = []
    for s in range(seeds):
        true2d = proj(win)
        h = person_height_px(true2d.reshape(-1, 17, 2)).reshape(len(win), window).mean(1)
        noisy = observe(np.random.default_rng(s), win, proj, h, cfg)
        e = np.linalg.norm(noisy - true2d, axis=-1) / h[:, None, None]
        errs.append(e[..., LIMBS].reshape(-1, 12))
    return np.concatenate(errs)


def person_height_px(joints2d: np.ndarray) -> np.ndarray:
    """Per frame, the person's height in the image from the truth joints (head top to the lower ankle)."""
    return np.linalg.norm(joints2d[:, 10] - (joints2d[:, 3] + joints2d[:, 6]) / 2, axis=-1) * 1.08  # ankle->sole


def main_track(doc: dict) -> dict:
    """The scored person: the track with the most 3D frames (each clip shows one person)."""
    return max(doc["tracks"], key=lambda t: len(t.get("pose3d", [])))


def lift_true_2d(poses_json: Path, truth_npz: Path, tmp: Path, args) -> dict:
    """The lifter alone: the same run's file with its 2D keypoints replaced by the exact projected truth
    (confidence 1), through `vid2pose lift`. Separates the 2D stage's share of the error from the lifter's."""
    doc = json.loads(poses_json.read_text())
    truth = np.load(truth_npz)
    gt2d, gt = truth["joints_2d"].astype(np.float64), truth["joints_cam"].astype(np.float64)
    track = main_track(doc)
    doc["tracks"] = [track]
    for f in track["frames"]:
        f["keypoints"] = [[float(x), float(y), 1.0] for x, y in gt2d[f["frame"]]]
    p3 = [f for f in json.loads(relift(doc, tmp, "true2d", args).read_text())["tracks"][0]["pose3d"] if not f.get("interpolated")]
    pred = np.array([f["joints_cam"] for f in p3], np.float64)
    g = gt[[f["frame"] for f in p3]]
    return metrics(pred - pred[:, :1], g - g[:, :1])


@functools.lru_cache(maxsize=1)
def _anny_body():
    from vid2pose.mesh.anny_body import AnnyBody

    return AnnyBody()


def body_height(body: tuple) -> float:
    """Standing height (m) of the anny body with phenotype ``body`` (gender, age, height, weight, muscle)."""
    g, age, h, w, m = body
    return _anny_body().rest_height(dict(gender=g, age=age, height=h, weight=w, muscle=m))


def relift(doc: dict, tmp: Path, name: str, args, extra: list[str] = ()) -> Path:
    """``doc`` (a run's JSON) without its 3D, lifted again through `vid2pose lift` with the bench's lifter
    and ``extra`` options; returns the new file."""
    doc.pop("pose3d", None)
    for t in doc["tracks"]:
        t.pop("pose3d", None)
    src, out = tmp / f"{name}.json", tmp / f"{name}_3d.json"
    src.write_text(json.dumps(doc))
    cmd = [sys.executable, "-m", "vid2pose", "lift", str(src), "--out", str(out), "--lifter", args.lifter,
           "--device", "cpu", *extra] + (["--weights", str(args.weights)] if args.weights else [])
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def camera_error_relifted(poses_json: Path, truth_npz: Path, tmp: Path, args, name: str, extra: list[str]) -> float:
    """Camera-space MPJPE (mm) after re-lifting the run's own 2D with ``extra`` options (the true focal
    length, height): the 2D stage is not run again."""
    return camera_error(relift(json.loads(poses_json.read_text()), tmp, name, args, extra), truth_npz)


def camera_error(poses_json: Path, truth_npz: Path) -> float:
    """Camera-space MPJPE (mm) over the frames with a detected person."""
    track = main_track(json.loads(poses_json.read_text()))
    p3 = [f for f in track.get("pose3d", []) if not f.get("interpolated")]
    gt = np.load(truth_npz)["joints_cam"].astype(np.float64)[[f["frame"] for f in p3]]
    return 1000 * float(np.mean(mpjpe(np.array([f["joints_cam"] for f in p3], np.float64), gt)))


def score(poses_json: Path, truth_npz: Path, mp_world: dict[int, np.ndarray], noise: dict | None = None) -> dict:
    doc = json.loads(poses_json.read_text())
    truth = dict(np.load(truth_npz))
    gt_all = truth["joints_cam"].astype(np.float64)
    track = main_track(doc)
    ours = {f["frame"]: np.array(f["joints_cam"], np.float64) for f in track.get("pose3d", [])
            if not f.get("interpolated")}
    r = {"frames": len(gt_all), "det": len(ours) / len(gt_all), "det_mp": len(mp_world) / len(gt_all),
         "cam_all": 1000 * float(np.mean(mpjpe(np.stack(list(ours.values())), gt_all[list(ours)]))) if ours
         else float("nan")}
    # 2D: the default backend's limb keypoints against the projected truth
    frames = [f["frame"] for f in track["frames"]]
    raw = np.array([f["keypoints"] for f in track["frames"]], np.float64)
    kp = dict(zip(frames, raw[..., :2]))
    # what the lifter is given: the same keypoints after the left/right swap repair (vid2pose.lift.swaps)
    fixed = dict(zip(frames, repair_limb_swaps(raw)[0][..., :2]))
    seen = [k for k in range(len(gt_all)) if k in kp]
    gt2d = truth["joints_2d"].astype(np.float64)[seen]
    h = person_height_px(gt2d)
    limb_error = lambda by_frame: (np.linalg.norm(np.stack([by_frame[k] for k in seen]) - gt2d, axis=-1)  # noqa: E731
                                   / h[:, None])[:, LIMBS]
    r["err2d"], r["err2d_repaired"] = limb_error(kp), limb_error(fixed)
    # for scripts/fit_noise.py: the 2D stage's H36M keypoints next to the exact truth
    r["fit"] = {"pred2d": np.stack([kp[k] for k in seen]), "true2d": gt2d, "true3d": gt_all[seen],
                "focal": np.full(len(seen), float(truth["K"][0, 0])), "frame": np.asarray(seen)}
    r["err2d_model"] = noise_model_errors(truth, noise)
    r["height_px"] = float(np.median(h))
    if ours:
        keys = sorted(ours)
        mine = np.stack([ours[k] for k in keys])
        r["ours_all"] = metrics(mine - mine[:, :1], gt_all[keys] - gt_all[keys][:, :1])
    both = sorted(set(ours) & set(mp_world))
    r["same"] = len(both)
    if not both:
        return r
    gt = gt_all[both]
    grel = gt - gt[:, :1]
    cam = np.stack([ours[k] for k in both])
    r["cam"] = 1000 * float(np.mean(mpjpe(cam, gt)))
    r["ours"] = metrics(cam - cam[:, :1], grel)
    mpj = blazepose33_world_to_h36m(np.stack([mp_world[k] for k in both]))
    r["mp"] = metrics(mpj - mpj[:, :1], grel)
    r["pairs"] = {"ours": (cam - cam[:, :1], grel), "mp": (mpj - mpj[:, :1], grel)}
    return r


def body_frames(rel: np.ndarray) -> np.ndarray:
    """(F, 3, 3) per-frame body axes of a root-relative pose (columns: left, up, forward)."""
    lat = (rel[:, 4] - rel[:, 1]) + (rel[:, 11] - rel[:, 14])
    up = rel[:, 8] - rel[:, 0]
    x = lat / np.linalg.norm(lat, axis=-1, keepdims=True)
    y = up - np.sum(up * x, -1, keepdims=True) * x
    y /= np.linalg.norm(y, axis=-1, keepdims=True)
    return np.stack([x, y, np.cross(x, y)], -1)


def calibrated(rows: list[dict], who: str) -> dict:
    """Metrics after removing each method's constant per-joint offset in the body's frame (taken from the truth:
    this is an analysis, not something a user could run), learnt on the *other* clips (leave one clip out):
    what is left once joint-definition differences (where exactly a 'shoulder' or 'head' sits) and other
    constant biases are taken out, for each method alike."""
    rs = [r for r in rows if "pairs" in r]
    offs = []
    for r in rs:
        pred, gt = r["pairs"][who]
        R = body_frames(gt)
        offs.append(np.einsum("fij,fki->fkj", R, gt - pred))  # residuals in the body frame, (F, 17, 3)
    out = []
    for i, r in enumerate(rs):
        others = np.concatenate([o for k, o in enumerate(offs) if k != i])
        mean = np.median(others, axis=0)  # (17, 3)
        pred, gt = r["pairs"][who]
        fixed = pred + np.einsum("fij,kj->fki", body_frames(gt), mean)
        fixed -= fixed[:, :1]
        out.append((metrics(fixed, gt), len(gt)))
    w = np.array([n for _, n in out], float)
    return {k: float(np.average([m[k] for m, _ in out], weights=w)) for k in out[0][0]}



def summary2d(err: np.ndarray) -> str:
    """Median, 90th percentile and gross share (> 5 % of height) per limb group."""
    parts = []
    for g, js in LIMB_GROUPS.items():
        e = err[:, [list(LIMBS).index(j) for j in js]].ravel() * 100
        parts.append(f"{g} {np.median(e):.2f}/{np.percentile(e, 90):.1f}/{np.mean(e > 5) * 100:.0f}%")
    e = err.ravel() * 100
    return f"all {np.median(e):.2f}/{np.percentile(e, 90):.1f}/{np.mean(e > 5) * 100:.0f}%  " + "  ".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="the shared/data/mocap folder")
    ap.add_argument("--quick", action="store_true", help="2 short clips (a smoke test)")
    ap.add_argument("--unseen", action="store_true", help="6 other clips, unused by the noise fits and the table")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "vid2pose" / "bench")
    ap.add_argument("--lifter", default="ssr-stf")
    ap.add_argument("--weights", type=Path, help="lifter weights (default: the shipped ones)")
    ap.add_argument("--save-2d", type=Path, help="write the 2D stage's keypoints and the truth (.npz) for "
                                                  "scripts/fit_noise.py")
    args = ap.parse_args()
    clips, duration = (QUICK, 1.5) if args.quick else (UNSEEN, 4.0) if args.unseen else (STANDARD, 4.0)
    for clip in clips:
        assert is_validation(clip.mocap), f"{clip.mocap} is not in the validation split"
    args.cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ log lines
    noise = weights_noise(args.weights)  # the lifter's own training noise, for the 2D comparison
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            video, truth = render(args.data, clip, args.cache, duration)
            out = Path(tmp) / (video.stem + ".json")
            cmd = [sys.executable, "-m", "vid2pose", "run", str(video), "--out", str(out), "--lifter", args.lifter,
                   "--device", "cpu"] + (["--weights", str(args.weights)] if args.weights else [])
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            r = score(out, truth, mediapipe_world(video), noise)
            focal = ["--focal", f"{float(np.load(truth)['K'][0, 0]):.2f}"]
            r["cam_f"] = camera_error_relifted(out, truth, Path(tmp), args, "known_f", focal)
            r["height"] = body_height(tuple(clip.body))
            r["cam_fh"] = camera_error_relifted(out, truth, Path(tmp), args, "known_fh",
                                                focal + ["--height", f"{r['height']:.3f}"])
            r["true2d"] = lift_true_2d(out, truth, Path(tmp), args)
            r.update(clip=clip, band=view_band(np.load(truth)["joints_cam"]))
            rows.append(r)
            print(f"  {clip.name} az {clip.azimuth:g}: done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)

    cols = ("root", "N", "P", "P12", "accel")
    head = (f"{'clip':<38} {'az':>4} {'cam h':>5} {'fov':>4} {'body':>4} {'band':>5} {'frames':>6} {'det':>5} {'cam':>6} "
            f"{'cam|f':>6} {'cam|fh':>6}")
    print(head + "  " + " ".join(f"{c + ' ours/mp':>15}" for c in cols))
    for r in rows:
        c = r["clip"]
        line = (f"{c.name:<38} {c.azimuth:>4g} {c.cam_height:>5.2f} {c.hfov:>4g} {r['height']:>4.2f} {r['band']:>5} {r['frames']:>6} "
                f"{r['det']:>5.2f} {r.get('cam', r['cam_all']):>6.0f} {r['cam_f']:>6.0f} {r['cam_fh']:>6.0f}  ")
        if "ours" in r:
            line += " ".join(f"{r['ours'][k]:>7.1f}/{r['mp'][k]:<7.1f}" for k in cols)
        elif "ours_all" in r:
            line += " ".join(f"{r['ours_all'][k]:>7.1f}/{'-':<7}" for k in cols)
        print(line + ("" if r["det_mp"] == 1 else f"  (mediapipe det {r['det_mp']:.2f})"))

    print("\nSame frames, weighted by frames (mm):")
    groups = {"overall": rows} | {f"band {b}": [r for r in rows if r["band"] == b] for b in ("front", "side", "back")}
    for name, rs in groups.items():
        rs = [r for r in rs if "ours" in r]
        if not rs:
            continue
        w = np.array([r["same"] for r in rs], float)
        avg = lambda who, k: float(np.average([r[who][k] for r in rs], weights=w))  # noqa: E731
        cam = float(np.average([r["cam"] for r in rs], weights=w))
        cam_f = float(np.average([r["cam_f"] for r in rs], weights=w))
        cam_fh = float(np.average([r["cam_fh"] for r in rs], weights=w))
        print(f"{name:<12} det {np.mean([r['det'] for r in rs]):.3f}  cam {cam:.0f}  cam|f {cam_f:.0f}  cam|fh {cam_fh:.0f}  "
              + "  ".join(f"{k} {avg('ours', k):.1f} vs {avg('mp', k):.1f} ({100 * (1 - avg('ours', k) / avg('mp', k)):+.0f}%)"
                          for k in cols))
    print("  (percentages: how much lower vid2pose's error is than MediaPipe's world landmarks')")
    rs = [r for r in rows if "pairs" in r]
    if rs:  # where the error sits: per joint after the per-frame similarity alignment (P-MPJPE's)
        per = {who: np.concatenate([np.linalg.norm(procrustes_align(*r["pairs"][who]) - r["pairs"][who][1], axis=-1)
                                    for r in rs]).mean(0) * 1000 for who in ("ours", "mp")}
        print("per joint, P-aligned, ours/mp: " + "  ".join(
            f"{n} {per['ours'][j]:.0f}/{per['mp'][j]:.0f}" for j, n in enumerate(H36M_JOINTS)))
    if sum("pairs" in r for r in rows) > 1:
        cal = {who: calibrated(rows, who) for who in ("ours", "mp")}
        print("overall, joint definitions calibrated (leave one clip out): "
              + "  ".join(f"{k} {cal['ours'][k]:.1f} vs {cal['mp'][k]:.1f} "
                          f"({100 * (1 - cal['ours'][k] / cal['mp'][k]):+.0f}%)" for k in cols))
    rs = [r for r in rows if "true2d" in r and "ours_all" in r]
    w = np.array([r["frames"] for r in rs], float)
    print("vid2pose's lifter on the exact 2D (the 2D stage's share of the error removed): "
          + "  ".join(f"{k} {np.average([r['true2d'][k] for r in rs], weights=w):.1f}" for k in cols))
    rs = [r for r in rows if "ours_all" in r]
    w = np.array([r["det"] * r["frames"] for r in rs])
    print("vid2pose on every frame it found the person in (all clips): "
          f"det {np.mean([r['det'] for r in rs]):.3f}  cam {np.average([r['cam_all'] for r in rs], weights=w):.0f}  "
          f"cam|f {np.average([r['cam_f'] for r in rs], weights=w):.0f}  "
          f"cam|fh {np.average([r['cam_fh'] for r in rs], weights=w):.0f}  "
          + "  ".join(f"{k} {np.average([r['ours_all'][k] for r in rs], weights=w):.1f}" for k in cols))
    per_clip = " ".join(f"{r['det_mp']:.2f}" for r in rows)
    print(f"MediaPipe's pose solution found the person in {np.mean([r['det_mp'] for r in rows]):.3f} of the frames "
          f"(per clip: {per_clip})")

    e_bp = np.concatenate([r["err2d"] for r in rows if "err2d" in r])
    e_nm = np.concatenate([r["err2d_model"] for r in rows if "err2d_model" in r])
    print("\n2D limb keypoint error, % of person height: median/90th percentile/share above 5 %")
    print(f"  BlazePose (the 2D stage)  {summary2d(e_bp)}")
    e_fix = np.concatenate([r["err2d_repaired"] for r in rows if "err2d_repaired" in r])
    print(f"  after the swap repair     {summary2d(e_fix)}   (what the lifter is given)")
    print(f"  training noise model      {summary2d(e_nm)}   ({'as the weights were trained' if noise else 'its defaults'})")
    if args.save_2d:
        fit_rows = [r for r in rows if "fit" in r]
        fits = [r["fit"] for r in fit_rows]
        arrays = {k: np.concatenate([f[k] for f in fits]) for k in fits[0]}
        # which clip each frame is of ("clip": index into "clip_names"), for per-clip and per-run analyses
        arrays["clip"] = np.concatenate([np.full(len(f["frame"]), i) for i, f in enumerate(fits)])
        arrays["clip_names"] = np.array([f"{r['clip'].name} az {r['clip'].azimuth:g}" for r in fit_rows])
        with atomic_path(args.save_2d) as tmp_npz:
            with open(tmp_npz, "wb") as fh:  # a file object: np.savez would add ".npz" to the temp name
                np.savez_compressed(fh, **arrays)
    print(f"  median person height {np.median([r['height_px'] for r in rows if 'height_px' in r]):.0f} px")
    print(f"\n{len(rows)} clips, {time.perf_counter() - t0:.0f} s (renders cached in {args.cache})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
