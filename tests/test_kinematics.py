"""Inverse and forward kinematics of the H36M-17 skeleton on made-up constant-bone motion."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import support_motion as sm
from vid2pose import kinematics as K
from vid2pose.skeletons import H36M_PARENTS


def solve(joints):
    sk = K.fit_skeleton(joints)
    rot, root = K.solve_rotations(joints, sk)
    return sk, rot, root


def straight_arms(joints):
    """Same motion with the forearms continuing the upper arms (elbows at exactly 0 deg)."""
    out = joints.copy()
    for sh, el, wr in ((11, 12, 13), (14, 15, 16)):
        d = out[:, el] - out[:, sh]
        out[:, wr] = out[:, el] + 0.25 * d / np.linalg.norm(d, axis=-1, keepdims=True)
    return out


def test_api_shapes():
    joints = sm.walk(20)
    sk, rot, root = solve(joints)
    assert sk.offsets.shape == (17, 3) and sk.parents == H36M_PARENTS
    assert sk.names == K.JOINT_NAMES and sk.names[0] == "Hips"
    assert rot.shape == (20, 17, 3, 3) and root.shape == (20, 3)
    np.testing.assert_allclose(root, joints[:, 0])
    # Proper rotations everywhere.
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-12)


@pytest.mark.parametrize("turn", [0.0, 360.0])
def test_forward_kinematics_reproduces_constant_bone_input(turn):
    joints = sm.walk(120, turn_deg=turn, elbow_min_deg=0.0)
    sk, rot, root = solve(joints)
    err = np.abs(K.forward_kinematics(sk, rot, root) - joints).max()
    assert err < 1e-3, err  # metres; in practice ~1e-15


def test_rest_pose_is_t_pose_facing_plus_z():
    sk = K.fit_skeleton(sm.walk(60))
    rest = sk.rest_positions()
    idx = {n: i for i, n in enumerate(sk.names)}
    hips, head, nose, neck = rest[idx["Hips"]], rest[idx["HeadTop"]], rest[idx["Head"]], rest[idx["Neck"]]
    # Up is +Y.
    assert head[1] > neck[1] > hips[1] > rest[idx["LeftFoot"]][1]
    # Left is +X, right is -X (person facing +Z: left = up x forward... = +X).
    for name in ("LeftUpLeg", "LeftLeg", "LeftFoot", "LeftArm", "LeftForeArm", "LeftHand"):
        assert rest[idx[name]][0] > 0.05, name
        assert rest[idx[name.replace("Left", "Right")]][0] < -0.05, name
    # Facing +Z: lateral (left - right) x up = forward must be +Z; the nose is in front of the neck.
    lateral = rest[idx["LeftUpLeg"]] - rest[idx["RightUpLeg"]]
    up = neck - hips
    forward = np.cross(lateral, up)
    assert forward[2] > 0 and abs(forward[0]) < 1e-9
    assert nose[2] > neck[2]
    # T-pose: arms horizontal along X, legs vertical, spine vertical.
    for a, b in (("LeftArm", "LeftForeArm"), ("LeftForeArm", "LeftHand"), ("RightArm", "RightForeArm")):
        d = rest[idx[b]] - rest[idx[a]]
        np.testing.assert_allclose(d[1:], 0, atol=1e-12)
    for a, b in (("LeftUpLeg", "LeftLeg"), ("RightLeg", "RightFoot")):
        d = rest[idx[b]] - rest[idx[a]]
        assert d[1] < 0
        np.testing.assert_allclose(d[[0, 2]], 0, atol=1e-12)
    np.testing.assert_allclose(sk.offsets[idx["Spine"]][[0, 2]], 0, atol=1e-12)
    np.testing.assert_allclose(sk.offsets[idx["Neck"]][[0, 2]], 0, atol=1e-12)
    # Symmetric.
    mirror = np.array([-1.0, 1.0, 1.0])
    for l, r in ((4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)):
        np.testing.assert_allclose(sk.offsets[l], sk.offsets[r] * mirror, atol=1e-12)


def test_bone_lengths_are_medians_left_right_averaged():
    off = sm.body(thigh=(0.46, 0.42), shin=(0.40, 0.44), upper=(0.30, 0.26), fore=(0.25, 0.25))
    joints = sm.walk(50, offsets=off)
    # A few wild frames must not move a median.
    joints[[3, 17, 31], 2] += 0.3
    sk = K.fit_skeleton(joints)
    lengths = sk.bone_lengths()
    assert lengths[2] == pytest.approx(0.44, abs=1e-9) and lengths[5] == pytest.approx(0.44, abs=1e-9)
    assert lengths[3] == pytest.approx(0.42, abs=1e-9) and lengths[6] == pytest.approx(0.42, abs=1e-9)
    assert lengths[12] == pytest.approx(0.28, abs=1e-9) and lengths[15] == pytest.approx(0.28, abs=1e-9)


def test_valid_mask_excludes_frames_from_the_fit():
    joints = sm.walk(40)
    bad = joints.copy()
    bad[5:25, 12:14] = bad[5:25, 11:12] + 0.5 * (bad[5:25, 12:14] - bad[5:25, 11:12])  # short arm
    mask = np.ones(40, bool)
    mask[5:25] = False
    fitted = K.fit_skeleton(bad, mask)
    # The masked frames are ignored entirely ...
    np.testing.assert_allclose(fitted.offsets, K.fit_skeleton(joints, mask).offsets, atol=1e-12)
    # ... so the bones keep their true lengths (unmasked, the short arms would win the median).
    np.testing.assert_allclose(fitted.bone_lengths(), K.fit_skeleton(joints).bone_lengths(), atol=1e-12)
    assert K.fit_skeleton(bad).bone_lengths()[12] < 0.279
    # No valid frame at all: fall back to every frame rather than fail.
    np.testing.assert_allclose(K.fit_skeleton(joints, np.zeros(40, bool)).offsets, K.fit_skeleton(joints).offsets)


def test_rest_pose_gives_identity_rotations():
    sk = K.fit_skeleton(sm.walk(30))
    rest = np.repeat(sk.rest_positions()[None], 3, axis=0) + np.array([0.1, 0.9, -2.0])
    rot, root = K.solve_rotations(rest, sk)
    np.testing.assert_allclose(rot, np.broadcast_to(np.eye(3), rot.shape), atol=1e-9)
    np.testing.assert_allclose(root, rest[:, 0])


def test_global_rotation_only_changes_the_root():
    joints = sm.walk(40)
    turn = Rotation.from_euler("xyz", [30, -70, 110], degrees=True).as_matrix()
    sk, rot, _ = solve(joints)
    sk2, rot2, _ = solve(joints @ turn.T)
    np.testing.assert_allclose(sk2.offsets, sk.offsets, atol=1e-9)
    np.testing.assert_allclose(rot2[:, 1:], rot[:, 1:], atol=1e-9)
    np.testing.assert_allclose(rot2[:, 0], turn @ rot[:, 0], atol=1e-9)


def test_knee_and_elbow_are_hinges_when_bent():
    joints = sm.walk(90, knee_min_deg=35.0, elbow_min_deg=35.0)
    sk, rot, _ = solve(joints)
    angles = K.euler_from_matrices(rot)  # ZXY
    # Knees turn about X only (35..35+ deg); elbows about Y only.
    for knee in (2, 5):
        assert np.abs(angles[:, knee, [0, 2]]).max() < 1e-6
        assert angles[:, knee, 1].min() > 34.0
    for elbow in (12, 15):
        assert np.abs(angles[:, elbow, [0, 1]]).max() < 1e-6
        assert np.abs(angles[:, elbow, 2]).min() > 34.0


def test_straight_arms_keep_their_twist_through_a_full_turn():
    # Elbows exactly straight all the time: the limb plane never exists. The twist must come
    # from the previous frame (carried with the thorax), not flip or spin with the world.
    joints = straight_arms(sm.walk(240, turn_deg=360.0, elbow_min_deg=0.0))
    sk, rot, root = solve(joints)
    assert np.abs(K.forward_kinematics(sk, rot, root) - joints).max() < 1e-9
    angles = K.euler_from_matrices(rot)
    jumps = np.abs(np.diff(angles, axis=0)).max()
    assert jumps < 10.0, jumps
    # The twist about the arm (X channel for an arm along X) stays where it started.
    for sh in (11, 14):
        twist = angles[:, sh, 1]
        assert np.ptp(twist) < 5.0, np.ptp(twist)


def test_no_channel_jumps_through_a_full_turn():
    joints = sm.walk(150, turn_deg=360.0)
    _, rot, _ = solve(joints)
    angles = K.euler_from_matrices(rot)
    assert np.abs(np.diff(angles, axis=0)).max() < 180.0
    assert np.abs(np.diff(angles, axis=0)).max() < 10.0  # smooth input, 30 fps
    yaw = angles[:, 0, 2]  # root Y rotation, last in ZXY
    assert yaw[-1] - yaw[0] == pytest.approx(360.0, abs=3.0)


def test_euler_round_trip_all_orders():
    rng = np.random.default_rng(1)
    mats = Rotation.random(200, random_state=rng).as_matrix()
    for order in ("ZXY", "ZYX", "XYZ", "XZY", "YXZ", "YZX"):
        ang = K.euler_from_matrices(mats, order)
        np.testing.assert_allclose(K.matrices_from_euler(ang, order), mats, atol=1e-9)
        # Same convention as scipy's intrinsic (upper-case) sequences and our BVH reader.
        np.testing.assert_allclose(
            Rotation.from_euler(order.upper(), ang, degrees=True).as_matrix(), mats, atol=1e-9
        )


def test_euler_unwraps_spins_and_gimbal_lock():
    # Two full spins about Y: the channel counts up to 720 instead of wrapping.
    t = np.linspace(0, 720, 241)
    mats = Rotation.from_euler("ZXY", np.stack([10 * np.sin(t / 50), 5 + 0 * t, t], -1), degrees=True).as_matrix()
    ang = K.euler_from_matrices(mats, "ZXY")
    assert np.abs(np.diff(ang, axis=0)).max() < 5.0
    assert ang[-1, 2] - ang[0, 2] == pytest.approx(720.0, abs=1e-6)
    # Middle angle sweeping through exactly +90 (gimbal lock) and beyond.
    b = np.linspace(60, 120, 61)
    mats = Rotation.from_euler("ZXY", np.stack([0 * b + 20, b, 0 * b - 30], -1), degrees=True).as_matrix()
    ang = K.euler_from_matrices(mats, "ZXY")
    np.testing.assert_allclose(K.matrices_from_euler(ang, "ZXY"), mats, atol=1e-9)
    assert np.abs(np.diff(ang, axis=0)).max() < 5.0, np.abs(np.diff(ang, axis=0)).max()


def test_quaternions():
    rng = np.random.default_rng(2)
    rots = Rotation.random(100, random_state=rng)
    q = K.quaternions_from_matrices(rots.as_matrix())
    ref = rots.as_quat()[:, [3, 0, 1, 2]]  # scipy is scalar-last
    np.testing.assert_allclose(np.abs(np.sum(q * ref, axis=-1)), 1.0, atol=1e-12)
    # A slow spin crosses w = 0; the continuous version never flips sign between neighbours.
    spin = Rotation.from_euler("y", np.linspace(0, 700, 200)[:, None], degrees=True).as_matrix()
    qc = K.continuous_quaternions(K.quaternions_from_matrices(spin))
    assert np.sum(qc[1:] * qc[:-1], axis=-1).min() > 0.9
    assert np.sum(K.quaternions_from_matrices(spin)[1:] * K.quaternions_from_matrices(spin)[:-1], -1).min() < 0


def test_bad_input():
    with pytest.raises(ValueError, match="shape"):
        K.fit_skeleton(np.zeros((5, 16, 3)))
    joints = sm.walk(5)
    joints[2, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        K.fit_skeleton(joints)


def _check_turns(R, a, b):
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(np.einsum("nij,nj->ni", R, unit(a)), unit(b), atol=1e-9)
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)


def test_rotation_between_is_the_smallest_turn():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    R = K.rotation_between(a, b)
    _check_turns(R, a, b)
    # smallest: the angle turned equals the angle between the directions, about their normal
    cos_ab = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    turned = np.arccos(np.clip((np.trace(R, axis1=1, axis2=2) - 1) / 2, -1, 1))
    np.testing.assert_allclose(turned, np.arccos(cos_ab), atol=1e-7)
    axis = np.cross(a, b)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", R, axis), axis, atol=1e-9)
    np.testing.assert_allclose(K.rotation_between(a, 3 * a), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)


def test_rotation_between_opposite_directions_is_a_half_turn():
    a = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, -2.0], [0.3, -0.5, 0.8]])
    R = K.rotation_between(a, -a)
    _check_turns(R, a, -a)
    np.testing.assert_allclose(np.trace(R, axis1=1, axis2=2), -1.0, atol=1e-12)  # a half turn
    # mixed with ordinary pairs in one call, and a single pair without a batch axis
    b = np.array([[0, 1.0, 0], [0, -1.0, 0]])
    _check_turns(K.rotation_between(np.array([[1.0, 0, 0], [0, 1.0, 0]]), b), np.array([[1.0, 0, 0], [0, 1.0, 0]]), b)
    assert np.allclose(K.rotation_between(np.array([0, 0, 1.0]), np.array([0, 0, -1.0])) @ [0, 0, 1.0], [0, 0, -1])


def test_bone_lengths_are_the_medians_left_and_right_averaged_and_rebuild_keeps_directions():
    rng = np.random.default_rng(3)
    truth = sm.walk(60, turn_deg=90.0, offsets=sm.body(thigh=(0.42, 0.46)))
    lengths = K.median_bone_lengths(truth)
    assert lengths[0] == 0 and lengths[2] == lengths[5] == pytest.approx(0.44)  # (0.42 + 0.46) / 2
    assert lengths[12] == pytest.approx(0.28) and lengths[7] == pytest.approx(np.linalg.norm([0.0, 0.22, -0.02]))
    # a pose already on those bones comes back unchanged
    even = sm.walk(60, turn_deg=90.0)
    np.testing.assert_allclose(K.with_bone_lengths(even, K.median_bone_lengths(even)), even, atol=1e-12)
    # stretched bones: each frame's bone directions are kept, every length becomes the given one
    noisy = even + rng.normal(0, 0.02, even.shape)
    fixed = K.with_bone_lengths(noisy, lengths)
    parents = np.array(H36M_PARENTS[1:])
    bone_n, bone_f = noisy[:, 1:] - noisy[:, parents], fixed[:, 1:] - fixed[:, parents]
    np.testing.assert_allclose(np.linalg.norm(bone_f, axis=-1), np.broadcast_to(lengths[1:], (60, 16)), atol=1e-12)
    np.testing.assert_allclose(K.unit_vectors(bone_f), K.unit_vectors(bone_n), atol=1e-12)
    np.testing.assert_array_equal(fixed[:, 0], noisy[:, 0])
    assert fixed.dtype == noisy.dtype and K.with_bone_lengths(noisy.astype(np.float32), lengths).dtype == np.float32
    # a bone of zero length in a frame has no direction: it keeps its offset there
    noisy[5, 13] = noisy[5, 12]
    fixed = K.with_bone_lengths(noisy, lengths)
    np.testing.assert_allclose(fixed[5, 13], fixed[5, 12])
    assert np.all(np.isfinite(fixed))
