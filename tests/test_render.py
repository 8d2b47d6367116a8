"""Rasteriser on tiny meshes, retargeting on a synthetic rig, and the committed sample's
truth against its frames. Needs neither the anny cache nor /work/shared."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from vid2pose.mocap import parse_bvh
from vid2pose.render.body import (
    ANNY_DRIVEN_BONES,
    H36M_JOINT_NAMES,
    retarget_bvh,
)
from vid2pose.render.raster import Camera, draw_ground_shadow, floor_wall_background, render_mesh
from vid2pose.skeletons import canonical_torso

W, H = 64, 48
K = np.array([[50.0, 0, (W - 1) / 2], [0, 50.0, (H - 1) / 2], [0, 0, 1]])


def blank():
    return np.zeros((H, W, 3), np.uint8)


def painted(img):
    return img.max(axis=2) > 0


def test_triangle_covers_expected_pixels():
    # Right triangle in the plane z = 2, counter-clockwise as seen from the camera
    # (x right, y down): legs 0.4 m -> 10 px at f = 50.
    v = np.array([[0.0, 0.0, 2.0], [0.0, 0.4, 2.0], [0.4, 0.0, 2.0]])
    f = np.array([[0, 1, 2]])
    img = render_mesh(blank(), v, f, np.array([[200.0, 100.0, 50.0]]), K,
                      light_dir_cam=(0, 0, 1), ambient=0.5, diffuse=0.5)
    m = painted(img)
    cx, cy = K[0, 2], K[1, 2]
    # Well inside / outside the triangle.
    assert m[int(cy + 2), int(cx + 2)]
    assert not m[int(cy + 8), int(cx + 8)]
    assert not m[int(cy - 3), int(cx + 3)]
    # Area close to the analytic 10 x 10 / 2 px (edge pixels included by fillConvexPoly).
    assert 45 <= m.sum() <= 75
    # The face points at the light (normal -z, light along +z): full intensity.
    np.testing.assert_allclose(img[int(cy + 2), int(cx + 2)], [200, 100, 50], atol=1)


def test_backface_culling():
    v = np.array([[0.0, 0.0, 2.0], [0.4, 0.0, 2.0], [0.0, 0.4, 2.0]])  # clockwise: faces away
    f = np.array([[0, 1, 2]])
    col = np.array([[255.0, 255.0, 255.0]])
    assert not painted(render_mesh(blank(), v, f, col, K)).any()
    assert painted(render_mesh(blank(), v, f, col, K, cull_backfaces=False)).any()


def cube(center, size):
    c = np.array(center, float)
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    v = c + 0.5 * size * corners
    # Outward, counter-clockwise faces of the cube with corner index 4x + 2y + z.
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = []
    for a, b, c_, d in quads:
        faces += [(a, b, c_), (a, c_, d)]
    f = np.array(faces)
    # Sanity: outward orientation (positive signed volume).
    t = v[f] - c
    assert np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() > 0
    return v, f


def test_cube_front_face_only_and_area():
    v, f = cube([0, 0, 3.0], 0.5)
    col = np.tile([[0.0, 0.0, 255.0]], (len(f), 1))
    img = render_mesh(blank(), v, f, col, K, light_dir_cam=(0, 0, 1), ambient=0.2, diffuse=0.8)
    m = painted(img)
    # Only the face at z = 2.75 is visible: a square of side 50 * 0.5 / 2.75 = 9.1 px.
    side = 50 * 0.5 / 2.75
    assert abs(m.sum() - side**2) < 4 * side + 4
    ys, xs = np.nonzero(m)
    assert abs(xs.mean() - K[0, 2]) < 1 and abs(ys.mean() - K[1, 2]) < 1
    # Lit head-on, so the visible face has the full ambient + diffuse colour.
    assert abs(int(img[int(K[1, 2]), int(K[0, 2]), 2]) - 255) <= 1


def test_painters_order_near_wins():
    far = np.array([[-0.5, -0.5, 4.0], [-0.5, 0.5, 4.0], [0.5, -0.5, 4.0]])
    near = far * [1, 1, 0.5]  # same pixels, half the depth
    v = np.concatenate([near, far])
    cols = np.array([[0.0, 0.0, 255.0], [255.0, 0.0, 0.0]])  # near red, far blue (BGR)
    for faces, c in ((np.array([[0, 1, 2], [3, 4, 5]]), cols), (np.array([[3, 4, 5], [0, 1, 2]]), cols[::-1])):
        img = render_mesh(blank(), v, faces, c, K, light_dir_cam=(0, 0, 1), ambient=1.0, diffuse=0.0)
        px = img[int(K[1, 2]) - 2, int(K[0, 2]) - 2]
        assert px[2] > 200 and px[0] < 50


def test_supersampling_keeps_coverage():
    v, f = cube([0.1, -0.05, 2.5], 0.6)
    col = np.full((len(f), 3), 255.0)
    a = render_mesh(blank(), v, f, col, K, ambient=1.0, diffuse=0.0).max(2).astype(float) / 255
    b = render_mesh(blank(), v, f, col, K, ambient=1.0, diffuse=0.0, supersample=3).max(2).astype(float) / 255
    assert abs(a.sum() - b.sum()) < 0.1 * a.sum()
    assert ((b > 0.02) & (b < 0.98)).any()  # anti-aliased edge pixels exist


def test_camera_look_at_conventions():
    cam = Camera.look_at(np.array([0.0, -4.0, 1.5]), np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0]), 640, 480, 60)
    np.testing.assert_allclose(cam.project(np.array([0.0, 0.0, 1.0])), [319.5, 239.5], atol=1e-9)
    right = cam.project(np.array([0.5, 0.0, 1.0]))
    up = cam.project(np.array([0.0, 0.0, 1.5]))
    assert right[0] > 319.5 and up[1] < 239.5  # x right, y down
    assert cam.to_camera(np.array([0.0, 0.0, 1.0]))[2] > 0  # z forward
    np.testing.assert_allclose(cam.center, [0, -4, 1.5], atol=1e-12)
    np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(cam.R) == pytest.approx(1.0)


def test_background_and_shadow():
    cam = Camera.look_at(np.array([0.0, -4.0, 1.4]), np.array([0.0, 0.0, 0.8]), np.array([0.0, 0.0, 1.0]), 160, 120, 60)
    bg = floor_wall_background(cam, wall_point=np.array([0.0, 2.0, 0.0]), wall_normal=np.array([0.0, -1.0, 0.0]))
    assert bg.shape == (120, 160, 3) and bg.dtype == np.uint8
    v, f = cube([0.0, 0.0, 0.5], 0.6)
    out = draw_ground_shadow(bg, cam, v, f, light_dir_world=np.array([0.0, 0.0, -1.0]))
    below = cam.project(np.array([0.0, 0.0, 0.0])).round().astype(int)
    assert out[below[1], below[0]].sum() < bg[below[1], below[0]].sum()  # darker under it
    assert (out[:5] == bg[:5]).all()  # wall far above untouched


# --- retargeting on a synthetic skeleton -------------------------------------------

def _toy_bvh():
    """A small cgspeed-like (3dsMax names) skeleton, Y-up, facing +Z, with two frames."""
    j = []

    def joint(name, off, kids=(), end=None):
        s = f"JOINT {name}\n{{\nOFFSET {off[0]} {off[1]} {off[2]}\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
        for k in kids:
            s += k
        if end is not None:
            s += f"End Site\n{{\nOFFSET {end[0]} {end[1]} {end[2]}\n}}\n"
        j.append(name)
        return s + "}\n"

    def leg(side, x):
        return joint(f"{side}Hip", (x, -1, 0), [joint(f"{side}Knee", (0, -4, 0), [joint(
            f"{side}Ankle", (0, -4, 0), [joint(f"{side}Toe", (0, -0.5, 1), end=(0, 0, 0.5))])])])

    def arm(side, x):
        return joint(f"{side}Collar", (0, 0, 0), [joint(f"{side}Shoulder", (x, 0.5, 0), [joint(
            f"{side}Elbow", (0, -3, 0), [joint(f"{side}Wrist", (0, -2.5, 0), end=(0, -0.5, 0))])])])

    spine = joint("lowerback", (0, 0, 0), [joint("Chest", (0, 2, 0), [joint("Chest2", (0, 2, 0), [
        joint("Neck", (0, 1.5, 0), [joint("Head", (0, 1, 0), end=(0, 1, 0))]), arm("Left", 2), arm("Right", -2)])])])
    text = ("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\n"
            "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
            + leg("Left", 1) + leg("Right", -1) + spine + "}\n")
    m = parse_bvh(text + "MOTION\nFrames: 1\nFrame Time: 0.1\n" + " ".join(["0"] * (6 + 3 * len(j))) + "\n")
    rng = np.random.default_rng(3)
    n_ch = m.motion.shape[1]
    motion = np.zeros((2, n_ch))
    motion[:, 1] = 9
    motion[1, 3:] = rng.uniform(-40, 40, n_ch - 3)  # frame 1: random joint angles
    return parse_bvh(text + "MOTION\nFrames: 2\nFrame Time: 0.1\n"
                     + "\n".join(" ".join(f"{x:.6f}" for x in row) for row in motion) + "\n")


def _toy_rig():
    """Anny-like rig: the bones ANNY_DRIVEN_BONES needs plus a few passive ones, Z-up,
    facing -Y, rest orientations identity."""
    bones = [
        ("root", None, (0, 0, 0.95)), ("pelvis.L", "root", (0, 0, 0.95)), ("pelvis.R", "root", (0, 0, 0.95)),
        ("upperleg01.L", "pelvis.L", (0.1, 0, 0.9)), ("lowerleg01.L", "upperleg01.L", (0.1, 0, 0.5)),
        ("foot.L", "lowerleg01.L", (0.1, 0, 0.08)), ("toe3-1.L", "foot.L", (0.1, -0.12, 0.02)),
        ("upperleg01.R", "pelvis.R", (-0.1, 0, 0.9)), ("lowerleg01.R", "upperleg01.R", (-0.1, 0, 0.5)),
        ("foot.R", "lowerleg01.R", (-0.1, 0, 0.08)), ("toe3-1.R", "foot.R", (-0.1, -0.12, 0.02)),
        ("spine05", "root", (0, 0, 1.0)), ("spine04", "spine05", (0, 0, 1.1)), ("spine03", "spine04", (0, 0, 1.2)),
        ("spine02", "spine03", (0, 0, 1.3)), ("spine01", "spine02", (0, 0, 1.4)),
        ("neck01", "spine01", (0, 0, 1.5)), ("head", "neck01", (0, 0, 1.6)),
        ("clavicle.L", "spine01", (0.05, 0, 1.45)), ("upperarm01.L", "clavicle.L", (0.2, 0, 1.45)),
        ("lowerarm01.L", "upperarm01.L", (0.4, 0, 1.25)), ("wrist.L", "lowerarm01.L", (0.55, 0, 1.1)),
        ("clavicle.R", "spine01", (-0.05, 0, 1.45)), ("upperarm01.R", "clavicle.R", (-0.2, 0, 1.45)),
        ("lowerarm01.R", "upperarm01.R", (-0.4, 0, 1.25)), ("wrist.R", "lowerarm01.R", (-0.55, 0, 1.1)),
    ]
    labels = [b[0] for b in bones]
    parents = [-1 if p is None else labels.index(p) for _, p, _ in bones]
    rest = np.tile(np.eye(4), (len(bones), 1, 1))
    rest[:, :3, 3] = [h for _, _, h in bones]
    return labels, parents, rest


def _world_orient_heads(orient, root_pos, parents, rest):
    """Anny's 'world-orient' forward kinematics for bone heads: a bone's head follows its
    parent, h_c = h_p + G_p (r_c - r_p), with G = D R^T (R = rest orientation)."""
    G = orient @ np.swapaxes(rest[:, :3, :3], -1, -2)
    heads = np.zeros(orient.shape[:2] + (3,))
    heads[:, 0] = root_pos
    for c in range(1, len(parents)):
        p = parents[c]
        heads[:, c] = heads[:, p] + np.einsum("fij,j->fi", G[:, p], rest[c, :3, 3] - rest[p, :3, 3])
    return heads


def test_retarget_copies_limb_directions():
    motion = _toy_bvh()
    labels, parents, rest = _toy_rig()
    assert set(ANNY_DRIVEN_BONES) <= set(labels)
    rt = retarget_bvh(motion, labels, parents, rest)
    heads = _world_orient_heads(rt.orientations, rt.root_position, parents, rest)
    _, P = motion.forward_kinematics()
    P = P[..., [0, 2, 1]] * [1, -1, 1]  # Y-up -> Z-up as in C_YUP_TO_ZUP
    pairs = [("upperleg01.L", "lowerleg01.L", "LeftHip", "LeftKnee"),
             ("lowerleg01.R", "foot.R", "RightKnee", "RightAnkle"),
             ("upperarm01.L", "lowerarm01.L", "LeftShoulder", "LeftElbow"),
             ("lowerarm01.R", "wrist.R", "RightElbow", "RightWrist")]
    for a, b, ma, mb in pairs:
        d_anny = heads[:, labels.index(b)] - heads[:, labels.index(a)]
        d_moc = P[:, motion.index(mb)] - P[:, motion.index(ma)]
        cos = np.sum(d_anny * d_moc, -1) / np.linalg.norm(d_anny, axis=-1) / np.linalg.norm(d_moc, axis=-1)
        np.testing.assert_allclose(cos, 1.0, atol=1e-9)
    # Orientations stay rotations.
    R = rt.orientations
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
    # The hip centre follows the scaled mocap hip centre.
    hc = 0.5 * (heads[:, labels.index("upperleg01.L")] + heads[:, labels.index("upperleg01.R")])
    mc = 0.5 * (P[:, motion.index("LeftHip")] + P[:, motion.index("RightHip")]) * rt.scale
    np.testing.assert_allclose(hc - hc[0], mc - mc[0], atol=1e-9)


# --- the committed sample ------------------------------------------------------------

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
VIDEO, TRUTH = SAMPLES / "dance.mp4", SAMPLES / "dance_truth.npz"


@pytest.mark.skipif(not (VIDEO.exists() and TRUTH.exists()), reason="samples/dance.mp4 not generated")
def test_sample_truth_matches_frames():
    t = np.load(TRUTH)
    j3 = t["joints_cam"]
    F = j3.shape[0]
    assert j3.dtype == np.float32 and j3.shape == (F, 17, 3)
    assert list(t["joint_names"]) == H36M_JOINT_NAMES
    w, h = (int(x) for x in t["image_size"])
    assert (j3[..., 2] > 1.0).all()  # in front of the camera
    # Upright in every frame: head top above the pelvis, pelvis above the lower ankle (y points down).
    assert (j3[:, 10, 1] < j3[:, 0, 1] - 0.4).all()
    assert (j3[:, 0, 1] < j3[:, [3, 6], 1].max(axis=1) - 0.5).all()
    # thorax and spine by the rule the training motion capture follows
    leg = np.linalg.norm(j3[:, 4] - j3[:, 5], axis=-1) + np.linalg.norm(j3[:, 5] - j3[:, 6], axis=-1)
    np.testing.assert_allclose(canonical_torso(j3, leg[0])[:, 7:9], j3[:, 7:9], atol=2e-3)

    cap = cv2.VideoCapture(str(VIDEO))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(float(t["fps"]), rel=1e-3)
    frames = []
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        frames.append(fr)
    cap.release()
    assert len(frames) == F and frames[0].shape == (h, w, 3)
    video = np.stack(frames)

    # The static background is the per-pixel temporal median: the walker covers any one
    # pixel in only a few frames. Only the pixels the test looks at are evaluated.
    uv = t["K"] @ np.moveaxis(j3.astype(np.float64), -1, 1)  # (F, 3, 17)
    uv = np.moveaxis(uv[:, :2] / uv[:, 2:], 1, -1)
    np.testing.assert_allclose(uv, t["joints_2d"], atol=1e-2)
    assert (uv[..., 0] >= 0).all() and (uv[..., 0] <= w - 1).all()
    assert (uv[..., 1] >= 0).all() and (uv[..., 1] <= h - 1).all()

    def differs(k, xy):
        """Whether frame k differs from the background anywhere in the 3x3 block around
        each pixel xy (N, 2); the block tolerates rounding at the silhouette edge."""
        d = np.stack(np.meshgrid([-1, 0, 1], [-1, 0, 1]), -1).reshape(-1, 2)
        p = np.clip(xy[:, None] + d[None], 0, [w - 1, h - 1])  # (N, 9, 2)
        bg = np.median(video[:, p[..., 1], p[..., 0]], axis=0)  # (N, 9, 3)
        diff = np.abs(video[k, p[..., 1], p[..., 0]].astype(np.float64) - bg).max(-1)
        return diff.max(-1) > 25

    hits = np.zeros((F, 17), bool)
    far_bg = []
    rng = np.random.default_rng(0)
    for k in range(F):
        hits[k] = differs(k, np.round(uv[k]).astype(int))
        # Control: pixels far (> 150 px) from every joint are background.
        xy = rng.integers([0, 0], [w, h], size=(60, 2))
        far = np.linalg.norm(xy[:, None] - uv[k][None], axis=-1).min(1) > 150
        far_bg.append(~differs(k, xy[far]))
    per_joint = hits.mean(axis=0)
    assert per_joint.min() >= 0.9, dict(zip(H36M_JOINT_NAMES, per_joint.round(3)))
    assert hits.mean() >= 0.97
    assert np.concatenate(far_bg).mean() > 0.95
