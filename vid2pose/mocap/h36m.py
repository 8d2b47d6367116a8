"""Motion-capture skeletons -> the Human3.6M 17 joints, in metres, Y-up world.

``load_h36m(path)`` reads any BVH (``.bvh``/``.bvh.gz``) or ASF/AMC take, detects its
skeleton family from the joint names, maps it to the 17 H36M joints (order of
``vid2pose.skeletons.H36M_JOINTS``), converts to metres, makes Y the up axis and
returns the true frame rate (header, corrected by ``FPS_OVERRIDES``).

Mapping tables (one per family; a name is the joint whose *position* is used; BVH joints
sit at the start of their bone, ASF names are bone starts, see ``asf_amc.py``):

| H36M        | daz (cgspeed Daz) | cc_base (iClone)       | bandai      | cgspeed_mb  | cgspeed_max   | asf (CMU Acclaim) |
|-------------|-------------------|------------------------|-------------|-------------|---------------|-------------------|
| r/l_hip     | r/lThigh          | CC_Base_R/L_Thigh      | UpperLeg_R/L| Right/LeftUpLeg | Right/LeftHip | r/lfemur      |
| r/l_knee    | r/lShin           | CC_Base_R/L_Calf       | LowerLeg_R/L| Right/LeftLeg   | Right/LeftKnee| r/ltibia      |
| r/l_ankle   | r/lFoot           | CC_Base_R/L_Foot       | Foot_R/L    | Right/LeftFoot  | Right/LeftAnkle| r/lfoot      |
| neck base   | neck              | CC_Base_NeckTwist01    | Neck        | Neck1       | Neck          | upperneck         |
| head base*  | head              | CC_Base_Head           | Head        | Head        | Head          | head              |
| l/r_shoulder| l/rShldr          | CC_Base_L/R_Upperarm   | UpperArm_L/R| Left/RightArm | Left/RightShoulder | l/rhumerus |
| l/r_elbow   | l/rForeArm        | CC_Base_L/R_Forearm    | LowerArm_L/R| Left/RightForeArm | Left/RightElbow | l/rradius |
| l/r_wrist   | l/rHand           | CC_Base_L/R_Hand       | Hand_L/R    | Left/RightHand | Left/RightWrist | l/rwrist   |

vid2pose's own BVH files (family ``vid2pose``: Hips ... HeadTop) carry the 17 joints themselves and map
one to one (Hips = pelvis, Spine = spine, Neck = thorax, Head = nose, HeadTop = head); only the face
points are derived.

Derived joints, the same rule for every family (so that all sources agree):

* pelvis = midpoint of the two hip joints (as the 2D converters define it);
* thorax and spine: ``vid2pose.skeletons.canonical_torso``, the rule every source shares
  (the rendered evaluation body too): thorax = the shoulders' midpoint + 4 cm x ``s`` along
  pelvis -> shoulders, spine = midpoint of pelvis and thorax. The rigs' own neck-base and
  spine joints are not used for them: they sit 2.5-6 cm above the shoulders and 4 cm behind
  to 4 cm in front of the torso line depending on the rig (the table's neck base only
  gives the up axis of unknown files and the head's calibration);
* nose and head (top) come from the *head base* joint (* in the table) and the head's own
  orientation: ``nose = base + s (0.04 up_h + 0.10 fwd_h)`` (the nose tip, the same point as
  the COCO nose of ``face``: what a 2D detector marks), ``head = base + s (0.15 up_h +
  0.02 fwd_h)`` (metres, ``s`` = leg length / 0.89 m, H36M's thigh + shin). The head's
  forward/up axes in its local frame are calibrated per take as the clip-average of the
  body's forward/up directions seen from the head (robust to any rest pose or joint-axis
  convention: the CC_Base and Bandai rest poses are not T-poses). Some skeletons end the
  head with an End Site (cgspeed, Bandai: zero length), others with eyes or a face rig
  (Daz, CC_Base), so the End Site is not used.
* ``face`` (in ``info``): COCO face points (nose tip, eyes, ears) built the same way, so a
  training pipeline can feed the same 2D converter the inference uses.

Units (metres per file unit): daz, cc_base, bandai: cm (0.01); cgspeed_mb/max: CMU ASF
units (0.0254 / 0.45 = 0.05644); asf: from ``:units length``. Unknown BVH skeletons: the
family is guessed from generic names (Mixamo-style ``mixamorig:LeftUpLeg`` etc. match
cgspeed_mb) and the unit from the leg length (m, cm, mm, inches or CMU units).
All families are Y-up; other files are rotated so the mean pelvis -> thorax direction is +Y.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vid2pose.kinematics import rotation_between, unit_vectors
from vid2pose.skeletons import H36M_JOINTS, H36M_LEG_M, canonical_torso

__all__ = ["FAMILIES", "FPS_OVERRIDES", "detect_family", "load_h36m", "resample", "true_fps",
           "find_mocap_files", "FACE_POINTS"]

CMU_UNIT_M = 0.0254 / 0.45
FACE_POINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")


@dataclass(frozen=True)
class Family:
    name: str
    unit_m: float | None  # metres per file unit; None: guess from the leg length
    hips: tuple[str, str]  # (right, left)
    knees: tuple[str, str]
    ankles: tuple[str, str]
    shoulders: tuple[str, str]  # (left, right)
    elbows: tuple[str, str]
    wrists: tuple[str, str]
    thorax: str
    head: str
    signature: tuple[str, ...]  # names that must all be present to detect the family


FAMILIES: dict[str, Family] = {
    "daz": Family(
        "daz", 0.01, ("rThigh", "lThigh"), ("rShin", "lShin"), ("rFoot", "lFoot"),
        ("lShldr", "rShldr"), ("lForeArm", "rForeArm"), ("lHand", "rHand"), "neck", "head",
        ("hip", "abdomen", "lThigh", "rShin", "lShldr")),
    "cc_base": Family(
        "cc_base", 0.01, ("CC_Base_R_Thigh", "CC_Base_L_Thigh"), ("CC_Base_R_Calf", "CC_Base_L_Calf"),
        ("CC_Base_R_Foot", "CC_Base_L_Foot"), ("CC_Base_L_Upperarm", "CC_Base_R_Upperarm"),
        ("CC_Base_L_Forearm", "CC_Base_R_Forearm"), ("CC_Base_L_Hand", "CC_Base_R_Hand"),
        "CC_Base_NeckTwist01", "CC_Base_Head",
        ("CC_Base_L_Thigh", "CC_Base_Head", "CC_Base_NeckTwist01")),
    "bandai": Family(
        "bandai", 0.01, ("UpperLeg_R", "UpperLeg_L"), ("LowerLeg_R", "LowerLeg_L"), ("Foot_R", "Foot_L"),
        ("UpperArm_L", "UpperArm_R"), ("LowerArm_L", "LowerArm_R"), ("Hand_L", "Hand_R"), "Neck", "Head",
        ("UpperLeg_L", "LowerArm_R", "Hips", "Chest")),
    "cgspeed_mb": Family(
        "cgspeed_mb", CMU_UNIT_M, ("RightUpLeg", "LeftUpLeg"), ("RightLeg", "LeftLeg"),
        ("RightFoot", "LeftFoot"), ("LeftArm", "RightArm"), ("LeftForeArm", "RightForeArm"),
        ("LeftHand", "RightHand"), "Neck1", "Head",
        ("LeftUpLeg", "LeftLeg", "LeftForeArm", "Neck1", "LowerBack")),
    "cgspeed_max": Family(
        "cgspeed_max", CMU_UNIT_M, ("RightHip", "LeftHip"), ("RightKnee", "LeftKnee"),
        ("RightAnkle", "LeftAnkle"), ("LeftShoulder", "RightShoulder"), ("LeftElbow", "RightElbow"),
        ("LeftWrist", "RightWrist"), "Neck", "Head",
        ("LeftHip", "LeftKnee", "LeftElbow", "lowerneck")),
    "asf": Family(
        "asf", None, ("rfemur", "lfemur"), ("rtibia", "ltibia"), ("rfoot", "lfoot"),
        ("lhumerus", "rhumerus"), ("lradius", "rradius"), ("lwrist", "rwrist"), "upperneck", "head",
        ("lfemur", "ltibia", "lhumerus", "upperneck")),
    # vid2pose's own BVH export (vid2pose/export/bvh.py): the 17 joints themselves, so the mapping is exact
    # (Spine = spine, Neck = thorax, Head = nose, HeadTop = head). Units are guessed (m or cm).
    "vid2pose": Family(
        "vid2pose", None, ("RightUpLeg", "LeftUpLeg"), ("RightLeg", "LeftLeg"), ("RightFoot", "LeftFoot"),
        ("LeftArm", "RightArm"), ("LeftForeArm", "RightForeArm"), ("LeftHand", "RightHand"), "Neck", "Head",
        ("Hips", "Spine", "Neck", "Head", "HeadTop", "LeftUpLeg", "LeftForeArm")),
    # Generic fall-backs for other people's BVH files (Mixamo / MotionBuilder naming without
    # the CMU extra joints). Units are guessed.
    "generic_mb": Family(
        "generic_mb", None, ("RightUpLeg", "LeftUpLeg"), ("RightLeg", "LeftLeg"), ("RightFoot", "LeftFoot"),
        ("LeftArm", "RightArm"), ("LeftForeArm", "RightForeArm"), ("LeftHand", "RightHand"), "Neck", "Head",
        ("LeftUpLeg", "LeftLeg", "LeftForeArm", "Neck", "Head")),
}

# True frame rates where a header is wrong: (regex on the POSIX path, fps). PROVENANCE.md:
# the acrnn_daz salsa headers say 120 fps but the motion is 60.
FPS_OVERRIDES: tuple[tuple[str, float], ...] = (
    (r"acrnn_daz/salsa/", 60.0),
)


def _strip(name: str) -> str:
    """Drop namespace prefixes ("mixamorig:LeftUpLeg", "Character1_LeftUpLeg" stays)."""
    return name.split(":")[-1].split("|")[-1]


def detect_family(names: list[str] | tuple[str, ...]) -> str:
    """Name of the skeleton family whose signature joints are all present."""
    s = {_strip(n) for n in names}
    for fam in FAMILIES.values():
        if all(n in s for n in fam.signature):
            if fam.name == "cgspeed_mb" and "Neck1" not in s:
                continue
            return fam.name
    raise ValueError("unknown skeleton: no mapping to H36M for joints " + ", ".join(list(names)[:12]) + " ...")


def true_fps(path: str | Path, header_fps: float) -> float:
    p = Path(path).as_posix()
    for pat, fps in FPS_OVERRIDES:
        if re.search(pat, p):
            return float(fps)
    return float(header_fps)


def resample(x: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linear resampling along axis 0 from fps_in to fps_out (same start time)."""
    x = np.asarray(x)
    F = x.shape[0]
    if F < 2 or abs(fps_in - fps_out) < 1e-6:
        return x.copy()
    dur = (F - 1) / fps_in
    n = int(np.floor(dur * fps_out + 1e-6)) + 1
    t = np.arange(n) * fps_in / fps_out
    i0 = np.clip(np.floor(t).astype(int), 0, F - 1)
    i1 = np.clip(i0 + 1, 0, F - 1)
    w = (t - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return ((1 - w) * x[i0] + w * x[i1]).astype(x.dtype)


def _guess_unit(leg_len_file_units: float) -> float:
    """Metres per file unit from the thigh + shin length (a human leg is ~0.75-1.0 m)."""
    for unit in (1.0, 0.01, 0.001, 0.0254, CMU_UNIT_M):
        if 0.55 <= leg_len_file_units * unit <= 1.25:
            return unit
    return 0.01


def skeleton_to_h36m(names: list[str], rot: np.ndarray, pos: np.ndarray, family: str,
                     unit_m: float | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """World rotations (F, J, 3, 3) and positions (F, J, 3) of a named skeleton ->
    (H36M joints (F, 17, 3) metres Y-up, face points (F, 5, 3), info)."""
    fam = FAMILIES[family]
    idx = {_strip(n): i for i, n in enumerate(names)}

    def P(n: str) -> np.ndarray:
        return pos[:, idx[n]]

    r_hip, l_hip = P(fam.hips[0]), P(fam.hips[1])
    leg = np.median(np.linalg.norm(P(fam.knees[1]) - l_hip, axis=-1)
                    + np.linalg.norm(P(fam.ankles[1]) - P(fam.knees[1]), axis=-1))
    unit = unit_m if unit_m is not None else (fam.unit_m if fam.unit_m is not None else _guess_unit(leg))
    rot = np.asarray(rot)

    J = np.zeros((pos.shape[0], 17, 3))
    name_idx = {n: i for i, n in enumerate(H36M_JOINTS)}
    J[:, name_idx["right_hip"]], J[:, name_idx["left_hip"]] = P(fam.hips[0]) * unit, P(fam.hips[1]) * unit
    J[:, name_idx["right_knee"]], J[:, name_idx["left_knee"]] = P(fam.knees[0]) * unit, P(fam.knees[1]) * unit
    J[:, name_idx["right_ankle"]], J[:, name_idx["left_ankle"]] = P(fam.ankles[0]) * unit, P(fam.ankles[1]) * unit
    J[:, name_idx["left_shoulder"]], J[:, name_idx["right_shoulder"]] = P(fam.shoulders[0]) * unit, P(fam.shoulders[1]) * unit
    J[:, name_idx["left_elbow"]], J[:, name_idx["right_elbow"]] = P(fam.elbows[0]) * unit, P(fam.elbows[1]) * unit
    J[:, name_idx["left_wrist"]], J[:, name_idx["right_wrist"]] = P(fam.wrists[0]) * unit, P(fam.wrists[1]) * unit
    pelvis = (J[:, 1] + J[:, 4]) / 2
    thorax = P(fam.thorax) * unit  # the rig's neck base: only for the up axis and the head calibration
    J[:, 0] = pelvis

    # Up axis: the data families are Y-up; for unknown files make the mean torso direction +Y.
    torso = unit_vectors((thorax - pelvis).mean(0))
    up_axis = int(np.argmax(np.abs(torso)))
    R_world = np.eye(3)
    if up_axis != 1 or torso[1] < 0:
        R_world = rotation_between(torso, np.array([0.0, 1.0, 0.0]))

    # Head frame: calibrate the head's local forward/up axes against the body.
    base = P(fam.head) * unit
    R_h = rot[:, idx[fam.head]]
    left = (J[:, 4] - J[:, 1]) + (J[:, 11] - J[:, 14])
    body_up = unit_vectors(thorax - pelvis)
    body_fwd = unit_vectors(np.cross(left, body_up))
    f_loc = unit_vectors(np.einsum("fba,fb->a", R_h, body_fwd))
    u_loc = np.einsum("fba,fb->a", R_h, body_up)
    u_loc = unit_vectors(u_loc - f_loc * (u_loc @ f_loc))
    fwd_h = np.einsum("fab,b->fa", R_h, f_loc)
    up_h = np.einsum("fab,b->fa", R_h, u_loc)
    left_h = np.cross(up_h, fwd_h)
    s = leg * unit / H36M_LEG_M
    if family == "vid2pose":  # the exported joints themselves; "Head" is the nose
        J[:, 0], J[:, 7], J[:, 8] = P("Hips") * unit, P("Spine") * unit, thorax
        J[:, 9], J[:, 10] = base, P("HeadTop") * unit
        base = base - s * (0.04 * up_h + 0.10 * fwd_h)  # the head base the face points are placed from
    else:
        J = canonical_torso(J, leg * unit)
        J[:, 9] = base + s * (0.04 * up_h + 0.10 * fwd_h)
        J[:, 10] = base + s * (0.15 * up_h + 0.02 * fwd_h)
    face = np.stack([
        base + s * (0.04 * up_h + 0.10 * fwd_h),                      # nose tip
        base + s * (0.075 * up_h + 0.085 * fwd_h + 0.032 * left_h),   # left eye
        base + s * (0.075 * up_h + 0.085 * fwd_h - 0.032 * left_h),   # right eye
        base + s * (0.06 * up_h + 0.0 * fwd_h + 0.075 * left_h),      # left ear
        base + s * (0.06 * up_h + 0.0 * fwd_h - 0.075 * left_h),      # right ear
    ], 1)
    if not np.allclose(R_world, np.eye(3)):
        J = J @ R_world.T
        face = face @ R_world.T
    info = {"family": family, "unit_m": unit, "leg_m": float(leg * unit)}
    return J.astype(np.float32), face.astype(np.float32), info


def load_h36m(path: str | Path, fps: float | None = None, with_face: bool = False):
    """Any BVH/.bvh.gz or AMC file -> (joints (F, 17, 3) metres Y-up, fps, info).

    ``fps``: resample to this rate (None: keep the true rate). ``info`` holds family,
    unit, header and true fps, frame count, and with ``with_face`` the face points (F, 5, 3).
    """
    path = Path(path)
    low = path.name.lower()
    if low.endswith(".amc"):
        from vid2pose.mocap.asf_amc import read_amc

        m = read_amc(path)
        names, _, rot, pos = m.forward_kinematics()
        header_fps = m.fps
        unit = m.skeleton.units_to_m
        family = "asf"
        drop_first = 0
    else:
        from vid2pose.mocap.bvh import read_bvh

        b = read_bvh(path)
        rot, pos = b.forward_kinematics()
        names = b.names
        header_fps = b.fps
        unit = None
        family = detect_family(names)
        # cgspeed conversions start with a T-pose frame that is not part of the take
        drop_first = 1 if family in ("cgspeed_mb", "cgspeed_max") and b.num_frames > 2 else 0
    if drop_first:
        rot, pos = rot[drop_first:], pos[drop_first:]
    J, face, info = skeleton_to_h36m(names, rot, pos, family, unit)
    src_fps = true_fps(path, header_fps)
    info.update(header_fps=float(header_fps), true_fps=src_fps, frames_in=int(J.shape[0]), path=str(path))
    out_fps = src_fps
    if fps is not None and abs(fps - src_fps) > 1e-6:
        J = resample(J, src_fps, fps)
        face = resample(face, src_fps, fps)
        out_fps = float(fps)
    if with_face:
        info["face"] = face
    return J, out_fps, info


MOCAP_SUFFIXES = (".bvh", ".bvh.gz", ".amc")


def find_mocap_files(roots: list[str | Path]) -> list[Path]:
    """Every BVH/.bvh.gz/AMC file under the given files or folders (sorted, recursive)."""
    out: list[Path] = []
    for r in roots:
        r = Path(r)
        if r.is_file():
            out.append(r)
            continue
        for p in sorted(r.rglob("*")):
            if p.is_file() and p.name.lower().endswith(MOCAP_SUFFIXES):
                out.append(p)
    return out
