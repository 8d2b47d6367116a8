"""Blender (Debian's 3.4, headless) imports our BVH with default settings and gets our joints.

The importer's documented defaults are Forward -Z, Up Y: BVH (x, y, z) becomes Blender
(x, -z, y) (Blender is Z up; its Front view looks along +Y). Its frame 1 is the BVH's first
frame. See tests/blender_import_check.py for what runs inside Blender.
"""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import support_motion as sm
from vid2pose.export.bvh import write_bvh
from vid2pose.kinematics import JOINT_NAMES

TESTS = Path(__file__).resolve().parent
BLENDER = shutil.which("blender")
pytestmark = pytest.mark.skipif(
    BLENDER is None, reason="blender not on PATH (CI: apt-get install -y blender)"
)

N_FRAMES = 120
FRAMES = (1, 31, 61, 91, 120)  # Blender frames = BVH frame index + 1


def bvh_to_blender(p):
    """The importer's default axis conversion (Forward -Z, Up Y), written out."""
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


def run_blender(bvh_path, out_path):
    cmd = [
        BLENDER, "-b", "--factory-startup", "--python-exit-code", "1",
        "--python", str(TESTS / "blender_import_check.py"), "--",
        str(bvh_path), str(out_path), *map(str, FRAMES),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and out_path.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out_path.read_text())


@pytest.fixture(scope="module")
def walk_camera():
    # A walk that turns a full circle: the person faces the camera at the start.
    return sm.world_to_camera(sm.walk(N_FRAMES, turn_deg=360.0, elbow_min_deg=0.0))


@pytest.mark.parametrize("units,scale", [("m", 1.0), ("cm", 100.0)])
def test_blender_default_import_matches_our_joints(tmp_path, walk_camera, units, scale):
    path = tmp_path / "walk.bvh"
    write_bvh(path, walk_camera, 30, units=units)
    got = run_blender(path, tmp_path / "blender.json")

    assert got["bones"] == list(JOINT_NAMES)
    assert got["action_frame_range"] == [1.0, float(N_FRAMES)]
    # Frame Time read as the video's rate (only applied with "Update Scene FPS", off by default).
    assert got["scene_fps_after_update"] == pytest.approx(30.0, abs=1e-9)

    expected = bvh_to_blender(sm.camera_to_bvh_expected(walk_camera))  # metres
    worst = 0.0
    for f in FRAMES:
        heads = np.array([got["pose_heads"][str(f)][n] for n in JOINT_NAMES]) / scale
        err = np.linalg.norm(heads - expected[f - 1], axis=-1).max()
        worst = max(worst, err)
        # Upright along Blender's Z: head top above the head above the neck above the hips
        # above the feet, in every sampled frame (including facing away, mid-turn).
        z = {n: heads[i, 2] for i, n in enumerate(JOINT_NAMES)}
        assert z["HeadTop"] > z["Head"] > z["Neck"] > z["Hips"] > max(z["LeftFoot"], z["RightFoot"])
    print(f"blender max head error ({units}): {worst * 1000:.4f} mm")
    assert worst < 0.01, worst  # 1 cm


def test_blender_sees_the_person_facing_the_front_view_left_on_the_left(tmp_path, walk_camera):
    path = tmp_path / "walk.bvh"
    write_bvh(path, walk_camera, 30)
    got = run_blender(path, tmp_path / "blender.json")
    idx = {n: i for i, n in enumerate(JOINT_NAMES)}
    for heads in (
        np.array([got["rest_heads"][n] for n in JOINT_NAMES]),
        np.array([got["pose_heads"]["1"][n] for n in JOINT_NAMES]),  # first frame: facing camera
    ):
        up = heads[idx["Neck"]] - heads[idx["Hips"]]
        lateral = heads[idx["LeftUpLeg"]] - heads[idx["RightUpLeg"]]  # person's right -> left
        forward = np.cross(lateral, up)
        assert up[2] / np.linalg.norm(up) > 0.95  # standing along Blender's +Z
        # Facing -Y, i.e. towards the Front view (which looks along +Y) ...
        assert forward[1] / np.linalg.norm(forward) < -0.95
        # ... so the person's left is on the viewer's right, Blender +X.
        for name in ("UpLeg", "Foot", "Arm", "Hand"):
            assert heads[idx["Left" + name]][0] > heads[idx["Right" + name]][0], name
    rest = np.array([got["rest_heads"][n] for n in JOINT_NAMES])
    # T-pose in the rest pose: hands straight out at shoulder height.
    for side in ("Left", "Right"):
        arm = rest[idx[side + "Hand"]] - rest[idx[side + "Arm"]]
        assert abs(arm[1]) < 1e-4 and abs(arm[2]) < 1e-4 and abs(arm[0]) > 0.5
