"""Accuracy from pixels: render clips with exact 3D truth, run `vid2pose run` on them, print the errors.

    ANNY_CACHE_DIR=... python benchmarks/accuracy.py --data ../shared/data/mocap [--quick] [--cache DIR]

Clips: motion capture of the *validation* performers only (vid2pose/train/split.py: CMU subjects 7
and 131, Bandai Namco's held-out styles; never trained on), retargeted onto the anny body and rendered
by scripts/make_sample.py (OpenCV rasteriser, floor and wall) from cameras around the person
(azimuth relative to the direction of travel) at several heights. The truth per frame is the rendered
body's H36M-17 joints in camera space (metres), read off the posed body
(vid2pose.render.body.anny_h36m_joints documents how each joint is taken). Rendered clips are cached.

Metrics (mm; what users get: the tool's own metric scale from --height 1.70 and its assumed focal
length, not the truth's):
  det      frames with a 3D pose / frames
  cam      camera-space MPJPE (root position included)
  root     root-aligned MPJPE
  N        N-MPJPE (root-relative, best uniform scale)
  P        P-MPJPE (best similarity transform per frame)
  accel    acceleration error, mm/frame^2

Not done yet (issue 7): the comparison with MediaPipe's own 3D world landmarks on the same frames.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vid2pose.train.evaluate import accel_error, mpjpe, n_mpjpe, p_mpjpe  # noqa: E402
from vid2pose.train.split import is_validation  # noqa: E402

# (mocap file under --data, start s, azimuth deg, camera height m). Azimuth: make_sample's convention,
# 0 = side view, 90 = the front of the direction of travel.
STANDARD = [
    ("cmu/iclone_cc/007/007_01.bvh.gz", 0.5, 20, 1.35),
    ("cmu/iclone_cc/007/007_01.bvh.gz", 0.5, 110, 1.0),
    ("cmu/iclone_cc/007/007_05.bvh.gz", 0.5, 200, 1.6),
    ("cmu/iclone_cc/007/007_09.bvh.gz", 0.5, 290, 2.2),
    ("cmu/cgspeed_bvh/131_01.bvh.gz", 0.0, 60, 1.35),
    ("cmu/cgspeed_bvh/131_03.bvh.gz", 0.0, 240, 1.0),
    ("bandai_namco/dataset-1/data/dataset-1_bye_childish_001.bvh.gz", 0.0, 90, 1.35),
    ("bandai_namco/dataset-1/data/dataset-1_dash_childish_001.bvh.gz", 0.0, 160, 1.8),
    ("bandai_namco/dataset-2/data/dataset-2_raise-up-both-hands_youthful_001.bvh.gz", 0.0, 330, 1.2),
    ("bandai_namco/dataset-2/data/dataset-2_raise-up-both-hands_youthful_003.bvh.gz", 0.0, 45, 2.5),
]
QUICK = STANDARD[:2]


def band(azimuth: float) -> str:
    """Where the camera sees the person from, relative to the direction of travel."""
    a = azimuth % 360
    return "side" if a < 45 or 135 <= a < 225 or a >= 315 else ("front" if a < 180 else "back")


def render(data: Path, clip: tuple, cache: Path, duration: float) -> tuple[Path, Path]:
    rel, start, az, cam_h = clip
    from vid2pose.mocap import read_bvh

    motion = read_bvh(data / rel)
    duration = round(min(duration, motion.num_frames * motion.frame_time - start - 0.1), 2)  # short takes
    name = f"{Path(rel).name.split('.')[0]}_s{start:g}_a{az}_h{cam_h:g}_d{duration:g}"
    video, truth = cache / f"{name}.mp4", cache / f"{name}_truth.npz"
    if not (video.exists() and truth.exists()):
        cmd = [sys.executable, str(REPO / "scripts" / "make_sample.py"), "--mocap", str(data / rel), "--out",
               str(cache), "--name", name, "--start", str(start), "--duration", str(duration), "--azimuth", str(az),
               "--cam-height", str(cam_h)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return video, truth


def score(poses_json: Path, truth_npz: Path) -> dict:
    doc = json.loads(poses_json.read_text())
    gt_all = np.load(truth_npz)["joints_cam"].astype(np.float64)
    track = max(doc["tracks"], key=lambda t: len(t.get("pose3d", [])))
    p3 = track["pose3d"]
    frames = np.array([f["frame"] for f in p3])
    cam = np.array([f["joints_cam"] for f in p3], np.float64)
    gt = gt_all[frames]
    rel, grel = cam - cam[:, :1], gt - gt[:, :1]
    m = lambda x: 1000 * float(np.mean(x))  # noqa: E731 (mm)
    return {"frames": len(gt_all), "det": len(frames) / len(gt_all), "cam": m(mpjpe(cam, gt)),
            "root": m(mpjpe(rel, grel)), "N": m(n_mpjpe(rel, grel)), "P": m(p_mpjpe(rel, grel)),
            "accel": m(accel_error(rel, grel)) if len(rel) > 2 else float("nan")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="the shared/data/mocap folder")
    ap.add_argument("--quick", action="store_true", help="2 short clips (a smoke test)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "vid2pose" / "bench")
    ap.add_argument("--lifter", default="ssr-stf")
    args = ap.parse_args()
    clips, duration = (QUICK, 1.5) if args.quick else (STANDARD, 4.0)
    for rel, *_ in clips:
        assert is_validation(rel), f"{rel} is not in the validation split"
    args.cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            video, truth = render(args.data, clip, args.cache, duration)
            out = Path(tmp) / (video.stem + ".json")
            subprocess.run([sys.executable, "-m", "vid2pose", "run", str(video), "--out", str(out), "--lifter",
                            args.lifter, "--device", "cpu"], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            r = score(out, truth)
            r.update(clip=Path(clip[0]).name.split(".")[0], azimuth=clip[2], cam_h=clip[3], band=band(clip[2]))
            rows.append(r)
    cols = ("det", "cam", "root", "N", "P", "accel")
    print(f"{'clip':<44} {'az':>4} {'cam h':>5} {'band':>5} {'frames':>6} " + " ".join(f"{c:>7}" for c in cols))
    for r in rows:
        print(f"{r['clip']:<44} {r['azimuth']:>4} {r['cam_h']:>5.2f} {r['band']:>5} {r['frames']:>6} "
              + " ".join(f"{r[c]:>7.3f}" if c == "det" else f"{r[c]:>7.1f}" for c in cols))
    groups = {"overall": rows} | {f"band {b}": [r for r in rows if r["band"] == b] for b in ("front", "side", "back")}
    print()
    for name, rs in groups.items():
        if rs:
            w = np.array([r["frames"] * r["det"] for r in rs])
            print(f"{name:<44} " + " ".join(f"{c} {np.average([r[c] for r in rs], weights=w):.1f}"
                                             if c != "det" else f"det {np.mean([r['det'] for r in rs]):.3f}"
                                             for c in cols))
    print(f"\n{len(rows)} clips, {time.perf_counter() - t0:.0f} s (renders cached in {args.cache})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
