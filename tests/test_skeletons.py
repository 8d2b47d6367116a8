import numpy as np

from support_fake import CANONICAL_COCO
from vid2pose.skeletons import (BLAZEPOSE33_JOINTS, BLAZEPOSE33_TO_COCO17, COCO17_JOINTS, H36M_BONES, H36M_FLIP,
                                H36M_JOINTS, H36M_PARENTS, SKELETONS, canonical_torso, to_h36m)


def coco_person(scale=100.0):
    kp = np.ones((17, 3), np.float32)
    kp[:, :2] = CANONICAL_COCO * scale
    kp[:, 2] = np.linspace(0.5, 1.0, 17)
    return kp


def test_h36m_tables_are_consistent():
    assert len(H36M_JOINTS) == 17 and len(H36M_PARENTS) == 17
    assert {(p, c) for c, p in enumerate(H36M_PARENTS) if p >= 0} == set(H36M_BONES)
    assert all(H36M_FLIP[H36M_FLIP[j]] == j for j in range(17))
    for j, name in enumerate(H36M_JOINTS):
        mirrored = H36M_JOINTS[H36M_FLIP[j]]
        assert mirrored == name.replace("left", "#").replace("right", "left").replace("#", "right")


def test_coco_direct_joints_keep_side_and_confidence():
    kp = coco_person()
    h = to_h36m("coco17", kp)
    pairs = {"right_hip": "right_hip", "right_knee": "right_knee", "right_ankle": "right_ankle",
             "left_hip": "left_hip", "left_knee": "left_knee", "left_ankle": "left_ankle",
             "left_shoulder": "left_shoulder", "left_elbow": "left_elbow", "left_wrist": "left_wrist",
             "right_shoulder": "right_shoulder", "right_elbow": "right_elbow", "right_wrist": "right_wrist"}
    for hname, cname in pairs.items():
        np.testing.assert_array_equal(h[H36M_JOINTS.index(hname)], kp[COCO17_JOINTS.index(cname)])


def test_coco_derived_joints_follow_the_official_converter():
    kp = coco_person()
    h = to_h36m("coco17", kp)
    xy = kp[:, :2]
    hip_mid, sho_mid = (xy[11] + xy[12]) / 2, (xy[5] + xy[6]) / 2
    np.testing.assert_allclose(h[0, :2], hip_mid)
    thorax = sho_mid + (xy[0] - sho_mid) / 3
    thorax[1] -= ((xy[1, 1] + xy[2, 1]) / 2 - xy[0, 1]) * 2 / 3
    np.testing.assert_allclose(h[8, :2], thorax, rtol=1e-6)
    np.testing.assert_allclose(h[9, :2], xy[0] + (sho_mid - xy[0]) / 4, rtol=1e-6)
    assert h[10, 1] < xy[1, 1]  # head top above the eyes (image y points down)
    # upright order along y: head, nose, thorax, spine, pelvis, knees, ankles
    ys = h[[10, 9, 8, 7, 0, 2, 3], 1]
    assert np.all(np.diff(ys) > 0)
    np.testing.assert_allclose(h[0, 2], (kp[11, 2] + kp[12, 2]) / 2)
    np.testing.assert_allclose(h[8, 2], (kp[5, 2] + kp[6, 2]) / 2)
    np.testing.assert_allclose(h[7, 2], (h[0, 2] + h[8, 2]) / 2)
    np.testing.assert_allclose(h[10, 2], kp[1:5, 2].mean(), rtol=1e-6)


def test_blazepose_uses_its_coco_subset():
    assert [BLAZEPOSE33_JOINTS[i] for i in BLAZEPOSE33_TO_COCO17] == list(COCO17_JOINTS)
    rng = np.random.default_rng(0)
    bp = rng.random((4, 33, 3)).astype(np.float32)
    np.testing.assert_allclose(to_h36m("blazepose33", bp), to_h36m("coco17", bp[:, BLAZEPOSE33_TO_COCO17]))


def test_every_skeleton_converts_batches():
    for name, (names, bones, _) in SKELETONS.items():
        kp = np.random.default_rng(1).random((2, 3, len(names), 3)).astype(np.float32)
        assert to_h36m(name, kp).shape == (2, 3, 17, 3)
        assert all(0 <= a < len(names) and 0 <= b < len(names) for a, b in bones)


def test_mediapipe_world_landmarks_map_to_h36m():
    from vid2pose.skeletons import blazepose33_world_to_h36m

    rng = np.random.default_rng(0)
    world = rng.normal(size=(5, 33, 3))
    h = blazepose33_world_to_h36m(world)
    assert h.shape == (5, 17, 3)
    names = list(BLAZEPOSE33_JOINTS)
    for j, name in enumerate(H36M_JOINTS):  # the limb joints are the landmarks of the same name and side
        if name in names:
            np.testing.assert_allclose(h[:, j], world[:, names.index(name)])
    hips = (world[:, names.index("left_hip")] + world[:, names.index("right_hip")]) / 2
    shoulders = (world[:, names.index("left_shoulder")] + world[:, names.index("right_shoulder")]) / 2
    np.testing.assert_allclose(h[:, H36M_JOINTS.index("pelvis")], hips)
    np.testing.assert_allclose(h[:, H36M_JOINTS.index("thorax")], shoulders)
    np.testing.assert_allclose(h[:, H36M_JOINTS.index("spine")], (hips + shoulders) / 2)
    # a rigid motion of the landmarks moves the joints the same way (no image-space heuristics)
    R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    np.testing.assert_allclose(blazepose33_world_to_h36m(world @ R.T + 1.0), h @ R.T + 1.0, atol=1e-12)


def test_h36m_to_coco17_inverts_the_direct_joints():
    from vid2pose.skeletons import coco17_to_h36m, h36m_to_coco17

    h = np.random.default_rng(2).normal(size=(4, 17, 3)).astype(np.float32)
    coco = h36m_to_coco17(h)
    assert coco.shape == (4, 17, 3) and np.allclose(coco[:, :5], h[:, 9:10])  # face points: the nose
    limbs = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]
    np.testing.assert_array_equal(coco17_to_h36m(coco)[:, limbs], h[:, limbs])


def test_canonical_torso_places_thorax_and_spine_by_the_rule():
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(2, 3, 17, 3))
    joints[..., 0, :] = 0.0
    joints[..., 11, :] = [0.2, 0.5, 0.1]  # left shoulder
    joints[..., 14, :] = [-0.2, 0.5, -0.1]  # right shoulder: midpoint (0, 0.5, 0), torso along +y
    leg = np.array([[0.89], [1.78]])  # per sequence: H36M's leg, then twice it
    out = canonical_torso(joints, leg)
    np.testing.assert_allclose(out[0, :, 8], [[0, 0.54, 0]] * 3, atol=1e-12)
    np.testing.assert_allclose(out[1, :, 8], [[0, 0.58, 0]] * 3, atol=1e-12)
    np.testing.assert_allclose(out[..., 7, :], out[..., 8, :] / 2, atol=1e-12)
    keep = [j for j in range(17) if j not in (7, 8)]
    np.testing.assert_array_equal(out[..., keep, :], joints[..., keep, :])
    assert not np.shares_memory(out, joints)
    assert canonical_torso(joints.astype(np.float32), 0.89).dtype == np.float32
