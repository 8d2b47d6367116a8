"""Every mocap skeleton family maps to plausible H36M-17 joints (bone lengths, upright, left is left).

The test writes its own small BVH/ASF/AMC files (one per family, the family's joint names on a
hand-made body facing +Z with its left on +X), and, if ``shared/data/mocap`` exists, also
checks one real file per family.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from vid2pose.mocap.h36m import CMU_UNIT_M, detect_family, load_h36m, resample, true_fps
from vid2pose.skeletons import H36M_JOINTS

J = {n: i for i, n in enumerate(H36M_JOINTS)}

# A standing body, metres, Y up, facing +Z, its left side on +X.
CANON = {
    "origin": (0, 0, 0), "pelvis": (0, 0.95, 0), "lhip": (0.09, 0.92, 0), "lknee": (0.09, 0.50, 0.01),
    "lankle": (0.09, 0.08, 0), "ltoe": (0.09, 0.0, 0.13), "spine1": (0, 1.08, 0), "spine1b": (0, 1.16, 0),
    "spine2": (0, 1.25, 0), "neckb": (0, 1.40, 0), "neck": (0, 1.46, 0), "neck2": (0, 1.50, 0),
    "head": (0, 1.55, 0.01), "headtop": (0, 1.72, 0.02), "leye": (0.03, 1.63, 0.09),
    "lcollar": (0.03, 1.41, 0), "lsho": (0.18, 1.42, 0), "lelb": (0.20, 1.14, 0), "lwri": (0.21, 0.90, 0),
    "lhandend": (0.21, 0.82, 0), "lbutt": (0.09, 0.95, 0),
}
for k, v in list(CANON.items()):
    if k.startswith("l"):
        CANON["r" + k[1:]] = (-v[0], v[1], v[2])

# Per family: (name, parent, canon key, end-site key or None); root first; "L"/"R" expanded.
def _sided(rows):
    out = []
    for r in rows:
        if "{s}" in r[0] or "{S}" in r[0] or "{side}" in r[0]:
            for s, S, side, k in (("l", "L", "Left", "l"), ("r", "R", "Right", "r")):
                f = lambda t: None if t is None else t.format(s=s, S=S, side=side, k=k)
                out.append((f(r[0]), f(r[1]), f(r[2]), f(r[3])))
        else:
            out.append(r)
    return out


TEMPLATES = {
    "daz": (0.01, "Zrotation Xrotation Yrotation", _sided([
        ("hip", None, "pelvis", None), ("abdomen", "hip", "spine1", None), ("chest", "abdomen", "spine2", None),
        ("neck", "chest", "neck", None), ("head", "neck", "head", None), ("{s}Eye", "head", "{k}eye", "headtop"),
        ("{s}Collar", "chest", "{k}collar", None), ("{s}Shldr", "{s}Collar", "{k}sho", None),
        ("{s}ForeArm", "{s}Shldr", "{k}elb", None), ("{s}Hand", "{s}ForeArm", "{k}wri", "{k}handend"),
        ("{s}Buttock", "hip", "{k}butt", None), ("{s}Thigh", "{s}Buttock", "{k}hip", None),
        ("{s}Shin", "{s}Thigh", "{k}knee", None), ("{s}Foot", "{s}Shin", "{k}ankle", "{k}toe")])),
    "cc_base": (0.01, "Zrotation Yrotation Xrotation", _sided([
        ("CC_Base_Hip", None, "pelvis", None), ("CC_Base_Pelvis", "CC_Base_Hip", "pelvis", None),
        ("CC_Base_{S}_Thigh", "CC_Base_Pelvis", "{k}hip", None), ("CC_Base_{S}_Calf", "CC_Base_{S}_Thigh", "{k}knee", None),
        ("CC_Base_{S}_Foot", "CC_Base_{S}_Calf", "{k}ankle", "{k}toe"),
        ("CC_Base_Waist", "CC_Base_Hip", "spine1", None), ("CC_Base_Spine01", "CC_Base_Waist", "spine1b", None),
        ("CC_Base_Spine02", "CC_Base_Spine01", "spine2", None), ("CC_Base_NeckTwist01", "CC_Base_Spine02", "neck", None),
        ("CC_Base_NeckTwist02", "CC_Base_NeckTwist01", "neck2", None), ("CC_Base_Head", "CC_Base_NeckTwist02", "head", None),
        ("CC_Base_{S}_Eye", "CC_Base_Head", "{k}eye", "headtop"),
        ("CC_Base_{S}_Clavicle", "CC_Base_Spine02", "{k}collar", None),
        ("CC_Base_{S}_Upperarm", "CC_Base_{S}_Clavicle", "{k}sho", None),
        ("CC_Base_{S}_Forearm", "CC_Base_{S}_Upperarm", "{k}elb", None),
        ("CC_Base_{S}_Hand", "CC_Base_{S}_Forearm", "{k}wri", "{k}handend")])),
    "bandai": (0.01, "Zrotation Xrotation Yrotation", _sided([
        ("joint_Root", None, "origin", None), ("Hips", "joint_Root", "pelvis", None), ("Spine", "Hips", "spine1", None),
        ("Chest", "Spine", "spine2", None), ("Neck", "Chest", "neck", None), ("Head", "Neck", "head", "head"),
        ("Shoulder_{S}", "Chest", "{k}collar", None), ("UpperArm_{S}", "Shoulder_{S}", "{k}sho", None),
        ("LowerArm_{S}", "UpperArm_{S}", "{k}elb", None), ("Hand_{S}", "LowerArm_{S}", "{k}wri", "{k}handend"),
        ("UpperLeg_{S}", "Hips", "{k}hip", None), ("LowerLeg_{S}", "UpperLeg_{S}", "{k}knee", None),
        ("Foot_{S}", "LowerLeg_{S}", "{k}ankle", None), ("Toes_{S}", "Foot_{S}", "{k}toe", "{k}toe")])),
    "cgspeed_mb": (CMU_UNIT_M, "Zrotation Yrotation Xrotation", _sided([
        ("Hips", None, "pelvis", None), ("{S}HipJoint", "Hips", "pelvis", None),
        ("{side}UpLeg", "{S}HipJoint", "{k}hip", None), ("{side}Leg", "{side}UpLeg", "{k}knee", None),
        ("{side}Foot", "{side}Leg", "{k}ankle", None), ("{side}ToeBase", "{side}Foot", "{k}toe", "{k}toe"),
        ("LowerBack", "Hips", "pelvis", None), ("Spine", "LowerBack", "spine1", None), ("Spine1", "Spine", "spine2", None),
        ("Neck", "Spine1", "neckb", None), ("Neck1", "Neck", "neck", None), ("Head", "Neck1", "head", "headtop"),
        ("{side}Shoulder", "Spine1", "{k}collar", None), ("{side}Arm", "{side}Shoulder", "{k}sho", None),
        ("{side}ForeArm", "{side}Arm", "{k}elb", None), ("{side}Hand", "{side}ForeArm", "{k}wri", "{k}handend")])),
    "cgspeed_max": (CMU_UNIT_M, "Zrotation Yrotation Xrotation", _sided([
        ("Hips", None, "pelvis", None), ("{S}HipJoint", "Hips", "pelvis", None),
        ("{side}Hip", "{S}HipJoint", "{k}hip", None), ("{side}Knee", "{side}Hip", "{k}knee", None),
        ("{side}Ankle", "{side}Knee", "{k}ankle", None), ("{side}Toe", "{side}Ankle", "{k}toe", "{k}toe"),
        ("lowerback", "Hips", "pelvis", None), ("Chest", "lowerback", "spine1", None), ("Chest2", "Chest", "spine2", None),
        ("lowerneck", "Chest2", "neckb", None), ("Neck", "lowerneck", "neck", None), ("Head", "Neck", "head", "headtop"),
        ("{side}Collar", "Chest2", "{k}collar", None), ("{side}Shoulder", "{side}Collar", "{k}sho", None),
        ("{side}Elbow", "{side}Shoulder", "{k}elb", None), ("{side}Wrist", "{side}Elbow", "{k}wri", "{k}handend")])),
}
# Frames: rest, rest, turned 90 deg left (yaw), turned -135 deg with both knees bent 40 deg.
YAWS = (0.0, 0.0, 90.0, -135.0)
KNEE = (0.0, 0.0, 0.0, 40.0)
KNEE_NAMES = {"daz": "Shin", "cc_base": "_Calf", "bandai": "LowerLeg_", "cgspeed_mb": "Leg", "cgspeed_max": "Knee"}


def write_bvh(path: Path, family: str, header_fps: float = 120.0) -> None:
    unit, rot_order, rows = TEMPLATES[family]
    six = family == "bandai"  # every joint carries position channels
    children = {r[0]: [c[0] for c in rows if c[1] == r[0]] for r in rows}
    pos = {r[0]: np.array(CANON[r[2]], float) / unit for r in rows}
    lines = ["HIERARCHY"]
    chans: list[tuple[str, list[str]]] = []

    def emit(name, depth):
        r = next(x for x in rows if x[0] == name)
        ind = "  " * depth
        parent = r[1]
        off = pos[name] - (pos[parent] if parent else 0)
        lines.append(f"{ind}{'ROOT' if parent is None else 'JOINT'} {name}")
        lines.append(f"{ind}{{")
        lines.append(f"{ind}  OFFSET {off[0]:.5f} {off[1]:.5f} {off[2]:.5f}")
        ch = (["Xposition", "Yposition", "Zposition"] if parent is None or six else []) + rot_order.split()
        chans.append((name, ch))
        lines.append(f"{ind}  CHANNELS {len(ch)} {' '.join(ch)}")
        for c in children[name]:
            emit(c, depth + 1)
        if not children[name]:
            e = np.array(CANON[r[3]], float) / unit - pos[name] if r[3] else np.zeros(3)
            lines.extend([f"{ind}  End Site", f"{ind}  {{", f"{ind}    OFFSET {e[0]:.5f} {e[1]:.5f} {e[2]:.5f}", f"{ind}  }}"])
        lines.append(f"{ind}}}")

    emit(rows[0][0], 0)
    lines += ["MOTION", f"Frames: {len(YAWS)}", f"Frame Time: {1 / header_fps:.7f}"]
    for yaw, knee in zip(YAWS, KNEE):
        vals = []
        for name, ch in chans:
            parent = next(x for x in rows if x[0] == name)[1]
            off = pos[name] - (pos[parent] if parent else 0)
            for c in ch:
                if c.endswith("position"):
                    vals.append(off["XYZ".index(c[0])])
                elif parent is None and c == "Yrotation":
                    vals.append(yaw)
                elif KNEE_NAMES[family] in name and c == "Xrotation":
                    vals.append(knee)
                else:
                    vals.append(0.0)
        lines.append(" ".join(f"{v:.5f}" for v in vals))
    text = "\r\n".join(lines) + "\r\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


ASF_BONES = [  # name, parent, start key, end key
    ("lhipjoint", "root", "pelvis", "lhip"), ("lfemur", "lhipjoint", "lhip", "lknee"),
    ("ltibia", "lfemur", "lknee", "lankle"), ("lfoot", "ltibia", "lankle", "ltoe"),
    ("rhipjoint", "root", "pelvis", "rhip"), ("rfemur", "rhipjoint", "rhip", "rknee"),
    ("rtibia", "rfemur", "rknee", "rankle"), ("rfoot", "rtibia", "rankle", "rtoe"),
    ("lowerback", "root", "pelvis", "spine1"), ("upperback", "lowerback", "spine1", "spine2"),
    ("thorax", "upperback", "spine2", "neckb"), ("lowerneck", "thorax", "neckb", "neck"),
    ("upperneck", "lowerneck", "neck", "head"), ("head", "upperneck", "head", "headtop"),
    ("lclavicle", "thorax", "neckb", "lsho"), ("lhumerus", "lclavicle", "lsho", "lelb"),
    ("lradius", "lhumerus", "lelb", "lwri"), ("lwrist", "lradius", "lwri", "lhandend"),
    ("rclavicle", "thorax", "neckb", "rsho"), ("rhumerus", "rclavicle", "rsho", "relb"),
    ("rradius", "rhumerus", "relb", "rwri"), ("rwrist", "rradius", "rwri", "rhandend"),
]


def write_asf_amc(folder: Path) -> Path:
    unit = CMU_UNIT_M
    L = ["# test skeleton", ":version 1.10", ":name TEST", ":units", "  mass 1.0", "  length 0.45", "  angle deg",
         ":root", "   order TX TY TZ RX RY RZ", "   axis XYZ", "   position 0 0 0", "   orientation 0 0 0", ":bonedata"]
    for i, (n, p, a, b) in enumerate(ASF_BONES):
        d = np.array(CANON[b], float) - np.array(CANON[a], float)
        ln = np.linalg.norm(d)
        L += ["  begin", f"     id {i + 1}", f"     name {n}", f"     direction {d[0] / ln:.6f} {d[1] / ln:.6f} {d[2] / ln:.6f}",
              f"     length {ln / unit:.6f}", "     axis 0 0 0 XYZ", "    dof rx ry rz",
              "    limits (-180 180)", "           (-180 180)", "           (-180 180)", "  end"]
    L += [":hierarchy", "  begin"]
    parents = {}
    for n, p, _, _ in ASF_BONES:
        parents.setdefault(p, []).append(n)
    L += [f"    {p} {' '.join(c)}" for p, c in parents.items()] + ["  end"]
    (folder / "99.asf").write_text("\r\n".join(L) + "\r\n")
    M = ["#!OML:ASF 99.asf", "# a comment", ":FULLY-SPECIFIED", ":DEGREES"]
    pel = np.array(CANON["pelvis"]) / unit
    for k, (yaw, knee) in enumerate(zip(YAWS, KNEE)):
        M.append(str(k + 1))
        M.append(f"root {pel[0]:.5f} {pel[1]:.5f} {pel[2]:.5f} 0 {yaw:.5f} 0")
        for n, *_ in ASF_BONES:
            M.append(f"{n} {knee if n in ('ltibia', 'rtibia') else 0.0:.5f} 0 0")
    path = folder / "99_01.amc"
    path.write_text("\r\n".join(M) + "\r\n")
    return path


def check_plausible(Jt: np.ndarray, yaws=None, knees=None) -> None:
    def bone(a, b):
        return np.linalg.norm(Jt[:, J[a]] - Jt[:, J[b]], axis=-1)

    ranges = {("pelvis", "left_hip"): (0.03, 0.20), ("pelvis", "right_hip"): (0.03, 0.20),
              ("left_hip", "left_knee"): (0.30, 0.60), ("right_hip", "right_knee"): (0.30, 0.60),
              ("left_knee", "left_ankle"): (0.30, 0.60), ("right_knee", "right_ankle"): (0.30, 0.60),
              ("pelvis", "spine"): (0.08, 0.40), ("spine", "thorax"): (0.08, 0.40),
              ("thorax", "nose"): (0.05, 0.30), ("nose", "head"): (0.05, 0.30),
              ("thorax", "left_shoulder"): (0.08, 0.30), ("thorax", "right_shoulder"): (0.08, 0.30),
              ("left_shoulder", "left_elbow"): (0.18, 0.40), ("right_shoulder", "right_elbow"): (0.18, 0.40),
              ("left_elbow", "left_wrist"): (0.15, 0.35), ("right_elbow", "right_wrist"): (0.15, 0.35)}
    for (a, b), (lo, hi) in ranges.items():
        L = bone(a, b)
        assert np.all((L > lo) & (L < hi)), f"{a}-{b}: {L.min():.3f}..{L.max():.3f} m outside {lo}..{hi}"
    # upright (Y up): head above thorax above pelvis above knees above ankles, on average
    y = Jt[..., 1].mean(0)
    assert y[J["head"]] > y[J["thorax"]] > y[J["spine"]] > y[J["pelvis"]]
    assert y[J["pelvis"]] > y[J["left_knee"]] > y[J["left_ankle"]]
    assert y[J["pelvis"]] > y[J["right_knee"]] > y[J["right_ankle"]]
    if yaws is not None:
        yaw = np.deg2rad(np.asarray(yaws))
        fwd = np.stack([np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], -1)
        left = np.cross([0.0, 1.0, 0.0], fwd)
        for a, b in (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder"), ("left_wrist", "right_wrist")):
            assert np.all(np.sum((Jt[:, J[a]] - Jt[:, J[b]]) * left, -1) > 0.05), f"{a} not on the left"
        assert np.all(np.sum((Jt[:, J["nose"]] - Jt[:, J["thorax"]]) * fwd, -1) > 0.02), "nose not in front"
    if knees is not None:
        # a bent knee brings the ankle behind the knee (opposite the facing direction)
        for k, bent in enumerate(knees):
            if bent:
                yaw = np.deg2rad(yaws[k])
                fwd = np.array([np.sin(yaw), 0, np.cos(yaw)])
                assert (Jt[k, J["left_ankle"]] - Jt[k, J["left_knee"]]) @ fwd < -0.1


def check_canonical_torso(Jt: np.ndarray) -> None:
    """Every rig's thorax and spine follow the one shared rule, whatever its own neck and spine joints:
    thorax 4 cm x leg/0.89 m above the shoulders' midpoint along the torso, spine halfway up."""
    leg = np.median(np.linalg.norm(Jt[:, J["left_knee"]] - Jt[:, J["left_hip"]], axis=-1)
                    + np.linalg.norm(Jt[:, J["left_ankle"]] - Jt[:, J["left_knee"]], axis=-1))
    mid_sh = (Jt[:, J["left_shoulder"]] + Jt[:, J["right_shoulder"]]) / 2
    up = mid_sh - Jt[:, J["pelvis"]]
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    np.testing.assert_allclose(Jt[:, J["thorax"]], mid_sh + 0.04 * leg / 0.89 * up, atol=2e-3)
    np.testing.assert_allclose(Jt[:, J["spine"]], (Jt[:, J["pelvis"]] + Jt[:, J["thorax"]]) / 2, atol=1e-5)


@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_handmade_bvh_family(tmp_path, family):
    p = tmp_path / f"{family}.bvh.gz"
    write_bvh(p, family)
    Jt, fps, info = load_h36m(p)
    assert info["family"] == family
    assert Jt.shape[1:] == (17, 3) and np.isfinite(Jt).all()
    F = Jt.shape[0]  # cgspeed files drop their first (T-pose) frame
    assert F == len(YAWS) - (1 if family.startswith("cgspeed") else 0)
    check_plausible(Jt, YAWS[-F:], KNEE[-F:])
    check_canonical_torso(Jt)
    # metres: the hand-made body's thigh is 0.42 m whatever the file units
    thigh = np.linalg.norm(Jt[0, J["left_hip"]] - Jt[0, J["left_knee"]])
    assert abs(thigh - 0.42) < 0.01
    assert fps == pytest.approx(120.0, rel=1e-4)


def test_handmade_asf_amc(tmp_path):
    amc = write_asf_amc(tmp_path)
    Jt, fps, info = load_h36m(amc)
    assert info["family"] == "asf" and fps == 120.0
    check_plausible(Jt, YAWS, KNEE)
    check_canonical_torso(Jt)
    assert abs(np.linalg.norm(Jt[0, J["left_hip"]] - Jt[0, J["left_knee"]]) - 0.42) < 0.01
    # the rest frame reproduces the hand-made positions exactly
    assert np.allclose(Jt[0, J["left_wrist"]], CANON["lwri"], atol=1e-4)
    assert np.allclose(Jt[0, J["right_ankle"]], CANON["rankle"], atol=1e-4)


def test_detect_unknown_raises():
    with pytest.raises(ValueError):
        detect_family(["Root", "Bone1", "Bone2"])


def test_fps_override_and_resample(tmp_path):
    assert true_fps("/x/cmu/acrnn_daz/salsa/01.bvh.gz", 120.0) == 60.0
    assert true_fps("/x/cmu/acrnn_daz/indian/06.bvh.gz", 120.0) == 120.0
    x = np.arange(121, dtype=float)[:, None]  # 1 s at 120 fps, value = frame index
    y = resample(x, 120.0, 30.0)
    assert y.shape[0] == 31 and np.allclose(y[:, 0], np.arange(31) * 4)
    p = tmp_path / "acrnn_daz" / "salsa"
    p.mkdir(parents=True)
    write_bvh(p / "01.bvh", "daz", header_fps=120.0)
    _, fps, info = load_h36m(p / "01.bvh")
    assert fps == 60.0 and info["header_fps"] == pytest.approx(120.0, rel=1e-4)
    _, fps30, _ = load_h36m(p / "01.bvh", fps=30.0)
    assert fps30 == 30.0


MOCAP = Path(os.environ.get("VID2POSE_MOCAP", Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"))
REAL = {
    "daz": "cmu/acrnn_daz/salsa/01.bvh.gz",
    "cc_base": "cmu/iclone_cc/005/005_01.bvh.gz",
    "bandai": "bandai_namco/dataset-2/data/dataset-2_walk_normal_001.bvh.gz",
    "cgspeed_mb": "cmu/cgspeed_bvh/01_01.bvh.gz",
    "cgspeed_max": "cmu/cgspeed_bvh/131_01.bvh.gz",
    "asf": "cmu/asf_amc/11_01.amc",
}


@pytest.mark.parametrize("family", sorted(REAL))
def test_real_file_per_family(family):
    p = MOCAP / REAL[family]
    if not p.exists():
        pytest.skip(f"real mocap not available ({p})")
    Jt, fps, info = load_h36m(p, fps=30.0)
    assert info["family"] == family and fps == 30.0
    if family == "daz":
        assert info["true_fps"] == 60.0  # salsa: the header says 120
    check_plausible(Jt)
    check_canonical_torso(Jt)
    # left is left: relative to the facing direction given by the feet (real files have no
    # known yaw), the left hip is on the left in (nearly) every frame.
    fwd = (Jt[:, J["nose"]] - Jt[:, J["thorax"]]) * np.array([1, 0, 1])
    left = np.cross([0.0, 1.0, 0.0], fwd)
    assert np.mean(np.sum((Jt[:, J["left_hip"]] - Jt[:, J["right_hip"]]) * left, -1) > 0) > 0.9
    assert np.mean(np.sum((Jt[:, J["left_shoulder"]] - Jt[:, J["right_shoulder"]]) * left, -1) > 0) > 0.9


def test_vid2pose_bvh_export_reads_back_as_training_data(tmp_path):
    """Our own BVH files are mocap too: the 17 joints come back exactly (metres, Y up)."""
    from support_motion import walk, world_to_camera
    from vid2pose.export.bvh import camera_to_bvh, write_bvh
    from vid2pose.mocap.h36m import load_h36m

    cam = world_to_camera(walk(40, turn_deg=45.0))
    path = tmp_path / "take.bvh"
    write_bvh(path, cam, 30.0, units="cm")
    J, fps, info = load_h36m(path)
    assert info["family"] == "vid2pose" and fps == 30.0 and abs(info["unit_m"] - 0.01) < 1e-12
    np.testing.assert_allclose(J, camera_to_bvh(cam), atol=1e-3)
