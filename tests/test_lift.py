"""The lifting stage: checkpoint loading, any-length sequences, borders, flip, metric scale, root."""
import argparse

import numpy as np
import pytest
import torch

from vid2pose.errors import WeightsError
from vid2pose.lift.lifting import LiftSettings, lift_track
from vid2pose.lift.loading import load_lifter
from vid2pose.lift.metric import CHAIN_PER_HEIGHT, chain_length, metric_scales, root_trajectory, standing_height
from vid2pose.lift.normalize import camera_to_25d, normalize_window
from vid2pose.lift.registry import LIFTERS
from vid2pose.lift.sequence import (LiftOptions, aim_rotation, back_project, blend_weights, dense_track, lift_sequence,
                                    rotate_keypoints, window_starts)
from vid2pose.models import SSRSTF
from vid2pose.skeletons import H36M_FLIP
from vid2pose.types import Track, VideoMeta

torch.set_num_threads(1)
TINY = dict(n_layers=2, dim_feat=16, dim_rep=32, num_heads=2)


def save_ours(path, clip_len=27, fps=30.0, seed=0):
    torch.manual_seed(seed)
    m = SSRSTF(**TINY)
    torch.save({"format": "vid2pose.lifter", "version": 1, "model": "SSRSTF", "config": TINY,
                "state_dict": m.state_dict(), "norm": "box", "fps": fps, "clip_len": clip_len, "flip": True}, path)
    return path


def walking_2d(n, width=640, height=480, fps=30.0):
    """A smooth made-up 2D sequence (pixels + confidence) of a person moving across the frame."""
    t = np.arange(n) / fps
    base = np.array([[0, 0], [-12, 0], [-14, 45], [-14, 90], [12, 0], [14, 45], [14, 90], [0, -30], [0, -60],
                     [0, -70], [0, -85], [18, -58], [26, -30], [28, -5], [-18, -58], [-26, -30], [-28, -5]], float)
    kp = np.zeros((n, 17, 3), np.float32)
    swing = np.sin(2 * np.pi * 1.0 * t)[:, None]
    kp[:, :, :2] = base[None] + [[200, 240]]
    kp[:, :, 0] += (60 * t)[:, None]
    kp[:, [2, 3], 0] += 10 * swing
    kp[:, [5, 6], 0] -= 10 * swing
    kp[:, [12, 13], 0] += 6 * swing
    kp[:, :, 2] = 0.9
    return kp


def track_of(kp, frames=None):
    """A Track holding the H36M keypoints ``kp`` at ``frames`` (default: every frame from 0), 30 fps."""
    frames = np.arange(len(kp)) if frames is None else np.asarray(frames)
    return Track(track_id=1, frame_indices=frames, times=frames / 30.0, bboxes=np.zeros((len(kp), 4), np.float32),
                 scores=np.ones(len(kp), np.float32), keypoints=kp, h36m=kp)


@pytest.fixture
def ours(tmp_path):
    return load_lifter("ssr-stf", save_ours(tmp_path / "ssr.pt"))


def test_registry_entries_are_complete():
    assert {"ssr-stf", "motionagformer-xs", "motionagformer-s", "motionagformer-b", "motionagformer-l",
            "motionbert", "motionbert-lite"} <= set(LIFTERS)
    from vid2pose.weights import WEIGHTS

    for spec in LIFTERS.values():
        w = WEIGHTS[spec.weights]
        assert w.filename and w.source and w.licence and spec.norm in ("screen", "box")
        assert spec.short_clips in ("resample", "cut", "pad") and spec.fps > 0 and spec.clip_len > 0


@pytest.mark.parametrize("name, key", [("motionagformer-xs", "model"), ("motionbert-lite", "model_pos")])
def test_official_checkpoint_layout_loads_unchanged(tmp_path, name, key):
    from vid2pose.lift.loading import build_model

    spec = LIFTERS[name]
    torch.manual_seed(0)
    ref = build_model(spec).eval()
    ckpt = {"epoch": 3, "lr": 1e-4, key: {"module." + k: v for k, v in ref.state_dict().items()}}
    path = tmp_path / "official.bin"
    torch.save(ckpt, path)
    loaded = load_lifter(name, path)
    x = torch.rand(1, spec.clip_len if name.startswith("motionagformer") else 20, 17, 3)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), ref(x))


def test_wrong_or_unsafe_files_are_refused(tmp_path):
    # a checkpoint holding a Python object beyond tensors: refused unless trusted
    m = SSRSTF(**TINY)
    p = tmp_path / "pickled.pt"
    torch.save({"format": "vid2pose.lifter", "model": "SSRSTF", "config": TINY, "state_dict": m.state_dict(),
                "args": argparse.Namespace(lr=1)}, p)
    with pytest.raises(WeightsError, match="--trust-weights"):
        load_lifter("ssr-stf", p)
    assert load_lifter("ssr-stf", p, trust=True).spec.model == "SSRSTF"
    # another model's weights
    with pytest.raises(WeightsError, match="SSRSTF lifter, not MotionAGFormer"):
        load_lifter("motionagformer-xs", save_ours(tmp_path / "ours.pt"))
    from vid2pose.lift.loading import build_model

    xs = tmp_path / "xs.bin"
    torch.save({"model": build_model(LIFTERS["motionagformer-xs"]).state_dict()}, xs)
    with pytest.raises(WeightsError, match="does not fit motionagformer-b"):
        load_lifter("motionagformer-b", xs)
    # not a checkpoint at all
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"hello world" * 10)
    with pytest.raises(WeightsError, match="not a readable PyTorch checkpoint"):
        load_lifter("ssr-stf", junk)


@pytest.mark.parametrize("n", [1, 5, 27, 100])
def test_any_length(ours, n):
    out = lift_sequence(walking_2d(n), 30.0, 640, 480, ours)
    assert out.shape == (n, 17, 3) and np.isfinite(out).all()
    np.testing.assert_allclose(out[:, 0], 0, atol=1e-5)  # root-relative


def test_short_clip_policies_of_the_official_models(tmp_path):
    from vid2pose.lift.loading import build_model

    torch.manual_seed(0)
    path = tmp_path / "xs.bin"
    torch.save({"model": build_model(LIFTERS["motionagformer-xs"]).state_dict()}, path)
    xs = load_lifter("motionagformer-xs", path)  # T = 27 exactly, so 10 frames are resampled to 27
    out = lift_sequence(walking_2d(10, fps=50), 50.0, 640, 480, xs)
    assert out.shape == (10, 17, 3) and np.isfinite(out).all()


def test_window_layout():
    assert window_starts(10, 27) == [0]
    s = window_starts(100, 27)
    assert s[0] == 0 and s[-1] == 73 and all(b - a <= 13 for a, b in zip(s, s[1:]))
    w = blend_weights(27)
    assert w.min() > 0 and w[13] == w.max()


def border_ratio(lifter, hops):
    kp = walking_2d(300)
    out = lift_sequence(kp, 30.0, 640, 480, lifter, LiftOptions(flip=False, hops=hops))
    acc = np.linalg.norm(out[2:] - 2 * out[1:-1] + out[:-2], axis=-1).mean(-1)  # (N-2,)
    starts = window_starts(300, 27, hops or lifter.spec.hops)
    borders = sorted({s for s in starts[1:]} | {s + 27 for s in starts[:-1]})
    near = np.zeros(len(acc), bool)
    for b in borders:
        near[max(0, b - 2):b + 1] = True
    return acc[near].mean() / acc[~near].mean()


def test_window_borders_show_no_jump(ours):
    # An untrained network (windows disagree a lot) at the released lifters' quarter-window hop ...
    assert border_ratio(ours, 4) <= 1.2


def test_window_borders_show_no_jump_with_the_shipped_lifter():
    # ... and the shipped ssr-stf at its own hop (three windows per frame, three quarters of the cost).
    from vid2pose.weights import find

    if find("ssr-stf") is None:
        pytest.skip("weights/ssr-stf.pt is not present")
    shipped = load_lifter("ssr-stf", None, "cpu")
    assert shipped.spec.hops == 3
    assert border_ratio(shipped, None) <= 1.2


def test_flip_averaged_output_is_mirror_symmetric(ours):
    kp = walking_2d(40)
    mirrored = kp[:, H36M_FLIP].copy()
    mirrored[..., 0] = 640 - 1 - mirrored[..., 0]
    a = lift_sequence(kp, 30.0, 640, 480, ours, LiftOptions(flip=True))
    b = lift_sequence(mirrored, 30.0, 640, 480, ours, LiftOptions(flip=True))
    b = b[:, H36M_FLIP]
    b[..., 0] *= -1
    np.testing.assert_allclose(a, b, atol=2e-3 * np.abs(a).max())


def test_dense_track_interpolates_and_flags_gaps():
    frames = np.array([0, 1, 4, 5])
    kp = np.zeros((4, 17, 3), np.float32)
    kp[:, :, 0] = frames[:, None] * 10.0
    kp[:, :, 2] = 1.0
    f, d, interp = dense_track(frames, kp)
    assert list(f) == [0, 1, 2, 3, 4, 5] and list(interp) == [False, False, True, True, False, False]
    np.testing.assert_allclose(d[2:4, 0, 0], [20, 30])
    assert (d[interp, :, 2] == 0.5).all()


def reference_skeleton(scale=1.0):
    """A standing skeleton whose ankle-to-head chain is exactly 1.62 (x scale): legs 0.82, pelvis-thorax 0.50,
    thorax-head top 0.30 (the nose sits in front of the neck, off the chain)."""
    P = np.zeros((17, 3))
    P[[1, 4], 0] = [-0.1, 0.1]
    for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):
        P[knee] = P[hip] + [0, 0.42, 0]
        P[ankle] = P[knee] + [0, 0.40, 0]
    P[7], P[8], P[9], P[10] = [0, -0.25, 0], [0, -0.50, 0], [0, -0.66, -0.10], [0, -0.80, 0]
    P[11], P[14] = P[8] + [0.18, 0, 0], P[8] + [-0.18, 0, 0]
    P[12], P[15] = P[11] + [0, 0.28, 0], P[14] + [0, 0.28, 0]
    P[13], P[16] = P[12] + [0, 0.25, 0], P[15] + [0, 0.25, 0]
    return P * scale


def test_metric_scale_on_a_known_skeleton():
    P = reference_skeleton()
    assert chain_length(P[None]) == pytest.approx(0.82 + 0.80)
    seq = np.repeat(reference_skeleton(250.0)[None], 10, 0)  # in "pixels"
    s = metric_scales(seq, 1.70)
    # a body's chain is CHAIN_PER_HEIGHT times its standing height
    np.testing.assert_allclose(s * 250.0 * 1.62, 1.70 * CHAIN_PER_HEIGHT)
    assert standing_height(seq * s[:, None, None]) == pytest.approx(1.70)


def test_metric_scale_follows_the_depth_and_ignores_single_frames():
    # walking away from 3 to 6 m: in pixels at the person's depth the body halves; in metres it must not
    F = 150
    px = 900.0 / np.linspace(3.0, 6.0, F)
    seq = reference_skeleton()[None] * px[:, None, None]
    metres = seq * metric_scales(seq, 1.70)[:, None, None]
    np.testing.assert_allclose([standing_height(m[None]) for m in metres], 1.70, rtol=1e-6)
    # ten frames with a badly stretched right leg (a sixth of the two-second window) change nothing
    seq = np.repeat(reference_skeleton(300.0)[None], F, 0)
    seq[70:80, 2:4] *= 1.6
    np.testing.assert_allclose(metric_scales(seq, 1.70), metric_scales(seq[:1], 1.70)[0], rtol=1e-9)
    assert metric_scales(np.zeros((5, 17, 3)), 1.7).tolist() == [0.0] * 5  # nothing to measure: no scale


def test_root_trajectory_recovers_the_camera_space_position():
    rel = reference_skeleton()
    F = 20
    root = np.stack([np.linspace(-1, 1, F), np.full(F, 0.3), np.linspace(3, 6, F)], 1)
    cam = rel[None] + root[:, None]
    K = np.array([[900.0, 0, 320], [0, 900.0, 240], [0, 0, 1]])
    uv = camera_to_25d(cam, K)[..., :2]
    kp = np.concatenate([uv, np.ones((F, 17, 1))], -1)
    est = root_trajectory(np.repeat(rel[None], F, 0), kp, 900.0, 320, 240, smooth_sigma=0)
    np.testing.assert_allclose(est, root, atol=1e-3)


def test_lift_track_end_to_end(ours):
    kp = walking_2d(50)
    keep = np.r_[0:20, 25:50]  # five frames without detection
    track = track_of(kp[keep], keep)
    meta = VideoMeta(source="x.mp4", fps=30.0, width=640, height=480, frame_count=50)
    t3 = lift_track(track, meta, ours, LiftSettings(height=1.8, focal=700.0))
    assert t3.joints.shape == (50, 17, 3) and t3.interpolated.sum() == 5
    assert standing_height(t3.joints) == pytest.approx(1.8, rel=2e-3)  # scaled per frame (running medians)
    assert (t3.root[:, 2] > 0).all() and np.isfinite(t3.joints_cam).all()


def yawed(deg):
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])


def test_back_project_reads_the_25d_targets_in_any_virtual_camera():
    K = np.array([[900.0, 0, 640], [0, 900.0, 360], [0, 0, 1]])
    X = reference_skeleton() + [1.2, 0.4, 3.0]  # off to the right and below the axis, 3 m away
    X[12:14, 2] -= 0.4  # a forearm reaching toward the camera: perspective matters
    want = (X - X[:1]) * 900.0 / X[0, 2]  # root-relative, pixels at the root's depth
    np.testing.assert_allclose(back_project(camera_to_25d(X, K), 900.0, 640, 360), want, atol=1e-3)
    # seen through a virtual camera turned to look at the person, then turned back
    R = aim_rotation(camera_to_25d(X, K)[0, :2], 900.0, 640, 360)
    np.testing.assert_allclose(back_project(camera_to_25d(X @ R.T, K), 900.0, 640, 360, R), want, atol=1e-3)
    # the virtual camera's view is what turning the real one about its centre shows
    kp = np.concatenate([camera_to_25d(X, K)[:, :2], np.ones((17, 1))], -1)
    np.testing.assert_allclose(rotate_keypoints(kp, R, 900.0, 640, 360)[:, :2], camera_to_25d(X @ R.T, K)[:, :2],
                               atol=1e-3)
    assert abs(R[0, 1]) < 1e-12  # pan then tilt: the virtual camera's x axis stays level (no roll)


def test_recentring_turns_the_lifted_pose_with_the_camera(ours):
    # The same motion with the camera panned 25 degrees (the person near the frame's edge): a box-normalised
    # lifter sees almost the same window, so without recentring its pose comes out turned by the pan.
    K = np.array([[900.0, 0, 640], [0, 900.0, 360], [0, 0, 1]])
    t = np.arange(27) / 30
    X = np.repeat(reference_skeleton()[None], 27, 0) + [0, 0, 4.0]
    X[:, 12:14, 2] += 0.3 * np.sin(2 * np.pi * t)[:, None]
    results = {}
    for recentre in (True, False):
        metres = []
        for R in (np.eye(3), yawed(25)):
            Xc = X @ R.T
            kp = np.concatenate([camera_to_25d(Xc, K)[..., :2], np.full((27, 17, 1), 0.9)], -1).astype(np.float32)
            rel = lift_sequence(kp, 30.0, 1280, 720, ours, LiftOptions(recentre=recentre), focal=900.0)
            metres.append(rel * Xc[:, :1, 2:3] / 900.0 @ R)  # back in the first camera's axes
        size = np.linalg.norm(metres[0], axis=-1).mean()
        results[recentre] = np.linalg.norm(metres[1] - metres[0], axis=-1).mean() / size
    assert results[True] < 0.005 and results[False] > 0.05


def test_box_normalisation_round_trip():
    kp = walking_2d(27)
    x, norm = normalize_window(kp, "box")
    assert x[..., :2].min() >= -1 - 1e-6 and x[..., :2].max() <= 1 + 1e-6
    back = norm.to_pixels(np.concatenate([x[..., :2], np.zeros((27, 17, 1), np.float32)], -1))
    np.testing.assert_allclose(back[..., :2], kp[..., :2], atol=1e-3)


def test_mediapipe_visibility_goes_to_the_lifter_on_its_training_scale(ours):
    from vid2pose.lift.confidence import lifter_confidence

    kp = walking_2d(40)
    kp[:, 11:17, 2] = np.linspace(0.02, 1.0, 40)[:, None]  # arms from hidden to plainly visible
    conf = lifter_confidence("mediapipe", kp)[..., 2]
    assert np.all(np.diff(conf[:, 13]) >= 0) and 0.85 <= conf.min() and conf.max() <= 0.93
    assert np.array_equal(lifter_confidence("rtmpose", kp), kp) and np.array_equal(lifter_confidence(None, kp), kp)
    track = track_of(kp)
    meta = VideoMeta(source="x.mp4", fps=30.0, width=640, height=480, frame_count=40)
    calibrated = Track(**{**track.__dict__, "h36m": lifter_confidence("mediapipe", kp)})
    a = lift_track(track, meta, ours, LiftSettings(focal=700.0), backend="mediapipe")
    b = lift_track(calibrated, meta, ours, LiftSettings(focal=700.0))
    c = lift_track(track, meta, ours, LiftSettings(focal=700.0))
    np.testing.assert_allclose(a.joints_cam, b.joints_cam, atol=1e-6)
    assert np.abs(a.joints_cam - c.joints_cam).max() > 1e-4


def test_the_shipped_card_describes_the_shipped_file():
    # weights/ssr-stf.md is the only record of how weights/ssr-stf.pt was made: its sha256 and the config in
    # the file must be the card's, so a swapped file or a stale card fails here.
    import hashlib
    import json
    import re
    from pathlib import Path

    weights = Path(__file__).resolve().parents[1] / "weights"
    if not (weights / "ssr-stf.pt").exists():
        pytest.skip("weights/ssr-stf.pt is not present")
    card = (weights / "ssr-stf.md").read_text()
    sha = hashlib.sha256((weights / "ssr-stf.pt").read_bytes()).hexdigest()
    assert f"sha256 `{sha}`" in card
    stored = torch.load(weights / "ssr-stf.pt", map_location="cpu", weights_only=True)
    model_kwargs = re.search(r"model: `SSRSTF\(\*\*(\{.*?\})\)`", card).group(1)
    assert json.loads(model_kwargs) == stored["config"]
    run = stored["train"]
    assert f"seed {run['seed']}, {run['steps']} of {run['total_steps']} steps" in card
