"""scripts/fit_noise.py recovers known hip, shoulder, ankle, elbow and knee offsets from 2D keypoints against their truth."""
import importlib.util
from pathlib import Path

import numpy as np
import yaml

from support_motion import walk, world_to_camera
from vid2pose.train.noise import NOISE_DEFAULTS, apply_noise

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fit_noise.py"


def load_script():
    spec = importlib.util.spec_from_file_location("fit_noise", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def project(p, f=1000.0, c=(640.0, 360.0)):
    return p[..., :2] / p[..., 2:3] * f + np.asarray(c)


def fit(tmp_path, pred2d, true2d, true3d) -> dict:
    """Run the script on these keypoints (focal 1000 px) over a one-line base config; the config it writes."""
    npz = tmp_path / "bench2d.npz"
    np.savez(npz, pred2d=pred2d, true2d=true2d, true3d=true3d, focal=np.full(len(true3d), 1000.0))
    base = tmp_path / "base.yaml"
    base.write_text("clip_len: 27\n")
    out = tmp_path / "fitted.yaml"
    assert load_script().main([str(npz), "--base", str(base), "--out", str(out)]) == 0
    return yaml.safe_load(out.read_text())


def test_fit_recovers_offsets_and_writes_a_config(tmp_path):
    true3d = world_to_camera(walk(108))
    up = true3d[:, 8] - true3d[:, 0]
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    moved = true3d.copy()
    for j in (1, 4):  # the 2D stage's hips: 2 cm up the torso and 1 cm inwards
        lat = true3d[:, j] - true3d[:, 0]
        lat /= np.linalg.norm(lat, axis=-1, keepdims=True)
        moved[:, j] += 0.02 * up - 0.01 * lat
    moved[:, [11, 14]] += 0.015 * up[:, None]  # its shoulders 1.5 cm up the torso
    for ank, knee in ((3, 2), (6, 5)):  # its ankles 2 cm up the shin
        shin = true3d[:, knee] - true3d[:, ank]
        moved[:, ank] += 0.02 * shin / np.linalg.norm(shin, axis=-1, keepdims=True)
    for j, toward, d in ((12, 11, 0.015), (15, 14, 0.015), (5, 4, 0.01), (2, 1, 0.01)):
        bone = true3d[:, toward] - true3d[:, j]  # its elbows 1.5 cm up the upper arm, knees 1 cm up the thigh
        moved[:, j] += d * bone / np.linalg.norm(bone, axis=-1, keepdims=True)
    rng = np.random.default_rng(0)
    true2d = project(true3d)
    pred2d = project(moved) + rng.normal(0, 0.5, true2d.shape)
    cfg = fit(tmp_path, pred2d, true2d, true3d)
    assert cfg["clip_len"] == 27
    noise = cfg["noise"]
    assert 0.015 < noise["hip_up"][0] <= noise["hip_up"][1] < 0.025
    assert -0.015 < noise["hip_out"][0] <= noise["hip_out"][1] < -0.005
    assert 0.01 < noise["shoulder_up"][0] <= noise["shoulder_up"][1] < 0.02
    assert -0.005 < noise["shoulder_out"][0] <= noise["shoulder_out"][1] < 0.005
    assert noise["shoulder_in_raised"] == 0.0  # the walk never raises an arm: nothing measured, nothing added
    assert noise["hip_fwd"] == [0.0, 0.0]  # seen from the front only: the hips' forward offset is not measurable
    assert 0.015 < noise["ankle_up"][0] <= noise["ankle_up"][1] < 0.025
    assert 0.01 < noise["elbow_up"][0] <= noise["elbow_up"][1] < 0.02
    assert 0.005 < noise["knee_up"][0] <= noise["knee_up"][1] < 0.015
    assert len(noise["lr_y_scale"]) == 6 and all(0 <= lo <= hi for lo, hi in noise["lr_y_scale"])
    assert len(noise["joint_scale"]) == 17 and all(s > 0 for s in noise["joint_scale"])
    assert 0.1 < noise["outlier_scale"] < 2.0
    # the fitted section is a valid override of the noise model
    kp = rng.uniform(200, 800, (2, 27, 17, 2))
    assert np.isfinite(apply_noise(rng, kp, np.full(2, 700.0), dict(NOISE_DEFAULTS, **noise))).all()


def test_fit_recovers_the_hips_forward_offset_from_side_on_views(tmp_path):
    true3d = world_to_camera(walk(120, turn_deg=360.0))  # the walker turns: every view, side-on ones included
    up = true3d[:, 8] - true3d[:, 0]
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    forward = np.cross(true3d[:, 4] - true3d[:, 1], up)  # as noise.hip_bias: (right -> left) x up
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    moved = true3d.copy()
    moved[:, [1, 4]] += 0.015 * forward[:, None]  # the 2D stage's hips 1.5 cm forwards
    true2d, pred2d = project(true3d), project(moved)
    noise = fit(tmp_path, pred2d, true2d, true3d)["noise"]
    assert 0.012 < noise["hip_fwd"][0] <= noise["hip_fwd"][1] < 0.018
    assert -0.005 < noise["hip_up"][0] <= noise["hip_up"][1] < 0.005  # the forward offset barely leaks into up


def test_noise_overrides_per_keypoint(tmp_path):
    rng = np.random.default_rng(1)
    kp = rng.uniform(200, 800, (8, 27, 17, 2))
    quiet = [0.0] * 17
    quiet[9] = 1.0  # only the left wrist jitters, and nothing is gross, swapped or dropped
    cfg = dict(NOISE_DEFAULTS, joint_scale=quiet, outlier_p=[0.0] * 17, limb_swap_p=0.0, body_swap_p=0.0,
               drop_p=0.0)
    err = np.linalg.norm(apply_noise(rng, kp, np.full(8, 700.0), cfg)[..., :2] - kp, axis=-1)
    assert err[..., 9].mean() > 1.0
    assert np.abs(np.delete(err, 9, axis=-1)).max() < 1e-9


def test_lr_y_scales_recovers_pairs_drawn_more_level():
    # a turning walk seen from a camera tilted 30 degrees down: the near side of each pair sits lower
    true3d = world_to_camera(walk(135, turn_deg=360.0))
    centre = true3d[:, 0].mean(0)
    tilt = np.radians(30.0)
    rot = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
    true3d = (true3d - centre) @ rot.T + centre
    true2d = project(true3d)
    pred2d = true2d.copy()
    for left, right, f in ((11, 14, 0.5), (4, 1, 0.2)):  # its shoulders and hips drawn more level
        mid = (pred2d[:, left, 1] + pred2d[:, right, 1]) / 2
        for j in (left, right):
            pred2d[:, j, 1] = mid + f * (pred2d[:, j, 1] - mid)
    pred2d += np.random.default_rng(0).normal(0, 0.3, pred2d.shape)
    ranges = load_script().lr_y_scales(pred2d, true2d, true3d, np.full(len(true3d), 1000.0), {"disable": True})
    centres = np.mean(ranges, axis=1)  # shoulders, elbows, wrists, hips, knees, ankles
    np.testing.assert_allclose(centres, [0.5, 1.0, 1.0, 0.2, 1.0, 1.0], atol=0.05)
    assert ranges[0] == [round(centres[0] - 0.25, 3), round(centres[0] + 0.25, 3)]
    assert ranges[3][0] == 0.0  # the half-width shrinks near 0: no negative factor
