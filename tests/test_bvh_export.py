"""BVH export: read back by a third-party parser (PyPI ``bvh``) and by our reader."""

from fractions import Fraction

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import support_motion as sm
from vid2pose.export.bvh import CAMERA_TO_BVH, write_bvh
from vid2pose.kinematics import JOINT_NAMES
from vid2pose.mocap import read_bvh



def third_party_fk(path):
    """World joint positions (F, J, 3), names, frame time, frame count: parsed by the PyPI 'bvh'
    package; forward kinematics here with scipy (intrinsic Euler in the listed channel order)."""
    bvh_lib = pytest.importorskip("bvh", reason="needs the 'bvh' package from the dev extra")
    with open(path, encoding="utf-8") as fh:
        mocap = bvh_lib.Bvh(fh.read())
    names = mocap.get_joints_names()
    parents = [mocap.joint_parent_index(n) for n in names]
    offsets = np.array([mocap.joint_offset(n) for n in names])
    frames = np.array(mocap.frames, dtype=float)
    n = frames.shape[0]
    world_rot = np.zeros((n, len(names), 3, 3))
    pos = np.zeros((n, len(names), 3))
    for j, name in enumerate(names):
        chans = mocap.joint_channels(name)
        start = mocap.get_joint_channels_index(name)
        rot_axes = "".join(c[0].upper() for c in chans if c.endswith("rotation"))
        rot_cols = [start + k for k, c in enumerate(chans) if c.endswith("rotation")]
        local = Rotation.from_euler(rot_axes, frames[:, rot_cols], degrees=True).as_matrix()
        if parents[j] < 0:
            pos_cols = [start + chans.index(a) for a in ("Xposition", "Yposition", "Zposition")]
            pos[:, j] = offsets[j] + frames[:, pos_cols]  # our root OFFSET is 0: add == replace
            world_rot[:, j] = local
        else:
            p = parents[j]
            pos[:, j] = pos[:, p] + world_rot[:, p] @ offsets[j]
            world_rot[:, j] = world_rot[:, p] @ local
    return pos, names, mocap.frame_time, mocap.nframes


@pytest.fixture(scope="module")
def walking_camera():
    """Camera-space joints: a walk turning a full circle about the vertical, 30 fps."""
    world = sm.walk(150, turn_deg=360.0, elbow_min_deg=0.0)
    cam = sm.world_to_camera(world)
    # What the camera sees at the start: the person upright (head higher = smaller y), facing
    # the camera (nose nearer), their left hip on the image's right.
    assert cam[0, 10, 1] < cam[0, 0, 1]
    assert cam[0, 9, 2] < cam[0, 8, 2]
    assert cam[0, 4, 0] > cam[0, 1, 0]
    return cam


@pytest.mark.parametrize("units,scale", [("m", 1.0), ("cm", 100.0)])
def test_round_trip_through_third_party_reader(tmp_path, walking_camera, units, scale):
    path = tmp_path / "walk.bvh"
    write_bvh(path, walking_camera, 30, units=units)
    pos, names, frame_time, n_frames = third_party_fk(path)
    assert names == list(JOINT_NAMES)
    assert n_frames == len(walking_camera) == pos.shape[0]
    assert frame_time == 1 / 30
    expected = sm.camera_to_bvh_expected(walking_camera)
    err = np.abs(pos / scale - expected).max()
    assert err < 1e-3, err  # metres


def test_round_trip_through_our_reader(tmp_path, walking_camera):
    path = tmp_path / "walk.bvh"
    write_bvh(path, walking_camera, 25)
    motion = read_bvh(path)
    assert motion.num_frames == len(walking_camera)
    assert motion.frame_time == 1 / 25
    joints = ~motion.is_end_site
    assert [n for n, j in zip(motion.names, joints) if j] == list(JOINT_NAMES)
    pos = motion.world_positions()[:, joints]
    assert np.abs(pos - sm.camera_to_bvh_expected(walking_camera)).max() < 1e-3


@pytest.mark.parametrize("fps", [30, 25, 60, 24000 / 1001, 30000 / 1001, Fraction(30000, 1001), 12.5, 7])
def test_frame_time_is_exact(tmp_path, fps):
    cam = sm.world_to_camera(sm.walk(4))
    path = tmp_path / "x.bvh"
    write_bvh(path, cam, fps)
    line = next(ln for ln in path.read_text().splitlines() if ln.startswith("Frame Time:"))
    assert float(line.split(":")[1]) == 1.0 / float(fps)
    assert "Frames: 4" in path.read_text()


def test_header_layout(tmp_path, walking_camera):
    path = tmp_path / "walk.bvh"
    write_bvh(path, walking_camera, 30)
    text = path.read_text()
    lines = [ln.strip() for ln in text.splitlines()]
    assert lines[0] == "HIERARCHY" and lines[1] == "ROOT Hips"
    chans = [ln for ln in lines if ln.startswith("CHANNELS")]
    assert len(chans) == 17
    assert chans[0] == "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"
    assert all(c == "CHANNELS 3 Zrotation Xrotation Yrotation" for c in chans[1:])
    assert lines[lines.index("ROOT Hips") + 2] == "OFFSET 0.000000 0.000000 0.000000"
    assert lines.count("End Site") == 5
    motion = read_bvh(path)
    ends = [n for n, e in zip(motion.names, motion.is_end_site) if e]
    assert sorted(ends) == sorted(f"{n}_End" for n in ("RightFoot", "LeftFoot", "HeadTop", "LeftHand", "RightHand"))
    rows = text.split("Frame Time:")[1].strip().splitlines()[1:]
    assert len(rows) == 150 and all(len(r.split()) == 6 + 16 * 3 for r in rows)
    assert text.endswith("\n")


def test_rest_pose_is_t_pose_facing_plus_z_and_left_is_left(tmp_path, walking_camera):
    path = tmp_path / "walk.bvh"
    write_bvh(path, walking_camera, 30)
    motion = read_bvh(path)
    rest = motion.rest_positions()
    at = {n: rest[i] for i, n in enumerate(motion.names)}
    assert at["HeadTop"][1] > at["Neck"][1] > at["Hips"][1] > at["LeftFoot"][1]  # Y up
    for side, sign in (("Left", 1.0), ("Right", -1.0)):
        for name in ("UpLeg", "Leg", "Foot", "Arm", "ForeArm", "Hand"):
            assert sign * at[side + name][0] > 0.05, side + name  # person's left on +X
        arm = at[side + "Hand"] - at[side + "Arm"]
        assert abs(arm[1]) < 1e-6 and abs(arm[2]) < 1e-6  # arms straight out: a T
        leg = at[side + "Foot"] - at[side + "UpLeg"]
        assert abs(leg[0]) < 1e-6 and abs(leg[2]) < 1e-6 and leg[1] < -0.8
        assert at[side + "Foot_End"][2] > at[side + "Foot"][2]  # feet point forward, +Z
    assert at["Head"][2] > at["Neck"][2]  # nose forward
    # Animated frame 0 (the person faces the camera there): in the BVH world they face +Z and
    # their left hip, hand and foot are on +X.
    pos = motion.world_positions()[0]
    idx = {n: i for i, n in enumerate(motion.names)}
    for name in ("UpLeg", "Foot", "Hand", "Arm"):
        assert pos[idx["Left" + name]][0] > pos[idx["Right" + name]][0]
    lateral = pos[idx["LeftUpLeg"]] - pos[idx["RightUpLeg"]]
    up = pos[idx["Neck"]] - pos[idx["Hips"]]
    assert up[1] > 0.4
    forward = np.cross(lateral, up)
    assert forward[2] / np.linalg.norm(forward) > 0.95


def test_camera_conversion_is_a_rotation():
    assert np.linalg.det(CAMERA_TO_BVH) == pytest.approx(1.0)
    np.testing.assert_allclose(CAMERA_TO_BVH @ [0, 1, 0], [0, -1, 0])  # camera down -> world down
    np.testing.assert_allclose(CAMERA_TO_BVH @ [0, 0, -1], [0, 0, 1])  # towards camera -> +Z


def test_no_channel_jump_above_180_degrees_through_a_full_turn(tmp_path, walking_camera):
    path = tmp_path / "walk.bvh"
    write_bvh(path, walking_camera, 30)
    motion = read_bvh(path)
    rot_cols = [
        motion.channel_start[j] + k
        for j, chans in enumerate(motion.channels)
        for k, c in enumerate(chans)
        if c.endswith("rotation")
    ]
    angles = motion.motion[:, rot_cols]
    jumps = np.abs(np.diff(angles, axis=0)).max()
    assert jumps < 180.0
    assert jumps < 15.0  # and in fact smooth
    yaw = motion.motion[:, 5]  # Hips Yrotation
    assert yaw[-1] - yaw[0] == pytest.approx(360.0, abs=5.0)


def test_in_place_keeps_height(tmp_path, walking_camera):
    a, b = tmp_path / "a.bvh", tmp_path / "b.bvh"
    write_bvh(a, walking_camera, 30, root_motion=True)
    write_bvh(b, walking_camera, 30, root_motion=False)
    ma, mb = read_bvh(a), read_bvh(b)
    expected_root = sm.camera_to_bvh_expected(walking_camera[:, 0])
    np.testing.assert_allclose(ma.motion[:, :3], expected_root, atol=1e-6)
    np.testing.assert_allclose(mb.motion[:, [0, 2]], 0.0)
    np.testing.assert_allclose(mb.motion[:, 1], expected_root[:, 1], atol=1e-6)
    np.testing.assert_allclose(mb.motion[:, 3:], ma.motion[:, 3:])  # same rotations
    assert np.ptp(ma.motion[:, 0]) > 0.5  # the walk does travel


def test_missing_frames_are_kept_and_left_out_of_the_fit(tmp_path):
    world = sm.walk(60)
    cam = sm.world_to_camera(world)
    missing = np.zeros(60, bool)
    missing[20:30] = True
    # Interpolated frames: straight lines between frame 19 and 30 (bones shrink in between).
    w = np.linspace(0, 1, 12)[1:-1, None, None]
    cam[20:30] = (1 - w) * cam[19] + w * cam[30]
    path = tmp_path / "gap.bvh"
    sk = write_bvh(path, cam, 30, missing=missing)
    motion = read_bvh(path)
    assert motion.num_frames == 60
    good = ~missing
    np.testing.assert_allclose(
        motion.world_positions()[good][:, ~motion.is_end_site],
        sm.camera_to_bvh_expected(cam[good]),
        atol=1e-3,
    )
    np.testing.assert_allclose(sk.bone_lengths()[[2, 3, 12, 13]], [0.44, 0.43, 0.28, 0.25], atol=1e-9)


def test_atomic_write_leaves_only_the_file(tmp_path, walking_camera):
    path = tmp_path / "out" / "walk.bvh"
    write_bvh(path, walking_camera[:10], 30)
    assert [p.name for p in path.parent.iterdir()] == ["walk.bvh"]


def test_bad_arguments(tmp_path, walking_camera):
    path = tmp_path / "x.bvh"
    with pytest.raises(ValueError, match="units"):
        write_bvh(path, walking_camera, 30, units="mm")
    with pytest.raises(ValueError, match="fps"):
        write_bvh(path, walking_camera, 0)
    with pytest.raises(ValueError, match="shape"):
        write_bvh(path, walking_camera[:, :16], 30)
    with pytest.raises(ValueError, match="missing"):
        write_bvh(path, walking_camera, 30, missing=np.zeros(3, bool))
    bad = walking_camera.copy()
    bad[5, 5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_bvh(path, bad, 30)
    assert not path.exists()
