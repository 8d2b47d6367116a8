"""Training pipeline: projection/normalisation round trip, a tiny training run, metric functions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vid2pose.lift.normalize import camera_to_25d, normalize_window
from vid2pose.skeletons import H36M_PARENTS
from vid2pose.train import cameras as cams
from vid2pose.train.data import Corpus, make_batch
from vid2pose.train.evaluate import (accel_error, evaluate_corpus, evaluate_sequences, model_to_metres, mpjpe,
                                     n_mpjpe, p_mpjpe, procrustes_align, sequence_spans, summarize)
from vid2pose.train.noise import apply_noise
from vid2pose.train.train import (DEFAULTS, build_model, deep_update, grow_layers, lifter_loss, lr_at,
                                  procrustes_aligned)

# A standing H36M-17 pose, metres, Y up, facing +Z (left = +X).
REST = np.array([
    [0, 0.93, 0], [-0.1, 0.93, 0], [-0.1, 0.5, 0.02], [-0.1, 0.08, 0], [0.1, 0.93, 0], [0.1, 0.5, 0.02],
    [0.1, 0.08, 0], [0, 1.18, -0.01], [0, 1.43, 0], [0, 1.55, 0.08], [0, 1.7, 0.02], [0.18, 1.42, 0],
    [0.2, 1.14, 0], [0.21, 0.9, 0.02], [-0.18, 1.42, 0], [-0.2, 1.14, 0], [-0.21, 0.9, 0.02]], np.float64)
FACE = np.array([[0, 1.6, 0.1], [0.03, 1.64, 0.08], [-0.03, 1.64, 0.08], [0.075, 1.61, 0], [-0.075, 1.61, 0]])


def synthetic_corpus(n_clips: int = 3, frames: int = 90, seed: int = 0) -> Corpus:
    """Walking-in-place motion: swinging arms and legs, a slow turn, drifting root."""
    rng = np.random.default_rng(seed)
    clips = []
    for c in range(n_clips):
        t = np.arange(frames) / 30.0
        ph = 2 * np.pi * (1.0 + 0.3 * c) * t
        P = np.repeat(np.concatenate([REST, FACE])[None], frames, 0).copy()
        for j, sgn in ((2, 1), (3, 1), (5, -1), (6, -1), (12, -1), (13, -1), (15, 1), (16, 1)):
            P[:, j, 2] += sgn * 0.15 * np.sin(ph) * (1.5 if j in (3, 6, 13, 16) else 1.0)
        yaw = 0.3 * np.sin(0.5 * t + c)
        cy, sy = np.cos(yaw), np.sin(yaw)
        x, z = P[..., 0].copy(), P[..., 2].copy()
        P[..., 0] = cy[:, None] * x + sy[:, None] * z
        P[..., 2] = -sy[:, None] * x + cy[:, None] * z
        P[..., 0] += 0.2 * t[:, None] + rng.normal(0, 0.001, (frames, 1))
        clips.append(P.astype(np.float32))
    lengths = np.array([len(p) for p in clips])
    return Corpus(np.concatenate(clips), np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths,
                  ["synthetic"] * n_clips, [f"clip{i}" for i in range(n_clips)], 30.0)


def test_projection_and_normalisation_round_trip():
    """World -> camera -> 2.5D pixels -> model units -> back to metres recovers the pose."""
    rng = np.random.default_rng(0)
    B, T = 6, 9
    X = np.repeat(REST[None, None], B, 0).repeat(T, 1) + rng.normal(0, 0.02, (B, T, 17, 3))
    cam = cams.sample_cameras(rng, X)
    Xc = cam.to_camera(X)
    assert (Xc[..., 2] > 0.5).all()
    uv = cam.project(Xc)
    W, H = cam.size[:, 0], cam.size[:, 1]
    # the person is in frame
    assert (uv[..., 0] > -0.05 * W[:, None, None]).all() and (uv[..., 0] < 1.05 * W[:, None, None]).all()
    assert (uv[..., 1] > -0.05 * H[:, None, None]).all() and (uv[..., 1] < 1.05 * H[:, None, None]).all()
    for b in range(B):
        uvd = camera_to_25d(Xc[b], cam.K[b])
        assert np.allclose(uvd[..., :2], uv[b], atol=1e-2)
        kp = np.concatenate([uv[b], np.ones((T, 17, 1))], -1)
        inp, norm = normalize_window(kp, "box")
        assert np.abs(inp[..., :2]).max() <= 1.0 + 1e-5
        # target in model units, as data.make_batch builds it
        y = norm.to_model(uvd)
        y[..., :2] -= y[..., 0:1, :2]
        y[..., 2] = norm.depth_to_model(uvd[..., 2])
        back = norm.to_pixels(y)  # x, y: offsets from the root + box origin; depth in pixels
        assert np.allclose(back[..., 2], uvd[..., 2], atol=1e-2)
        P = model_to_metres(y[None], np.array([norm.s]), cam.K[b:b + 1, 0, 0], cam.K[b:b + 1, :2, 2],
                            uv[b:b + 1, :, 0], Xc[b:b + 1, :, 0, 2])
        assert np.allclose(P[0], Xc[b] - Xc[b, :, :1], atol=2e-3)


@pytest.mark.parametrize("recentre", [False, True])
def test_make_batch_shapes_and_clean_targets(recentre):
    corpus = synthetic_corpus()
    cfg = {"noise": {"disable": True}, "camera": {"recentre": recentre}}
    b = make_batch(np.random.default_rng(1), corpus, 8, 27, cfg)
    assert b["input"].shape == (8, 27, 17, 3) and b["target"].shape == (8, 27, 17, 3)
    assert np.isfinite(b["input"]).all() and np.isfinite(b["target"]).all() and b["ok"].all()
    assert np.allclose(b["target"][:, :, 0], 0, atol=1e-6)  # root-relative
    # without noise the limbs' 2D input equals the target's x, y up to the root offset (the input
    # pelvis is the 2D midpoint of the hips, the target's the projected 3D midpoint: they differ
    # by perspective only, ~0.1 % of the box)
    limbs = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]
    rel = b["input"][..., :2] - b["input"][..., 0:1, :2]
    assert np.abs(rel[:, :, limbs] - b["target"][:, :, limbs, :2]).max() < 5e-3
    # the metric conversion gives the true camera-space pose back from the target (from the virtual
    # camera's view turned back, when recentred)
    P = model_to_metres(b["target"], b["s"], b["f"], b["c"], b["view_root_uv"], b["view_root_z"])
    P = np.einsum("btjk,bkl->btjl", P, b["turn"])
    assert np.abs(P - b["gt_cam"]).max() < 5e-3
    turned = np.abs(b["turn"] - np.eye(3)).max((1, 2)) > 1e-6
    assert turned.all() if recentre else not turned.any()
    if recentre:  # the view is aimed where `vid2pose run` aims it
        from vid2pose.lift.normalize import box_norm
        from vid2pose.lift.sequence import aim_rotation, aim_point, rotate_keypoints

        f, (cx, cy) = float(b["f"][0]), b["c"][0]
        R = aim_rotation(aim_point(box_norm(b["kp2d"][0])), f, cx, cy)
        np.testing.assert_allclose(R, b["turn"][0], atol=1e-6)
        view = rotate_keypoints(b["kp2d"][0], R, f, cx, cy)
        x, y = aim_point(box_norm(view))
        assert abs(x - cx) < 0.02 * f and abs(y - cy) < 0.02 * f


def test_noise_model_statistics():
    rng = np.random.default_rng(0)
    B, T = 64, 27
    kp = rng.uniform(200, 800, (B, T, 17, 2))
    h = np.full(B, 750.0)
    noisy = apply_noise(rng, kp, h)
    err = np.linalg.norm(noisy[..., :2] - kp, axis=-1)
    med = np.median(err) / 750
    assert 0.008 < med < 0.03  # ~1.2 % per axis -> ~1.5-2 % 2D median
    gross = (err / 750 > 0.04).mean()
    assert 0.04 < gross < 0.25
    wrists, shoulders = err[..., [9, 10]].mean(), err[..., [5, 6]].mean()
    assert wrists > 2 * shoulders
    conf = noisy[..., 2]
    assert 0 <= conf.min() and conf.max() <= 1
    assert np.corrcoef(conf.ravel(), err.ravel())[0, 1] < -0.3


def _swap_fractions(cfg: dict, seed: int = 0) -> np.ndarray:
    """Share of frames with each LR pair (shoulders .. ankles) swapped, swaps being the only noise."""
    from vid2pose.train.noise import LR_PAIRS

    rng = np.random.default_rng(seed)
    B, T = 400, 60
    kp = rng.uniform(200, 800, (B, 1, 17, 2)).repeat(T, 1)  # keypoints far apart: a swap is never ambiguous
    quiet = {"white_sigma": 0.0, "smooth_sigma": 0.0, "bias_sigma": 0.0, "outlier_scale": 0.0, "drop_p": 0.0,
             "body_swap_p": 0.0}
    out = apply_noise(rng, kp, np.full(B, 750.0), dict(quiet, **cfg))[..., :2]
    return np.array([np.all(np.isclose(out[..., a, :], kp[..., b, :]), -1).mean() for a, b in LR_PAIRS])


def test_limb_swaps_per_pair_with_their_own_rates_and_length():
    # one number: elbows, wrists, knees, ankles alike (never shoulders or hips)
    f = _swap_fractions({"limb_swap_p": 0.01})
    assert f[0] == 0 and f[3] == 0 and np.all((f[[1, 2, 4, 5]] > 0.02) & (f[[1, 2, 4, 5]] < 0.08))
    # six numbers: each pair its own rate, shoulders and hips included; the share ~ rate x mean length
    rates = (0.02, 0.0, 0.005, 0.01, 0.0, 0.0)
    for length in (2.0, 5.0):
        f = _swap_fractions({"limb_swap_p": rates, "limb_swap_len": length})
        assert np.all(f[[1, 4, 5]] == 0)
        np.testing.assert_allclose(f[[0, 2, 3]], np.array(rates)[[0, 2, 3]] * length, rtol=0.3)
    with pytest.raises(ValueError, match="limb_swap_p"):
        _swap_fractions({"limb_swap_p": (0.01, 0.01)})


def test_exact_2d_pairs_with_the_noise_model():
    # noise off draws the same cameras and bodies as noise on (the noise is drawn and dropped), so an
    # exact-2D evaluation differs from the noise-model one by the 2D errors alone
    corpus = synthetic_corpus()
    noisy = make_batch(np.random.default_rng(5), corpus, 6, 27, {})
    exact = make_batch(np.random.default_rng(5), corpus, 6, 27, {"noise": {"disable": True}})
    assert np.array_equal(noisy["gt_cam"], exact["gt_cam"]) and np.array_equal(noisy["f"], exact["f"])
    # (the model-space targets differ: they are scaled by each input's own 2D box)
    assert not np.allclose(noisy["input"], exact["input"], atol=1e-3)
    assert np.all(exact["input"][..., 2] == 1.0)  # full confidence
    # the windows after these too: the stream was used alike
    rng_noisy, rng_exact = np.random.default_rng(9), np.random.default_rng(9)
    make_batch(rng_noisy, corpus, 6, 27, {})
    make_batch(rng_exact, corpus, 6, 27, {"noise": {"disable": True}})
    assert np.array_equal(make_batch(rng_noisy, corpus, 6, 27, {})["gt_cam"],
                          make_batch(rng_exact, corpus, 6, 27, {})["gt_cam"])


def test_tiny_training_run_reduces_loss():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    corpus = synthetic_corpus()
    cfg = deep_update(DEFAULTS, {"noise": {"disable": True}})
    model = build_model(deep_update(cfg, {"model": dict(n_layers=1, dim_feat=16, dim_rep=32, num_heads=2, mlp_ratio=2,
                                                         layer_scale_init_value=0.1)}), fresh=True)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    b = make_batch(np.random.default_rng(0), corpus, 8, 9, cfg)
    x, y = torch.from_numpy(b["input"]), torch.from_numpy(b["target"])
    losses = []
    for _ in range(30):
        loss, _ = lifter_loss(model(x), y, cfg["loss"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_lr_schedule():
    o = {"lr": 1e-3, "warmup_steps": 10, "lr_min_ratio": 0.1}
    assert lr_at(0, 100, o) == pytest.approx(1e-4)
    assert lr_at(10, 100, o) == pytest.approx(1e-3)
    assert lr_at(100, 100, o) == pytest.approx(1e-4)


def _rot(axis, deg):
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return {"y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]), "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]])}[axis]


def test_metrics_known_cases():
    rng = np.random.default_rng(0)
    gt = (REST - REST[0])[None] + rng.normal(0, 0.01, (5, 17, 3))
    gt -= gt[:, :1]
    assert np.allclose(mpjpe(gt, gt), 0) and np.allclose(p_mpjpe(gt, gt), 0, atol=1e-9)
    assert np.allclose(n_mpjpe(gt, gt), 0)
    # a rotation + scale + translation is removed by P-MPJPE, not by MPJPE
    R = _rot("y", 40) @ _rot("x", 15)
    moved = 1.3 * gt @ R.T + np.array([0.1, -0.2, 0.3])
    assert mpjpe(moved, gt).mean() > 0.05
    assert np.allclose(p_mpjpe(moved, gt), 0, atol=1e-8)
    assert np.allclose(procrustes_align(moved, gt), gt, atol=1e-8)
    # a scale is removed by N-MPJPE, a rotation is not
    assert np.allclose(n_mpjpe(0.7 * gt, gt), 0, atol=1e-9)
    assert n_mpjpe(gt @ R.T, gt).mean() > 0.02
    # reflections are not allowed in P-MPJPE
    mirrored = gt * np.array([-1, 1, 1])
    assert p_mpjpe(mirrored, gt).mean() > 0.01
    # acceleration error: zero for identical or uniformly moving offsets, known for a bump
    seq = np.repeat(gt[:1], 10, 0)
    assert np.allclose(accel_error(seq, seq), 0)
    drift = seq + np.arange(10)[:, None, None] * 0.01
    assert np.allclose(accel_error(drift, seq), 0, atol=1e-12)
    bump = seq.copy()
    bump[5] += np.array([0.0, 0.003, 0.004])  # 5 mm at one frame -> second differences 5, -10, 5 mm
    e = accel_error(bump, seq)
    assert np.allclose(e[[3, 4, 5]], [0.005, 0.010, 0.005])



def test_procrustes_loss_term_matches_p_mpjpe_and_trains_the_pose_not_its_placement():
    rng = np.random.default_rng(1)
    gt = (REST - REST[0])[None] + rng.normal(0, 0.02, (6, 17, 3))
    pred = gt + rng.normal(0, 0.03, gt.shape)
    R = _rot("y", 40) @ _rot("x", 15)
    moved = 1.3 * pred @ R.T + np.array([0.1, -0.2, 0.3])
    # the torch alignment is the evaluation's (P-MPJPE), rotations only
    t_moved, t_gt = torch.tensor(moved), torch.tensor(gt)
    assert np.allclose(procrustes_aligned(t_moved, t_gt).numpy(), procrustes_align(moved, gt), atol=1e-9)
    mirrored = torch.tensor(gt * np.array([-1, 1, 1]))
    assert torch.linalg.vector_norm(procrustes_aligned(mirrored, t_gt) - t_gt, dim=-1).mean() > 0.01
    # the term: P-MPJPE times its weight; off (absent or 0) it is not computed and the loss is unchanged
    w = {"scale": 0.5, "velocity": 20.0}
    x = torch.tensor(moved[None], dtype=torch.float32, requires_grad=True)
    y = torch.tensor(gt[None], dtype=torch.float32)
    base, parts = lifter_loss(x, y, w)
    assert "p_mpjpe" not in parts and float(lifter_loss(x, y, dict(w, procrustes=0.0))[0].detach()) == float(base.detach())
    with_p, parts = lifter_loss(x, y, dict(w, procrustes=2.0))
    assert parts["p_mpjpe"] == pytest.approx(float(p_mpjpe(moved, gt).mean()), rel=1e-4)
    assert float((with_p - base).detach()) == pytest.approx(2.0 * parts["p_mpjpe"], rel=1e-4)
    # nothing to learn when only the similarity transform is wrong
    x2 = torch.tensor((1.3 * gt @ R.T + 0.1)[None], dtype=torch.float32)
    assert lifter_loss(x2, y, {"scale": 0.0, "velocity": 0.0, "procrustes": 1.0})[1]["p_mpjpe"] < 1e-5
    # and a step down its gradient lowers P-MPJPE
    (torch.linalg.vector_norm(procrustes_aligned(x, y) - y, dim=-1).mean()).backward()
    stepped = (x - 0.05 * x.grad / x.grad.norm()).detach().numpy()[0]
    assert p_mpjpe(stepped, gt).mean() < p_mpjpe(moved, gt).mean()


def test_joint_weights_weigh_the_position_terms_and_leave_velocity_alone():
    rng = np.random.default_rng(2)
    y = torch.tensor(rng.normal(0, 0.3, (2, 5, 17, 3)), dtype=torch.float32)
    x = y.clone()
    x[..., 3, :] += torch.tensor([0.06, 0.0, 0.0])  # only the right ankle is wrong, by the same offset in every frame
    w = {"scale": 0.5, "velocity": 20.0, "procrustes": 1.0}
    _, plain = lifter_loss(x, y, w)
    assert plain["mpjpe"] == pytest.approx(0.06 / 17, rel=1e-4)
    # unit weights (at any scale) are the plain loss; an empty list is no weighting
    for same in ([1.0] * 17, [3.0] * 17, []):
        assert lifter_loss(x, y, dict(w, joint_weights=same))[1] == pytest.approx(plain, rel=1e-5)
    jw = [1.0] * 17
    jw[3] = 2.0  # rescaled to mean 1: the ankle counts 2 / (18 / 17)
    _, weighted = lifter_loss(x, y, dict(w, joint_weights=jw))
    assert weighted["mpjpe"] == pytest.approx(0.06 / 17 * 2 * 17 / 18, rel=1e-4)
    assert weighted["n_mpjpe"] > plain["n_mpjpe"] and weighted["p_mpjpe"] > plain["p_mpjpe"]
    assert weighted["vel"] == plain["vel"] and plain["vel"] < 1e-6  # a constant offset has no velocity error
    for bad in ([1.0] * 16, [0.0] * 17, [1.0] * 16 + [-1.0]):
        with pytest.raises(ValueError, match="joint_weights"):
            lifter_loss(x, y, dict(w, joint_weights=bad))


def test_summarize_per_source():
    per = {k: np.array([1.0, 2.0, 3.0]) for k in ("mpjpe", "p_mpjpe", "n_mpjpe", "accel")}
    s = summarize(per, ["cmu_a", "cmu_a", "bandai_namco"])
    assert s["cmu_a"]["mpjpe"] == 1.5 and s["overall"]["mpjpe"] == 2.0 and s["cmu_all"]["windows"] == 2


def test_summarize_weights_by_frames():
    per = {k: np.array([1.0, 4.0]) for k in ("mpjpe", "p_mpjpe", "n_mpjpe", "accel")}
    s = summarize(per, ["cmu_a", "cmu_a"], frames=np.array([30, 10]))
    assert s["overall"]["mpjpe"] == pytest.approx(1.75) and s["overall"]["windows"] == 2


def test_sequence_spans_cover_long_clips_and_keep_short_ones_whole():
    c = synthetic_corpus(n_clips=1, frames=100)
    assert sequence_spans(c, 9, 40) == [(0, 0, 40), (0, 40, 40)]
    assert sequence_spans(c, 9, 40, max_per_clip=1) == [(0, 0, 40)]
    assert sequence_spans(c, 9, 120) == [(0, 0, 100)]
    assert sequence_spans(c, 101, 120) == []  # shorter than the lifter's window: not evaluated


class _RootRelative(torch.nn.Module):
    """Window metric zeroes the root output (as the lineage does), `lift_sequence` subtracts it:
    the same thing when the root output is zero, as a trained model's nearly is."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        y = self.model(x)
        return y - y[:, :, :1]


def _tiny_lifter(T: int):
    from vid2pose.train.commands import _as_lifter

    torch.manual_seed(0)
    cfg = deep_update(DEFAULTS, {"clip_len": T, "model": dict(n_layers=1, dim_feat=16, dim_rep=32, num_heads=2,
                                                                mlp_ratio=2, layer_scale_init_value=0.1)})
    model = _RootRelative(build_model(cfg, fresh=True)).eval()
    return model, cfg, _as_lifter(model, cfg)


def test_sequence_metric_of_one_window_is_the_window_metric():
    # A span of exactly T frames is one window in `lift_sequence`: the same draws must score the same,
    # but for the root's pixel position: `lift_sequence` takes the noisy 2D root, the window metric
    # the true one (recentring is off: the window metric lifts the window as it is).
    torch.set_num_threads(1)
    T = 9
    model, cfg, lifter = _tiny_lifter(T)
    corpus = synthetic_corpus(n_clips=1, frames=T)
    win = evaluate_corpus(model, corpus, T, cfg, seed=5)
    seq = evaluate_sequences(lifter, corpus, cfg, seed=5, span=T, recentre=False)
    for k in ("mpjpe", "p_mpjpe", "n_mpjpe", "accel"):
        assert seq["overall"][k] == pytest.approx(win["overall"][k], rel=1e-3)
    assert win["overall"]["mpjpe"] > 1.0  # an untrained model: the equality above is not 0 == 0


def test_sequence_metric_blends_windows_over_long_spans():
    torch.set_num_threads(1)
    T = 9
    model, cfg, lifter = _tiny_lifter(T)
    corpus = synthetic_corpus(n_clips=2, frames=60)
    seq = evaluate_sequences(lifter, corpus, cfg, seed=5, span=30)
    assert seq["overall"]["windows"] == 4 and np.isfinite(seq["overall"]["p_mpjpe"])
    # hops change what is blended, not the draws: a different figure from the same spans
    other = evaluate_sequences(lifter, corpus, cfg, seed=5, span=30, hops=1)
    assert other["overall"]["windows"] == 4 and other["overall"]["mpjpe"] != seq["overall"]["mpjpe"]
    # more draws: each span scored under more cameras
    assert evaluate_sequences(lifter, corpus, cfg, seed=5, span=30, draws=2)["overall"]["windows"] == 8
    # as `run --constant-bones`: one length per bone over each span, the same spans and draws
    rigid = evaluate_sequences(lifter, corpus, cfg, seed=5, span=30, constant_bones=True)["overall"]
    assert rigid["windows"] == 4 and np.isfinite(rigid["mpjpe"]) and rigid["mpjpe"] != seq["overall"]["mpjpe"]


def test_window_metric_with_draws_scores_each_window_under_several_cameras():
    torch.set_num_threads(1)
    model, cfg, _ = _tiny_lifter(9)
    corpus = synthetic_corpus(n_clips=1, frames=27)
    one = evaluate_corpus(model, corpus, 9, cfg, seed=5)
    three = evaluate_corpus(model, corpus, 9, cfg, seed=5, draws=3)
    assert one["overall"]["windows"] == 3 and three["overall"]["windows"] == 9
    assert three["overall"]["mpjpe"] != one["overall"]["mpjpe"]


def test_weights_file_format(tmp_path):
    from vid2pose.models.ssrstf import SSRSTF
    from vid2pose.train.train import export_weights

    cfg = deep_update(DEFAULTS, {"model": {"n_layers": 1, "dim_feat": 16, "dim_rep": 32, "num_heads": 2}})
    model = SSRSTF(**cfg["model"])
    out = tmp_path / "w.pt"
    export_weights(model, cfg, out, {"steps": 1, "metrics_mm": {}})
    obj = torch.load(out, weights_only=True)
    assert obj["format"] == "vid2pose.lifter" and obj["model"] == "SSRSTF" and obj["norm"] == "box"
    assert obj["clip_len"] == cfg["clip_len"] and obj["flip"] is True
    m2 = SSRSTF(**obj["config"])
    m2.load_state_dict(obj["state_dict"])


def test_random_proportions_draws_bone_ratios_in_range_and_keeps_the_pose():
    from vid2pose.train.data import PROPORTION_RANGES, THIGH_SHARE, bone_lengths, random_proportions

    X = np.repeat(synthetic_corpus(1, 5).points[None], 400, 0).astype(np.float64)  # (B, T, 22, 3)
    assert random_proportions(np.random.default_rng(0), X, 0.0) is X
    Y = random_proportions(np.random.default_rng(0), X, 0.6)
    changed = ~np.isclose(Y, X).all((1, 2, 3))
    assert 0.5 < changed.mean() < 0.7
    L0, L = bone_lengths(X), bone_lengths(Y)
    leg0 = (L0[:, 2] + L0[:, 3] + L0[:, 5] + L0[:, 6]) / 2
    for g, lo, hi in PROPORTION_RANGES:
        r = L[changed][:, list(g)] / leg0[changed, None]
        assert r.min() >= lo - 1e-9 and r.max() <= hi + 1e-9
        assert r.max() - r.min() > 0.6 * (hi - lo)  # the range is used, not a constant
        assert np.allclose(r[:, 0], r[:, -1])  # left and right together
    share = L[changed][:, 2] / (L[changed][:, 2] + L[changed][:, 3])
    assert share.min() >= THIGH_SHARE[0] - 1e-9 and share.max() <= THIGH_SHARE[1] + 1e-9
    assert np.allclose(L[~changed], L0[~changed])
    # bone directions (the pose) are unchanged and the root stays where it was
    par = np.array(H36M_PARENTS[1:17])
    d0 = X[:, :, 1:17] - X[:, :, par]
    d1 = Y[:, :, 1:17] - Y[:, :, par]
    cos = (d0 * d1).sum(-1) / np.linalg.norm(d0, axis=-1) / np.linalg.norm(d1, axis=-1)
    assert cos.min() > 1 - 1e-9 and np.allclose(Y[:, :, 0], X[:, :, 0])


def test_human_proportions_come_from_the_table_and_leave_the_random_stream_alone_when_off():
    from vid2pose.train.data import PROPORTION_COLUMNS, PROPORTION_RANGES, THIGH_SHARE, bone_lengths, \
        human_proportions, random_proportions

    table = human_proportions()
    assert table.shape[1] == len(PROPORTION_COLUMNS) and len(table) >= 100
    assert np.all((table[:, -1] > 0.43) & (table[:, -1] < 0.58))  # thigh / leg of people
    X = np.repeat(synthetic_corpus(1, 5).points[None], 300, 0).astype(np.float64)
    L0 = bone_lengths(X)
    leg = (L0[:, 2] + L0[:, 3] + L0[:, 5] + L0[:, 6]) / 2

    def ratios(Y):
        L = bone_lengths(Y)
        return np.stack([L[:, g[0]] / leg for g, _, _ in PROPORTION_RANGES] + [L[:, 2] / (L[:, 2] + L[:, 3])], 1)

    # without the table: the draws of the configs trained before it, in the same order
    rng = np.random.default_rng(5)
    pick = rng.random(300) < 1.0
    want = np.stack([rng.uniform(lo, hi, 300) for _, lo, hi in PROPORTION_RANGES] + [rng.uniform(*THIGH_SHARE, 300)], 1)
    assert pick.all() and np.allclose(ratios(random_proportions(np.random.default_rng(5), X, 1.0, 0.0)), want)
    # with it: every window's ratios are one table row within the +-4 % jitter
    got = ratios(random_proportions(np.random.default_rng(5), X, 1.0, 1.0))
    rel = got[:, None, :] / table[None]
    assert np.all(np.any(np.all(np.abs(rel - 1) <= 0.041, -1), -1))
    assert not np.any(np.all(np.abs(want[:, None, :] / table[None] - 1) <= 0.041, -1).any(-1).all())


def test_limb_turns_turn_arms_and_thighs_rigidly_and_draw_nothing_when_off():
    from vid2pose.train.data import LIMB_TURNS, bone_lengths, random_limb_turns

    X = np.repeat(synthetic_corpus(1, 9).points[None], 300, 0).astype(np.float64)  # (B, T, 22, 3)
    rng = np.random.default_rng(3)
    assert random_limb_turns(rng, X, 0.0, 15.0) is X and random_limb_turns(rng, X, 0.5, 0.0) is X
    assert rng.random() == np.random.default_rng(3).random()  # nothing drawn when off
    Y = random_limb_turns(np.random.default_rng(3), X, 0.5, 15.0)
    assert np.allclose(bone_lengths(Y), bone_lengths(X))
    moved = [j for _, limb in LIMB_TURNS for j in limb]
    still = [j for j in range(22) if j not in moved]
    assert np.array_equal(Y[:, :, still], X[:, :, still])  # torso, head, face, shoulders, hips
    changed = ~np.isclose(Y, X).all((1, 2, 3))
    assert 0.4 < changed.mean() < 0.6
    for pivot, limb in LIMB_TURNS:
        a, b = X[:, :, limb[0]] - X[:, :, pivot], Y[:, :, limb[0]] - Y[:, :, pivot]
        deg = np.degrees(np.arccos(np.clip((a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1), -1, 1)))
        assert deg.max() <= 15.0 + 1e-6 and deg[changed].max() > 10.0
        # one rigid turn per window: the same rotation maps the limb's both bones in every frame
        k0 = X[:, :, limb[1]] - X[:, :, limb[0]]
        k1 = Y[:, :, limb[1]] - Y[:, :, limb[0]]
        src, dst = np.concatenate([a, k0], 1), np.concatenate([b, k1], 1)  # (B, 2T, 3)
        u, _, vt = np.linalg.svd(np.einsum("bni,bnj->bij", src, dst))
        R = np.swapaxes(u @ vt, 1, 2)
        assert np.allclose(np.einsum("bij,bnj->bni", R, src), dst, atol=1e-9)
        assert np.allclose(np.linalg.det(R), 1.0)


def test_config_base_chain_and_its_errors(tmp_path):
    from vid2pose.train.train import load_config

    (tmp_path / "a.yaml").write_text("batch_size: 8\noptim: {lr: 0.002, weight_decay: 0.5}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("base: ../a.yaml\noptim: {lr: 0.001}\n")
    cfg = load_config(tmp_path / "sub" / "b.yaml")
    assert cfg["batch_size"] == 8 and cfg["optim"]["lr"] == 0.001 and cfg["optim"]["weight_decay"] == 0.5
    assert cfg["optim"]["grad_clip"] == DEFAULTS["optim"]["grad_clip"] and "base" not in cfg
    (tmp_path / "a.yaml").write_text("base: sub/b.yaml\n")
    with pytest.raises(ValueError, match="comes back to itself"):
        load_config(tmp_path / "sub" / "b.yaml")


def test_the_shipped_weights_config_file_gives_their_training_config():
    # The card's reproduce command names the config file: it must still give what the weights were trained with
    # (evaluation settings aside, which do not change the weights).
    from pathlib import Path

    from vid2pose.train.train import _plain, load_config

    root = Path(__file__).resolve().parents[1]
    t = torch.load(root / "weights" / "ssr-stf.pt", weights_only=True)["train"]
    stored, now = dict(t["config"]), _plain(load_config(root / t["config_file"]))
    stored.pop("eval"), now.pop("eval")
    # the command also passes --steps (the run's plan), which is stored when it overrode the file's
    assert stored.pop("steps") in (now.pop("steps"), t["total_steps"])
    assert stored == now


def test_limb_bias_moves_shoulders_and_ankles_as_configured():
    from vid2pose.train.noise import NOISE_DEFAULTS, limb_bias

    rng = np.random.default_rng(0)
    joints = np.repeat(np.asarray(REST, np.float64)[None, None], 9, 1)  # (1, 9, 17, 3), arms hanging
    assert limb_bias(rng, joints, dict(NOISE_DEFAULTS)) == {}  # nothing configured: nothing drawn
    assert rng.bit_generator.state == np.random.default_rng(0).bit_generator.state
    cfg = dict(NOISE_DEFAULTS, shoulder_up=(0.03, 0.03), shoulder_out=(-0.01, -0.01), shoulder_in_raised=0.05,
               ankle_up=(0.02, 0.02))
    out = limb_bias(rng, joints, cfg)
    up = joints[0, :, 8] - joints[0, :, 0]
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    for sho in (11, 14):
        d = out[sho][0] - joints[0, :, sho]
        np.testing.assert_allclose(np.sum(d * up, -1), 0.03, atol=1e-6)  # up the torso
        lat = joints[0, :, sho] - joints[0, :, 8]
        assert (np.sum(d * lat, -1) < 0).all()  # inwards
    for ank, knee in ((6, 5), (3, 2)):
        d = out[ank][0] - joints[0, :, ank]
        np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 0.02, atol=1e-6)
        assert (np.sum(d * (joints[0, :, knee] - joints[0, :, ank]), -1) > 0).all()  # towards the knee
    for key, pairs in (("elbow_up", ((12, 11), (15, 14))), ("knee_up", ((5, 4), (2, 1)))):
        moved = limb_bias(np.random.default_rng(2), joints, dict(NOISE_DEFAULTS, **{key: (0.015, 0.015)}))
        for j in (11, 14, 6, 3):  # only what is configured moves
            np.testing.assert_allclose(moved[j][0], joints[0, :, j], atol=1e-12)
        assert set(moved) == {11, 14, 6, 3} | {j for j, _ in pairs}
        for j, toward in pairs:  # elbows towards the shoulder, knees towards the hip
            d = moved[j][0] - joints[0, :, j]
            np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 0.015, atol=1e-6)
            assert (np.sum(d * (joints[0, :, toward] - joints[0, :, j]), -1) > 0).all()
    raised = joints.copy()  # left upper arm straight up: the extra inward shift applies in full
    raised[0, :, 12] = raised[0, :, 11] + 0.3 * up
    d_raised = limb_bias(np.random.default_rng(1), raised, cfg)[11][0] - joints[0, :, 11]
    d_down = limb_bias(np.random.default_rng(1), joints, cfg)[11][0] - joints[0, :, 11]
    np.testing.assert_allclose(np.linalg.norm(d_raised - d_down, axis=-1), 0.05, atol=1e-6)


def test_make_batch_with_limb_bias_shifts_the_2d_shoulders():
    corpus = synthetic_corpus()
    quiet = {"disable": False, "white_sigma": 0.0, "smooth_sigma": 0.0, "bias_sigma": 0.0, "outlier_scale": 0.0,
             "limb_swap_p": 0.0, "body_swap_p": 0.0, "drop_p": 0.0, "hip_up": (0.0, 0.0), "hip_out": (0.0, 0.0)}
    plain = make_batch(np.random.default_rng(3), corpus, 4, 9, {"noise": quiet})
    biased = make_batch(np.random.default_rng(3), corpus, 4, 9, {"noise": dict(quiet, shoulder_up=(0.05, 0.05))})
    assert np.allclose(plain["target"], biased["target"])  # the targets stay the joint centres
    sho, rest = [11, 14], [2, 3, 5, 6, 12, 13, 15, 16]
    # image y points down: the 2D shoulders move up (smaller y), the other limb joints stay
    assert (biased["kp2d"][:, :, sho, 1] < plain["kp2d"][:, :, sho, 1] - 1e-3).all()
    np.testing.assert_allclose(biased["kp2d"][:, :, rest, :2], plain["kp2d"][:, :, rest, :2], atol=1e-4)
    limbs = [2, 3, 5, 6, 11, 12, 13, 14, 15, 16]
    for key, joints in (("elbow_up", [12, 15]), ("knee_up", [5, 2])):  # each moves its own 2D joints only
        moved = make_batch(np.random.default_rng(3), corpus, 4, 9, {"noise": dict(quiet, **{key: (0.05, 0.05)})})
        others = [j for j in limbs if j not in joints]
        assert np.linalg.norm(moved["kp2d"][:, :, joints, :2] - plain["kp2d"][:, :, joints, :2], axis=-1).min() > 1e-3
        np.testing.assert_allclose(moved["kp2d"][:, :, others, :2], plain["kp2d"][:, :, others, :2], atol=1e-4)


def test_hip_fwd_moves_the_hips_the_way_the_body_faces():
    from vid2pose.train.noise import NOISE_DEFAULTS, hip_bias

    # camera axes (x right, y down, z away): a body facing the camera has its left hip at +x, the
    # thorax above (-y) the pelvis, and faces -z
    joints = np.zeros((1, 5, 17, 3))
    joints[..., 4, 0], joints[..., 1, 0], joints[..., 8, 1] = 0.1, -0.1, -0.5
    joints[..., 2] += 3.0
    quiet = dict(NOISE_DEFAULTS, hip_up=(0.0, 0.0), hip_out=(0.0, 0.0))
    rng = np.random.default_rng(0)
    left, right = hip_bias(rng, joints, quiet)  # hip_fwd unset: no shift, and no draw for it
    np.testing.assert_allclose(left, joints[:, :, 4])
    plain = np.random.default_rng(0)
    plain.uniform(0, 1, 1), plain.uniform(0, 1, 1)
    assert rng.bit_generator.state == plain.bit_generator.state
    left, right = hip_bias(np.random.default_rng(0), joints, dict(quiet, hip_fwd=(0.02, 0.02)))
    for moved, j in ((left, 4), (right, 1)):
        np.testing.assert_allclose(moved - joints[:, :, j], np.broadcast_to([0.0, 0.0, -0.02], moved.shape), atol=1e-9)


def test_level_pairs_scales_each_pairs_vertical_separation_and_draws_nothing_when_unset():
    from vid2pose.train.noise import LR_PAIRS, NOISE_DEFAULTS, level_pairs

    rng = np.random.default_rng(0)
    kp = rng.uniform(100, 900, (3, 7, 17, 2))
    state = rng.bit_generator.state
    assert level_pairs(rng, kp, dict(NOISE_DEFAULTS)) is kp and rng.bit_generator.state == state
    spans = [(1.0, 1.0)] * 6
    spans[3] = (0.25, 0.25)  # the hips (COCO 11, 12) a quarter as far apart vertically
    out = level_pairs(rng, kp, {"lr_y_scale": spans})
    l, r = LR_PAIRS[3]
    np.testing.assert_allclose(out[..., l, 1] - out[..., r, 1], 0.25 * (kp[..., l, 1] - kp[..., r, 1]))
    np.testing.assert_allclose(out[..., l, 1] + out[..., r, 1], kp[..., l, 1] + kp[..., r, 1])  # same midpoint
    others = [j for j in range(17) if j not in (l, r)]
    np.testing.assert_allclose(out[..., others, :], kp[..., others, :])
    np.testing.assert_allclose(out[..., 0], kp[..., 0])  # x untouched
    # a range draws one factor per window: within a window the separation keeps its shape
    ranged = level_pairs(np.random.default_rng(1), kp, {"lr_y_scale": [(0.2, 0.8)] * 6})
    f = (ranged[..., l, 1] - ranged[..., r, 1]) / (kp[..., l, 1] - kp[..., r, 1])
    assert np.ptp(f, axis=1).max() < 1e-9 and 0.2 <= f.min() and f.max() <= 0.8 and np.ptp(f[:, 0]) > 0.01
    with pytest.raises(ValueError, match="one .lo, hi. range per left/right pair"):
        level_pairs(rng, kp, {"lr_y_scale": [(0.5, 0.5)] * 5})


def test_grow_layers_keeps_the_function_with_new_identity_layers_copied_from_their_neighbours():
    from vid2pose.models.ssrstf import SSRSTF

    kw = dict(dim_feat=16, dim_rep=32, mlp_ratio=2, num_heads=2, use_layer_scale=True, layer_scale_init_value=0.1)
    torch.manual_seed(0)
    small = SSRSTF(n_layers=4, **kw).eval()
    for p in small.parameters():  # trained-looking weights: no parameter at its init value
        p.data.add_(0.05 * torch.randn_like(p))
    x = torch.randn(2, 9, 17, 3)
    for n, order in ((5, [0, 1, 2, 3, 3]), (6, [0, 1, 1, 2, 3, 3]), (8, [0, 0, 1, 1, 2, 2, 3, 3])):
        state, got = grow_layers(small.state_dict(), 4, n)
        assert got == order
        big = SSRSTF(n_layers=n, **kw).eval()
        big.load_state_dict(state)  # strict: every key of the deeper model is there
        with torch.no_grad():
            torch.testing.assert_close(big(x), small(x), rtol=0, atol=1e-5)
        copies = [i for i in range(n) if i > 0 and order[i] == order[i - 1]]
        for i, layer in enumerate(big.layers):
            src = small.layers[order[i]]
            scale = layer.att_spatial.layer_scale_1
            assert torch.equal(scale, torch.zeros_like(scale)) if i in copies else torch.equal(
                scale, src.att_spatial.layer_scale_1)
            assert torch.equal(layer.ssr_temporal.mixer.proj_in.weight, src.ssr_temporal.mixer.proj_in.weight)
        # the copies are not frozen identities: a gradient reaches their layer scales
        big.zero_grad()
        big(x).square().sum().backward()
        assert all(big.layers[i].att_temporal.layer_scale_2.grad.abs().sum() > 0 for i in copies)
    with pytest.raises(ValueError, match="cannot remove"):
        grow_layers(small.state_dict(), 4, 3)
    with pytest.raises(ValueError, match="at most one copy"):
        grow_layers(small.state_dict(), 4, 9)
    plain = SSRSTF(n_layers=2, **dict(kw, use_layer_scale=False))
    with pytest.raises(ValueError, match="layer scales"):
        grow_layers(plain.state_dict(), 2, 3)


SWAPS_ONLY = {"white_sigma": 0.0, "smooth_sigma": 0.0, "bias_sigma": 0.0, "outlier_scale": 0.0, "drop_p": 0.0,
              "body_swap_p": 0.0, "limb_swap_p": 0.05}


def _swapped_labels(kp: np.ndarray, exact: np.ndarray) -> int:
    """(frame, pair) labels of (B, T, 17, 3) keypoints that sit on the other side's true position (of the
    pairs the noise model swaps: elbows, wrists, knees, ankles), clearly (by 5 pixels or more)."""
    from vid2pose.lift.swaps import PAIRS  # shoulders, elbows, wrists, hips, knees, ankles

    n = 0
    for a, b in PAIRS[1:3] + PAIRS[4:]:
        keep = np.linalg.norm(kp[..., a, :2] - exact[..., a, :2], axis=-1)
        swap = np.linalg.norm(kp[..., a, :2] - exact[..., b, :2], axis=-1)
        n += int((swap + 5 < keep).sum())
    return n


def test_repair_swaps_gives_the_lifter_run_s_repaired_2d_and_draws_nothing():
    corpus = synthetic_corpus(n_clips=2, frames=90)
    cfg = {"noise": SWAPS_ONLY}
    exact = make_batch(np.random.default_rng(3), corpus, 8, 45, {"noise": dict(SWAPS_ONLY, disable=True)})
    swapped = make_batch(np.random.default_rng(3), corpus, 8, 45, cfg)
    repaired = make_batch(np.random.default_rng(3), corpus, 8, 45, dict(cfg, repair_swaps=True))
    assert not swapped["swaps_repaired"] and repaired["swaps_repaired"]
    assert np.array_equal(repaired["gt_cam"], swapped["gt_cam"])  # the same cameras and bodies
    before, after = _swapped_labels(swapped["kp2d"], exact["kp2d"]), _swapped_labels(repaired["kp2d"], exact["kp2d"])
    assert before > 100 and after < 0.6 * before  # swaps between keypoints close in the image stay (no jump to see)
    # the lifter's input is made from the repaired 2D
    assert not np.allclose(repaired["input"], swapped["input"])


def test_the_as_run_metric_repairs_swaps_as_run_does():
    torch.set_num_threads(1)
    T = 9
    model, cfg, lifter = _tiny_lifter(T)
    cfg = dict(cfg, noise=SWAPS_ONLY)
    corpus = synthetic_corpus(n_clips=2, frames=60)
    as_run = evaluate_sequences(lifter, corpus, cfg, seed=5, span=30)["overall"]
    unrepaired = evaluate_sequences(lifter, corpus, cfg, seed=5, span=30, repair_swaps=False)["overall"]
    assert as_run["windows"] == unrepaired["windows"] == 4 and as_run["mpjpe"] != unrepaired["mpjpe"]
    # a config that repairs in make_batch already: the same figures, not repaired twice
    assert evaluate_sequences(lifter, corpus, dict(cfg, repair_swaps=True), seed=5, span=30)["overall"] == as_run
