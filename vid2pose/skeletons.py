"""Keypoint sets and their conversion to the Human3.6M 17-joint order used by every lifter.

One table per backend skeleton. Each H36M joint is either taken directly from a
native keypoint or derived from several; the derivations follow the lineage's
official COCO-17 converter (MotionAGFormer's in-the-wild demo, spec
ssr-stf.md 2.2) so that released lifters see the input they were made for.

H36M joint   | from COCO-17 (BlazePose-33 index in brackets)
-------------|---------------------------------------------------------------
0 pelvis     | mean of hips 11, 12 [23, 24]
1 r_hip      | 12 [24]          4 l_hip      | 11 [23]
2 r_knee     | 14 [26]          5 l_knee     | 13 [25]
3 r_ankle    | 16 [28]          6 l_ankle    | 15 [27]
7 spine      | mean of shoulders and hips, x pushed away from mid(pelvis, thorax)
8 thorax     | shoulder-mid + (nose - shoulder-mid)/3, y lowered by 2/3 (eye-mid y - nose y)
9 nose       | nose 0 [0] moved a quarter of the way to the shoulder mid-point
10 head      | x: mean of eyes and ears; y: eye y + eye y - nose y
11 l_shoulder| 5 [11]           14 r_shoulder | 6 [12]
12 l_elbow   | 7 [13]           15 r_elbow    | 8 [14]
13 l_wrist   | 9 [15]           16 r_wrist    | 10 [16]

Confidences: direct joints keep their own; pelvis = mean of hips, thorax = mean of
shoulders, spine = mean of (pelvis, thorax), head = mean of eyes and ears.
"""
from __future__ import annotations

import numpy as np

H36M_JOINTS = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "nose", "head", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
)
# (parent, child) in a tree rooted at the pelvis.
H36M_BONES = (
    (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10),
    (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16),
)
H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
# Left/right swap used by mirroring (training) and flip test-time augmentation.
H36M_FLIP = (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)

H36M_LEG_M = 0.89  # thigh + shin of the H36M subjects, metres (scale reference for derived joints)
# The project's thorax: this far above the shoulders' midpoint (metres at a 0.89 m leg, scaled with the leg).
THORAX_ABOVE_SHOULDERS_M = 0.04


def canonical_torso(joints: np.ndarray, leg_m: float | np.ndarray) -> np.ndarray:
    """Set the thorax (8) and spine (7) of H36M-17 joints (..., 17, 3) by one rule for every source.

    thorax = the shoulders' midpoint + 4 cm (at a 0.89 m leg, scaled with ``leg_m``) along
    pelvis -> shoulders' midpoint; spine = the midpoint of pelvis and thorax. Why: skeletons
    place their neck base and spine joints differently (measured, per leg-normalised body:
    neck base 2.5 cm (CMU ASF) to 10 cm (anny) above the shoulders, spine joint 4 cm behind to
    4 cm in front of the pelvis-thorax line), and a lifter trained on a mixture of them is
    scored against yet another; from pixels the shoulders and hips are all anyone sees.
    ``leg_m``: the person's thigh + shin in the joints' units (a scalar or one per leading index).
    Returns a new array; the other joints are unchanged.
    """
    out = np.array(joints, dtype=np.float64 if np.asarray(joints).dtype == np.float64 else np.float32)
    pelvis = out[..., 0, :]
    mid_sh = 0.5 * (out[..., 11, :] + out[..., 14, :])
    up = mid_sh - pelvis
    up = up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
    s = np.asarray(leg_m, dtype=np.float64)[..., None] / H36M_LEG_M
    out[..., 8, :] = mid_sh + THORAX_ABOVE_SHOULDERS_M * s * up
    out[..., 7, :] = 0.5 * (pelvis + out[..., 8, :])
    return out

COCO17_JOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
COCO17_BONES = (
    (0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12),
    (11, 12), (11, 13), (13, 15), (12, 14), (14, 16),
)

BLAZEPOSE33_JOINTS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)
# The COCO-17 keypoints inside BlazePose-33, in COCO order.
BLAZEPOSE33_TO_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)

_COCO_DIRECT = {1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}


def coco17_to_h36m(kp: np.ndarray) -> np.ndarray:
    """(..., 17, 3) COCO keypoints (x, y, conf; image y down) -> (..., 17, 3) H36M joints."""
    kp = np.asarray(kp, dtype=np.float32)
    out = np.zeros(kp.shape[:-2] + (17, 3), dtype=np.float32)
    for h, c in _COCO_DIRECT.items():
        out[..., h, :] = kp[..., c, :]
    xy, conf = kp[..., :2], kp[..., 2]
    hip_mid = (xy[..., 11, :] + xy[..., 12, :]) / 2
    sho_mid = (xy[..., 5, :] + xy[..., 6, :]) / 2
    nose = xy[..., 0, :]
    eye_mid = (xy[..., 1, :] + xy[..., 2, :]) / 2

    pelvis = hip_mid
    thorax = sho_mid + (nose - sho_mid) / 3
    thorax[..., 1] -= (eye_mid[..., 1] - nose[..., 1]) * 2 / 3
    spine = (xy[..., 5, :] + xy[..., 6, :] + xy[..., 11, :] + xy[..., 12, :]) / 4
    spine[..., 0] += 2 * (spine[..., 0] - (pelvis[..., 0] + thorax[..., 0]) / 2)
    head = np.stack(
        [xy[..., (1, 2, 3, 4), 0].mean(-1), xy[..., 1, 1] + xy[..., 2, 1] - nose[..., 1]], -1
    )
    nose_adj = nose + (sho_mid - nose) / 4

    out[..., 0, :2], out[..., 7, :2], out[..., 8, :2] = pelvis, spine, thorax
    out[..., 9, :2], out[..., 10, :2] = nose_adj, head
    c_pelvis = (conf[..., 11] + conf[..., 12]) / 2
    c_thorax = (conf[..., 5] + conf[..., 6]) / 2
    out[..., 0, 2], out[..., 8, 2] = c_pelvis, c_thorax
    out[..., 7, 2] = (c_pelvis + c_thorax) / 2
    out[..., 9, 2] = conf[..., 0]
    out[..., 10, 2] = conf[..., (1, 2, 3, 4)].mean(-1)
    return out


def h36m_to_coco17(h36m: np.ndarray) -> np.ndarray:
    """(..., 17, D) H36M joints -> (..., 17, D) COCO keypoints: the 12 limb joints (the inverse of
    coco17_to_h36m's direct ones); the five face points all get the nose (H36M has no eyes or ears)."""
    h36m = np.asarray(h36m)
    out = np.repeat(h36m[..., 9:10, :], 17, axis=-2)
    for h, c in _COCO_DIRECT.items():
        out[..., c, :] = h36m[..., h, :]
    return out


def blazepose33_to_h36m(kp: np.ndarray) -> np.ndarray:
    return coco17_to_h36m(np.asarray(kp)[..., BLAZEPOSE33_TO_COCO17, :])


# MediaPipe's 3D output (pose_world_landmarks: BlazePose-33 in metres, origin at the hip centre, camera
# axes x right, y down, z away) -> H36M-17, for comparing against it. The 12 limb joints are landmarks
# themselves; the others are taken as plainly as the landmarks allow:
#   pelvis = hip centre; thorax = shoulder centre; spine = halfway between pelvis and thorax;
#   nose = the nose landmark; head (top) = ear centre plus half the shoulder-centre -> ear-centre vector.
def blazepose33_world_to_h36m(world: np.ndarray) -> np.ndarray:
    """(..., 33, 3) world landmarks -> (..., 17, 3) H36M joints (same units and axes)."""
    w = np.asarray(world, dtype=np.float64)
    out = np.zeros(w.shape[:-2] + (17, 3))
    for h, c in _COCO_DIRECT.items():
        out[..., h, :] = w[..., BLAZEPOSE33_TO_COCO17[c], :]
    pelvis = (w[..., 23, :] + w[..., 24, :]) / 2
    thorax = (w[..., 11, :] + w[..., 12, :]) / 2
    ears = (w[..., 7, :] + w[..., 8, :]) / 2
    out[..., 0, :], out[..., 8, :], out[..., 7, :] = pelvis, thorax, (pelvis + thorax) / 2
    out[..., 9, :], out[..., 10, :] = w[..., 0, :], ears + 0.5 * (ears - thorax)
    return out


def h36m_to_h36m(kp: np.ndarray) -> np.ndarray:
    return np.asarray(kp, dtype=np.float32).copy()


# name -> (keypoint names, bones for drawing, converter to H36M-17)
SKELETONS = {
    "coco17": (COCO17_JOINTS, COCO17_BONES, coco17_to_h36m),
    "blazepose33": (
        BLAZEPOSE33_JOINTS,
        tuple((BLAZEPOSE33_TO_COCO17[a], BLAZEPOSE33_TO_COCO17[b]) for a, b in COCO17_BONES),
        blazepose33_to_h36m,
    ),
    "h36m17": (H36M_JOINTS, H36M_BONES, h36m_to_h36m),
}


def to_h36m(skeleton: str, keypoints: np.ndarray) -> np.ndarray:
    return SKELETONS[skeleton][2](keypoints)
