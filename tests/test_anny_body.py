"""The default body (anny posed from 3D joints) and `vid2pose mesh`.

anny builds a cache on its first use (about a minute and 800 MB); the module fixture loads it once.
"""
import json
import sys

import numpy as np
import pytest

import support_motion as sm
from support_fake import walking_box, write_video

pytest.importorskip("anny", reason="the default body needs anny (see README install)")

from vid2pose import cli  # noqa: E402
from vid2pose.mesh.anny_body import AnnyBody  # noqa: E402


@pytest.fixture(scope="module")
def body():
    return AnnyBody()


def test_posed_body_lands_on_the_target_joints(body):
    # A made-up walk, turning 90 degrees, seen by a camera 4 m away. Its proportions are not
    # anny's, so first pose anny on it and take the joints of that body as the target: a body with
    # the target's proportions must reproduce them (the 17 joints fix every limb direction).
    walk = sm.world_to_camera(sm.walk(40, turn_deg=90.0))
    target = body.pose(walk).joints
    again = body.pose(target)
    err = np.linalg.norm(again.joints - target, axis=-1)
    assert err.max() < 0.03, f"max joint error {err.max() * 100:.1f} cm"
    # ... and on the made-up walk itself, whose proportions are not anny's (hips 24 cm apart, a short
    # torso), the fitted body puts the 12 limb joints on the target's, the hips' midpoint exactly
    first = body.pose(walk)
    limbs = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]
    err = np.linalg.norm(first.joints[:, limbs] - walk[:, limbs], axis=-1)
    assert err.max() < 0.03, f"max limb joint error {err.max() * 100:.1f} cm"
    assert np.allclose(first.joints[:, 0], 0.5 * (walk[:, 1] + walk[:, 4]), atol=1e-4)
    for a, b in [(1, 2), (2, 3), (4, 5), (5, 6), (11, 12), (12, 13), (14, 15), (15, 16)]:
        d1 = first.joints[:, b] - first.joints[:, a]
        d2 = walk[:, b] - walk[:, a]
        cos = (d1 * d2).sum(-1) / np.linalg.norm(d1, axis=-1) / np.linalg.norm(d2, axis=-1)
        assert cos.min() > 0.999
    # upright (camera y points down) and in front of the camera
    v = first.vertices
    assert (v[:, :, 1].min(1) < walk[:, 10, 1] + 0.1).all() and (v[:, :, 1].max(1) > walk[:, 3, 1] - 0.1).all()
    assert (v[..., 2] > 2.5).all()


def test_fit_stretches_segments_to_the_persons_proportions(body):
    from vid2pose.mesh.anny_body import STRETCH_LIMITS, _h36m_landmarks, _segment_lengths

    walk = sm.world_to_camera(sm.walk(10))
    plain = body.pose(walk)
    # the same walk with 15 % longer forearms and 20 % wider hips (each hip moved out from the pelvis)
    longer = walk.copy()
    for elbow, wrist in ((12, 13), (15, 16)):
        longer[:, wrist] = walk[:, elbow] + 1.15 * (walk[:, wrist] - walk[:, elbow])
    mid = 0.5 * (walk[:, 1] + walk[:, 4])
    for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):
        shift = 0.2 * (walk[:, hip] - mid)
        longer[:, [hip, knee, ankle]] += shift[:, None]
    fit = body.fit(longer)
    lo, hi = STRETCH_LIMITS
    assert ((fit.stretch >= lo - 1e-9) & (fit.stretch <= hi + 1e-9)).all()
    got = _segment_lengths(_h36m_landmarks(body.pose(longer, fit=fit).joints.astype(np.float64)))
    want = _segment_lengths(_h36m_landmarks(longer))
    before = _segment_lengths(_h36m_landmarks(plain.joints.astype(np.float64)))
    for name in ("forearm", "hip width"):
        assert abs(np.median(got[name]) / np.median(want[name]) - 1) < 0.02, name
        assert np.median(got[name]) > 1.1 * np.median(before[name]), name
    assert abs(np.median(got["thigh"]) / np.median(before["thigh"]) - 1) < 0.02  # the rest unchanged
    # chunked posing with the clip's fit gives the same meshes as posing all at once
    a = body.pose(longer, fit=fit).vertices
    b = np.concatenate([body.pose(longer[:4], fit=fit).vertices, body.pose(longer[4:], fit=fit).vertices])
    assert np.allclose(a, b, atol=1e-5)


def test_head_follows_nods_and_turns(body):
    walk = sm.world_to_camera(sm.walk(20))
    # nod and turn the head: head top and nose rotate about the shoulders' midpoint
    nodded = walk.copy()
    pivot = 0.5 * (walk[:, 11] + walk[:, 14])
    angles = np.radians(30.0) * np.sin(np.linspace(0, np.pi, 20))
    for f, a in enumerate(angles):
        c, s_ = np.cos(a), np.sin(a)
        nod = np.array([[1, 0, 0], [0, c, -s_], [0, s_, c]])  # about camera x (the person's side axis)
        turn = np.array([[c, 0, s_], [0, 1, 0], [-s_, 0, c]])  # about camera y (vertical)
        R = turn @ nod if f % 2 else nod
        nodded[f, [9, 10]] = (walk[f, [9, 10]] - pivot[f]) @ R.T + pivot[f]
    posed = body.pose(nodded).joints.astype(np.float64)

    def up_dir(J):
        d = J[:, 10] - 0.5 * (J[:, 11] + J[:, 14])
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    err = np.degrees(np.arccos(np.clip((up_dir(posed) * up_dir(nodded)).sum(-1), -1, 1)))
    assert err.max() < 5.0, err
    # the nose turns with the head: its sideways direction from the head axis follows the target's
    def face_dir(J):
        u = up_dir(J)
        n = J[:, 9] - 0.5 * (J[:, 11] + J[:, 14])
        n = n - (n * u).sum(-1, keepdims=True) * u
        return n / np.linalg.norm(n, axis=-1, keepdims=True)

    turn_err = np.degrees(np.arccos(np.clip((face_dir(posed) * face_dir(nodded)).sum(-1), -1, 1)))
    assert turn_err.max() < 8.0, turn_err
    still = body.pose(walk).joints.astype(np.float64)
    moved = np.degrees(np.arccos(np.clip((up_dir(posed) * up_dir(still)).sum(-1), -1, 1)))
    assert moved.max() > 20.0  # the head really moved with the target


def test_mesh_command_writes_obj_per_frame(monkeypatch, capsys, tmp_path, fake_backend):
    trimesh = pytest.importorskip("trimesh")
    clip = write_video(tmp_path / "c.mp4", walking_box(12))
    out = tmp_path / "meshes"
    monkeypatch.setattr(sys, "argv", ["vid2pose", "mesh", str(clip), "--out", str(out), "--pose2d", fake_backend])
    with pytest.raises(SystemExit) as e:
        cli.main()
    _, err = capsys.readouterr()
    assert e.value.code == 0, err
    note = json.loads((out / "meshes.json").read_text())
    (p,) = note["people"]
    files = sorted((out / p["folder"]).glob("frame_*.obj"))
    assert len(files) == p["last_frame"] - p["first_frame"] + 1 >= 10
    m = trimesh.load(files[0], process=False)
    assert m.vertices.shape == (13718, 3) and len(m.faces) > 20000
    data = np.load(out / "person_1.npz")
    assert data["vertices"].shape == (len(files), 13718, 3)
    assert np.allclose(data["vertices"][0], m.vertices, atol=1e-3)
    # Y up: the top of the mesh is the head, well above its lowest point
    assert np.ptp(m.vertices[:, 1]) > 1.0
    # resume: the finished video is skipped
    monkeypatch.setattr(sys, "argv", ["vid2pose", "mesh", str(clip), "--out", str(out), "--pose2d", fake_backend,
                                      "--skip-existing", "--json"])
    with pytest.raises(SystemExit) as e:
        cli.main()
    out_text, _ = capsys.readouterr()
    assert e.value.code == 0 and json.loads(out_text)["skipped"] == 1


def test_standing_height_of_the_joints_is_the_bodys_height(body):
    # `--height` turns into a metric scale through lift.metric.standing_height: on anny bodies of known
    # height (the rest mesh's extent), from a short child-sized one to a tall one, it must give that height
    from vid2pose.lift.metric import standing_height
    from vid2pose.render.body import anny_h36m_joints

    heights = []
    for ph in (dict(gender=0.9, age=0.4, height=0.2, weight=0.6, muscle=0.4),
               dict(gender=0.1, age=0.5, height=0.55, weight=0.5, muscle=0.55),
               dict(gender=0.3, age=0.7, height=0.85, weight=0.3, muscle=0.7)):
        poses, verts = body._rest(ph)
        joints = anny_h36m_joints(poses[None], verts[None], body.labels, body.nose_vertex, body.head_top_vertex)
        true = verts[:, 2].max() - verts[:, 2].min()  # anny is Z-up
        assert standing_height(joints) == pytest.approx(true, abs=0.015), ph
        heights.append(true)
    assert heights[0] < 1.5 < 1.9 < heights[2]  # the three bodies really span child to tall adult
