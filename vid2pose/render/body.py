"""Pose the ``anny`` body model with BVH motion capture, and read H36M-17 truth off it.

Retargeting (``retarget_bvh``)
------------------------------
BVH joint frames are arbitrary per skeleton family (the iClone CC_Base files, for one,
bake joint orients into the channels, so their all-zero "rest" pose is not a body
pose). So the mocap rest pose is not used. Instead one *calibration frame* ``f0`` of
the clip itself ties each anny bone to the mocap joint that drives it:

1. At ``f0``, the anny bone's world rotation ``G_c(f0)`` is chosen from mocap joint
   *positions* only: torso bones take the rotation that maps anny's rest pelvis/chest
   frame (left = hip or shoulder axis, up = hips-to-shoulders) onto the mocap's;
   limb bones take that torso rotation followed by the smallest rotation ("swing") that
   points the anny bone along the mocap segment (e.g. hip -> knee).
2. The fixed offset ``X_c = M_j(f0)^T G_c(f0)`` between the mocap joint's world rotation
   ``M_j`` and the anny bone is then applied to every frame: ``G_c(f) = M_j(f) X_c``.
   So all frames copy the mocap's rotations exactly (twist included), and the only
   assumption is a natural limb twist at ``f0`` (use a calm, upright frame).
3. Anny bones without a mocap counterpart (second thigh/forearm segments, toes,
   fingers, eyes, ...) move rigidly with their parent.

The bone world orientations go to anny through its ``"world-orient"`` pose
parameterisation, in which every bone head follows its parent, so the anny skeleton
keeps its own bone lengths. The root translation is the mocap's hip-centre trajectory
scaled by the ratio of anny's leg length to the mocap's.

Coordinates: anny is Z-up in metres, facing -Y, with its left side at +X. BVH files are
taken as Y-up (``C_YUP_TO_ZUP`` converts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vid2pose.kinematics import rotation_between
from vid2pose.mocap.bvh import BvhMotion
from vid2pose.skeletons import canonical_torso

__all__ = [
    "ANNY_DRIVEN_BONES",
    "C_YUP_TO_ZUP",
    "DEFAULT_PALETTE",
    "H36M_JOINT_NAMES",
    "MOCAP_ALIASES",
    "RetargetResult",
    "anny_h36m_joints",
    "anny_region_colors",
    "head_landmark_vertices",
    "resolve_mocap_joints",
    "retarget_bvh",
    "run_anny",
]

H36M_JOINT_NAMES = [
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle", "spine", "thorax", "nose", "head_top", "left_shoulder",
    "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
]

# Mocap world (Y-up) -> anny world (Z-up): X -> x, Y -> z, Z -> -y. A proper rotation.
C_YUP_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

# Canonical joints -> names used by the BVH skeleton families in shared/data/mocap
# (cgspeed 3dsMax- and Motionbuilder-friendly, iClone CC_Base, Daz, Bandai Namco).
# The first name present in a file wins.
MOCAP_ALIASES: dict[str, tuple[str, ...]] = {
    "pelvis": ("CC_Base_Pelvis", "Hips", "hip"),
    "hip_l": ("LeftHip", "LeftUpLeg", "CC_Base_L_Thigh", "lThigh", "UpperLeg_L"),
    "knee_l": ("LeftKnee", "LeftLeg", "CC_Base_L_Calf", "lShin", "LowerLeg_L"),
    "ankle_l": ("LeftAnkle", "LeftFoot", "CC_Base_L_Foot", "lFoot", "Foot_L"),
    "toe_l": ("LeftToe", "LeftToeBase", "CC_Base_L_ToeBase", "lFoot_End", "Toes_L"),
    "hip_r": ("RightHip", "RightUpLeg", "CC_Base_R_Thigh", "rThigh", "UpperLeg_R"),
    "knee_r": ("RightKnee", "RightLeg", "CC_Base_R_Calf", "rShin", "LowerLeg_R"),
    "ankle_r": ("RightAnkle", "RightFoot", "CC_Base_R_Foot", "rFoot", "Foot_R"),
    "toe_r": ("RightToe", "RightToeBase", "CC_Base_R_ToeBase", "rFoot_End", "Toes_R"),
    "spine_low": ("lowerback", "LowerBack", "CC_Base_Waist", "abdomen", "Spine"),
    "spine_mid": ("Chest", "Spine", "CC_Base_Spine01", "abdomen", "Spine"),
    "spine_top": ("Chest2", "Spine1", "CC_Base_Spine02", "chest", "Chest"),
    "neck": ("Neck", "CC_Base_NeckTwist01", "neck"),
    "head": ("Head", "CC_Base_Head", "head"),
    "collar_l": ("LeftCollar", "LeftShoulder", "CC_Base_L_Clavicle", "lCollar", "Shoulder_L"),
    # "LeftArm" before "LeftShoulder": the Motionbuilder-friendly skeleton calls its
    # collar bone LeftShoulder, the 3dsMax-friendly one its upper arm.
    "shoulder_l": ("LeftArm", "LeftShoulder", "CC_Base_L_Upperarm", "lShldr", "UpperArm_L"),
    "elbow_l": ("LeftElbow", "LeftForeArm", "CC_Base_L_Forearm", "lForeArm", "LowerArm_L"),
    "wrist_l": ("LeftWrist", "LeftHand", "CC_Base_L_Hand", "lHand", "Hand_L"),
    "collar_r": ("RightCollar", "RightShoulder", "CC_Base_R_Clavicle", "rCollar", "Shoulder_R"),
    "shoulder_r": ("RightArm", "RightShoulder", "CC_Base_R_Upperarm", "rShldr", "UpperArm_R"),
    "elbow_r": ("RightElbow", "RightForeArm", "CC_Base_R_Forearm", "rForeArm", "LowerArm_R"),
    "wrist_r": ("RightWrist", "RightHand", "CC_Base_R_Hand", "rHand", "Hand_R"),
}

# anny bone -> (driving mocap joint, calibration). Calibration is "pelvis" or "chest"
# (match that torso frame) or a (from, to) pair of canonical joints for a limb segment
# (torso frame, then swing the bone onto the segment), or "follow:<bone>" (copy that
# already calibrated bone's rotation at f0).
ANNY_DRIVEN_BONES: dict[str, tuple[str, object]] = {
    "root": ("pelvis", "pelvis"),
    "spine05": ("spine_low", "pelvis"),
    "spine04": ("spine_low", "pelvis"),
    "spine03": ("spine_mid", "chest"),
    "spine02": ("spine_top", "chest"),
    "spine01": ("spine_top", "chest"),
    "neck01": ("neck", "chest"),
    "head": ("head", "chest"),
    "upperleg01.L": ("hip_l", ("hip_l", "knee_l")),
    "lowerleg01.L": ("knee_l", ("knee_l", "ankle_l")),
    "foot.L": ("ankle_l", ("ankle_l", "toe_l")),
    "upperleg01.R": ("hip_r", ("hip_r", "knee_r")),
    "lowerleg01.R": ("knee_r", ("knee_r", "ankle_r")),
    "foot.R": ("ankle_r", ("ankle_r", "toe_r")),
    "clavicle.L": ("collar_l", "chest"),
    "upperarm01.L": ("shoulder_l", ("shoulder_l", "elbow_l")),
    "lowerarm01.L": ("elbow_l", ("elbow_l", "wrist_l")),
    "wrist.L": ("wrist_l", "follow:lowerarm01.L"),
    "clavicle.R": ("collar_r", "chest"),
    "upperarm01.R": ("shoulder_r", ("shoulder_r", "elbow_r")),
    "lowerarm01.R": ("elbow_r", ("elbow_r", "wrist_r")),
    "wrist.R": ("wrist_r", "follow:lowerarm01.R"),
}

# The same landmarks on the anny skeleton (bone heads), for the torso frames and the
# leg-length scale.
_ANNY_LANDMARKS = {
    "hip_l": "upperleg01.L", "hip_r": "upperleg01.R",
    "knee_l": "lowerleg01.L", "knee_r": "lowerleg01.R",
    "ankle_l": "foot.L", "ankle_r": "foot.R",
    "toe_l": "toe3-1.L", "toe_r": "toe3-1.R",
    "shoulder_l": "upperarm01.L", "shoulder_r": "upperarm01.R",
    "elbow_l": "lowerarm01.L", "elbow_r": "lowerarm01.R",
    "wrist_l": "wrist.L", "wrist_r": "wrist.R",
}


def resolve_mocap_joints(motion: BvhMotion) -> dict[str, int]:
    """Map canonical joint names to joint indices of ``motion`` (by ``MOCAP_ALIASES``)."""
    out: dict[str, int] = {}
    names = {n: i for i, n in enumerate(motion.names)}
    for canon, aliases in MOCAP_ALIASES.items():
        for a in aliases:
            if a in names:
                out[canon] = names[a]
                break
        else:
            raise KeyError(f"mocap skeleton has no joint for {canon!r} (tried {aliases})")
    return out


def _torso_frame(hip_l, hip_r, sh_l, sh_r, kind: str) -> np.ndarray:
    """Columns (left, back, up) of the pelvis or chest frame in anny's axis convention
    (anny's own rest frame is close to identity)."""
    up = 0.5 * (sh_l + sh_r) - 0.5 * (hip_l + hip_r)
    up = up / np.linalg.norm(up, axis=-1, keepdims=True)
    left = (hip_l - hip_r) if kind == "pelvis" else (sh_l - sh_r)
    left = left - np.sum(left * up, axis=-1, keepdims=True) * up
    left = left / np.linalg.norm(left, axis=-1, keepdims=True)
    back = np.cross(up, left)
    return np.stack([left, back, up], axis=-1)


@dataclass
class RetargetResult:
    """Anny pose for every frame, ready for ``run_anny``.

    ``orientations`` (F, B, 3, 3) are bone world orientations (anny's ``D_c`` in the
    "world-orient" parameterisation) and ``root_position`` (F, 3) the root bone's head.
    ``scale`` converts mocap file units to anny metres (root trajectory only).
    """

    orientations: np.ndarray
    root_position: np.ndarray
    scale: float
    calibration_frame: int

    def pose_parameters(self) -> np.ndarray:
        F, B = self.orientations.shape[:2]
        P = np.zeros((F, B, 4, 4))
        P[..., :3, :3] = self.orientations
        P[..., 3, 3] = 1.0
        P[:, 0, :3, 3] = self.root_position
        return P


def retarget_bvh(
    motion: BvhMotion,
    bone_labels: list[str],
    bone_parents: list[int] | np.ndarray,
    rest_bone_poses: np.ndarray,
    frames: np.ndarray | None = None,
    calibration_frame: int = 0,
    up_conversion: np.ndarray = C_YUP_TO_ZUP,
) -> RetargetResult:
    """Retarget ``motion`` onto an anny rig (see the module docstring).

    Args:
        bone_labels, bone_parents: the anny rig (``model.bone_labels``/``bone_parents``).
        rest_bone_poses: (B, 4, 4) anny rest bone poses for the chosen phenotype.
        frames: mocap frame indices to use (default: all).
        calibration_frame: index *into frames* of the calibration frame ``f0``.
    """
    frames = np.arange(motion.num_frames) if frames is None else np.asarray(frames)
    idx = resolve_mocap_joints(motion)
    world_rot, world_pos = motion.forward_kinematics(frames)
    C = np.asarray(up_conversion, dtype=np.float64)
    M = C @ world_rot  # joint frame -> anny world axes, (F, J, 3, 3)
    P = world_pos @ C.T  # positions in anny axes, file units
    F = len(frames)
    f0 = int(calibration_frame)

    labels = list(bone_labels)
    parents = np.asarray(bone_parents, dtype=np.int64)
    rest_R = np.asarray(rest_bone_poses)[:, :3, :3]
    rest_h = np.asarray(rest_bone_poses)[:, :3, 3]
    bidx = {name: i for i, name in enumerate(labels)}

    def mp(canon):  # mocap position of a canonical joint at f0
        return P[f0, idx[canon]]

    def ap(canon):  # anny rest position of a canonical joint
        return rest_h[bidx[_ANNY_LANDMARKS[canon]]]

    frames_m = {
        k: _torso_frame(mp("hip_l"), mp("hip_r"), mp("shoulder_l"), mp("shoulder_r"), k)
        for k in ("pelvis", "chest")
    }
    frames_a = {
        k: _torso_frame(ap("hip_l"), ap("hip_r"), ap("shoulder_l"), ap("shoulder_r"), k)
        for k in ("pelvis", "chest")
    }
    torso_rot = {k: frames_m[k] @ frames_a[k].T for k in frames_m}

    G0: dict[int, np.ndarray] = {}
    for name, (src, calib) in ANNY_DRIVEN_BONES.items():
        if name not in bidx:
            continue
        b = bidx[name]
        if isinstance(calib, str) and calib.startswith("follow:"):
            G0[b] = G0[bidx[calib.split(":", 1)[1]]]
        elif isinstance(calib, str):
            G0[b] = torso_rot[calib]
        else:
            a_from, a_to = calib
            base = torso_rot["pelvis" if a_from.startswith(("hip", "knee", "ankle")) else "chest"]
            seg = P[f0, idx[a_to]] - P[f0, idx[a_from]]
            rest_seg = ap(a_to) - ap(a_from)  # the same segment on anny's rest skeleton
            G0[b] = rotation_between(base @ rest_seg, seg) @ base

    G = np.empty((F, len(labels), 3, 3))
    # Bones are in topological order (parents first), as anny stores them.
    for b in range(len(labels)):
        name = labels[b]
        if b in G0:
            j = idx[ANNY_DRIVEN_BONES[name][0]]
            X = M[f0, j].T @ G0[b]
            G[:, b] = M[:, j] @ X
        elif parents[b] >= 0:
            G[:, b] = G[:, parents[b]]
        else:
            G[:, b] = np.eye(3)

    # Scale: anny leg length over mocap leg length (segments are rigid in both).
    def leg(pos_of):
        return sum(
            np.linalg.norm(pos_of(f"{a}_{s}") - pos_of(f"{b}_{s}"))
            for s in ("l", "r")
            for a, b in (("hip", "knee"), ("knee", "ankle"))
        )

    scale = leg(ap) / leg(mp)
    hips_mid_m = 0.5 * (P[:, idx["hip_l"]] + P[:, idx["hip_r"]]) * scale
    hips_mid_a = 0.5 * (ap("hip_l") + ap("hip_r"))
    root = bidx[labels[0]]
    root_pos = hips_mid_m + G[:, root] @ (rest_h[root] - hips_mid_a)

    orient = G @ rest_R[None]  # D_c = G_c R_c
    return RetargetResult(
        orientations=orient, root_position=root_pos, scale=float(scale), calibration_frame=f0
    )


def run_anny(model, pose_parameters: np.ndarray, phenotype: dict | None = None, batch: int = 16):
    """Pose anny for every frame. Returns (vertices (F, V, 3), bone_poses (F, B, 4, 4)) as
    float64 numpy arrays, in anny's world (Z-up, metres)."""
    import torch

    verts, poses = [], []
    with torch.no_grad():
        for s in range(0, len(pose_parameters), batch):
            p = torch.as_tensor(pose_parameters[s : s + batch], dtype=model.template_vertices.dtype)
            out = model(
                pose_parameters=p,
                phenotype_kwargs=phenotype or {},
                pose_parameterization="world-orient",
            )
            verts.append(out["vertices"].double().numpy())
            poses.append(out["bone_poses"].double().numpy())
    return np.concatenate(verts), np.concatenate(poses)


def head_landmark_vertices(rest_vertices: np.ndarray, vertex_bone: np.ndarray, head_bone: int,
                           forward: np.ndarray = np.array([0.0, -1.0, 0.0]),
                           up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> tuple[int, int]:
    """Vertex indices of the nose tip and the head top on the rest mesh.

    Among the vertices whose dominant bone is ``head_bone``: the head top is the highest
    one near the sagittal plane; the nose tip is the most forward one near the sagittal
    plane, in the face's vertical band (between the eyes and the mouth), so it cannot
    pick the chin or the brow.
    """
    v = np.asarray(rest_vertices)
    cand = np.nonzero(vertex_bone == head_bone)[0]
    hv = v[cand]
    mid = np.abs(hv[:, 0]) < 0.01  # sagittal band, |x| < 1 cm
    height = hv @ up
    top = cand[mid][np.argmax(height[mid])]
    lo, hi = np.quantile(height, [0.35, 0.7])  # face band, excludes chin and brow
    band = mid & (height > lo) & (height < hi)
    nose = cand[band][np.argmax(hv[band] @ forward)]
    return int(top), int(nose)


def anny_h36m_joints(
    bone_poses: np.ndarray,
    vertices: np.ndarray,
    bone_labels: list[str],
    nose_vertex: int,
    head_top_vertex: int,
) -> np.ndarray:
    """Human3.6M-17 joints (F, 17, 3) read off the posed anny body.

    Every joint is a posed bone head (the bone's pivot, i.e. the joint centre anny
    rotates about; ``bone_poses[..., :3, 3]``) or a posed mesh vertex:

    ====  ==============  =====================================================
     0    pelvis          midpoint of the two hip joints (heads of upperleg01.L/R)
     1/4  right/left hip  head of upperleg01.R / upperleg01.L
     2/5  knee            head of lowerleg01.R / .L
     3/6  ankle           head of foot.R / .L
     7    spine           midpoint of pelvis and thorax
     8    thorax          the shoulders' midpoint + 4 cm (at a 0.89 m leg, scaled with
                          the body's leg) along pelvis -> shoulders' midpoint
     9    nose            mesh vertex at the nose tip (``head_landmark_vertices``)
     10   head top        mesh vertex at the top of the skull
     11   left shoulder   head of upperarm01.L (glenohumeral joint)
     12   left elbow      head of lowerarm01.L
     13   left wrist      head of wrist.L
     14-16 right arm       same bones, .R
    ====  ==============  =====================================================

    Thorax and spine follow the rule every source shares (``vid2pose.skeletons.canonical_torso``,
    also applied to the training motion capture): anny's own neck base (neck01) sits 10 cm
    above its shoulders, mocap rigs' 2.5-6 cm. Since the mesh is skinned from these same bone
    poses, the joints are exact for the rendered body.
    """
    b = {n: i for i, n in enumerate(bone_labels)}
    heads = np.asarray(bone_poses)[..., :3, 3]

    def H(name):
        return heads[:, b[name]]

    out = np.stack(
        [
            0.5 * (H("upperleg01.R") + H("upperleg01.L")),
            H("upperleg01.R"), H("lowerleg01.R"), H("foot.R"),
            H("upperleg01.L"), H("lowerleg01.L"), H("foot.L"),
            np.zeros_like(heads[:, 0]), np.zeros_like(heads[:, 0]),  # spine, thorax: canonical_torso below
            np.asarray(vertices)[:, nose_vertex], np.asarray(vertices)[:, head_top_vertex],
            H("upperarm01.L"), H("lowerarm01.L"), H("wrist.L"),
            H("upperarm01.R"), H("lowerarm01.R"), H("wrist.R"),
        ],
        axis=1,
    )
    leg = 0.5 * sum(np.linalg.norm(out[:, a] - out[:, b], axis=-1) for a, b in ((1, 2), (2, 3), (4, 5), (5, 6)))
    return canonical_torso(out, leg)


# Clothing-like palette (BGR): a plain outfit with good contrast against a light
# background, so 2D detectors see clear limb boundaries.
DEFAULT_PALETTE: dict[str, tuple[int, int, int]] = {
    "skin": (120, 160, 215),
    "hair": (35, 45, 60),
    "eyes": (40, 35, 30),
    "shirt": (50, 70, 190),      # red-ish T-shirt
    "trousers": (110, 70, 40),   # dark blue jeans
    "shoes": (40, 40, 45),
}


def anny_region_colors(
    rest_vertices: np.ndarray,
    vertex_bone: np.ndarray,
    bone_labels: list[str],
    rest_bone_heads: np.ndarray,
    palette: dict[str, tuple[int, int, int]] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Per-vertex colours (V, 3) for a simple outfit, from each vertex's dominant bone
    and its rest-pose height: T-shirt (torso, upper arms), jeans (hips and legs), shoes
    (feet, and the leg below the ankle), skin (head, neck, forearms, hands) with hair
    above a slanted hairline, and dark eyes. Returns colours and the region names."""
    pal = dict(DEFAULT_PALETTE, **(palette or {}))
    v = np.asarray(rest_vertices)
    b = {n: i for i, n in enumerate(bone_labels)}
    heads = np.asarray(rest_bone_heads)
    names = np.array(bone_labels, dtype=object)[np.asarray(vertex_bone)]
    z = v[:, 2]
    region = np.full(len(v), "skin", dtype=object)

    torso = np.array([n.startswith(("spine", "clavicle", "shoulder", "upperarm", "root"))
                      for n in names])
    legs = np.array([n.startswith(("pelvis", "upperleg", "lowerleg")) for n in names])
    feet = np.array([n.startswith(("foot", "toe")) for n in names])
    belt = heads[b["spine04"], 2]  # trousers reach up to about the navel
    region[torso] = "shirt"
    region[(torso | legs) & (z < belt)] = "trousers"
    region[legs] = "trousers"
    ankle = 0.5 * (heads[b["foot.L"], 2] + heads[b["foot.R"], 2])
    region[feet | ((legs | feet) & (z < ankle + 0.02))] = "shoes"

    head = names == "head"
    eye = 0.5 * (heads[b["eye.L"]] + heads[b["eye.R"]])
    # Hairline: 3.5 cm above the eyes at the forehead, sloping down to the nape behind
    # (+y is backwards in anny).
    hairline = eye[2] + 0.035 - 0.75 * (v[:, 1] - eye[1])
    region[head & (z > hairline)] = "hair"
    region[np.array([n.startswith("eye") for n in names])] = "eyes"

    colors = np.array([pal[r] for r in region], dtype=np.float64)
    return colors, list(region)
