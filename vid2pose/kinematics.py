"""Joint positions <-> joint rotations for the Human3.6M 17-joint skeleton (numpy only).

Three steps, each usable alone (the BVH writer uses all three; a body mesh can reuse them):

* :func:`fit_skeleton` builds the rest pose from a clip: a T-pose whose bone lengths are the
  clip's median lengths, left and right averaged.
* :func:`solve_rotations` turns per-frame joint positions into per-frame *local* joint
  rotations (inverse kinematics) plus the root position.
* :func:`forward_kinematics` turns rotations back into positions.

Conventions
-----------
The rest pose lives in a right-handed frame with **Y up**, the person **facing +Z** and the
person's **left on +X** (the BVH convention). Arms are horizontal along +-X, legs hang straight
down, the spine points up. ``offsets[j]`` is joint ``j``'s position relative to its parent in
the rest pose; a joint's rotation acts on its children's offsets, so, exactly as in BVH::

    G[j] = G[parent] @ R[j]             (world rotation; G = identity in the rest pose)
    p[j] = p[parent] + G[parent] @ offsets[j]

Rotation matrices act on column vectors. The input positions may be in any right-handed frame
(the rotation of the root absorbs it); the writer converts camera space to Y-up first.

How each joint's world rotation is found (``G = B(current) @ B(rest).T`` where ``B`` is an
orthonormal frame built the same way from the current and from the rest positions):

* pelvis and thorax (three children each, rigid in BVH): least-squares rotation (Kabsch) of
  their rest child offsets onto the current ones;
* spine: its bone, twisted by the average left-right direction of hips and shoulders;
* upper and lower limbs: the bone, twisted by the normal of the limb's plane (thigh + shin,
  upper arm + forearm). A straight limb has no plane: then the previous frame's twist, carried
  along with the parent (pelvis or thorax), is kept, blended smoothly with the plane normal
  between ``straight_deg`` and ``bent_deg`` of bend. So the twist never flips on a straight limb;
* head (nose -> head top): the shortest rotation from its rest direction relative to the
  thorax (the 17 joints carry no information about the head's twist);
* ankles, wrists and head top: no child, no information: identity local rotation.

Bones are rigid in this model, so positions come back exactly only when the input's bones have
constant lengths and each joint's children keep their shape (pelvis: hips + spine; thorax:
shoulders + nose). Real 3D poses come back within their bone-length noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vid2pose.skeletons import H36M_PARENTS

__all__ = [
    "JOINT_NAMES",
    "Skeleton",
    "fit_skeleton",
    "median_bone_lengths",
    "with_bone_lengths",
    "solve_rotations",
    "forward_kinematics",
    "world_rotations",
    "euler_from_matrices",
    "matrices_from_euler",
    "quaternions_from_matrices",
    "continuous_quaternions",
]

# Conventional (Mixamo/CMU-like) names, in the Human3.6M-17 order. H36M "thorax" sits at the
# base of the neck (Neck), "nose" at head level (Head: its bone runs to the top of the head) and
# "head" is the top of the head (HeadTop).
JOINT_NAMES = (
    "Hips", "RightUpLeg", "RightLeg", "RightFoot", "LeftUpLeg", "LeftLeg", "LeftFoot",
    "Spine", "Neck", "Head", "HeadTop", "LeftArm", "LeftForeArm", "LeftHand",
    "RightArm", "RightForeArm", "RightHand",
)

# H36M indices used below.
PELVIS, R_HIP, R_KNEE, R_ANKLE, L_HIP, L_KNEE, L_ANKLE = 0, 1, 2, 3, 4, 5, 6
SPINE, THORAX, NOSE, HEAD = 7, 8, 9, 10
L_SHOULDER, L_ELBOW, L_WRIST, R_SHOULDER, R_ELBOW, R_WRIST = 11, 12, 13, 14, 15, 16

_X = np.array([1.0, 0.0, 0.0])
_Y = np.array([0.0, 1.0, 0.0])

# Limbs: (upper joint, middle joint, end joint, hinge axis in the rest pose). The hinge axis is
# the direction of cross(upper bone, lower bone) when the limb bends the natural way in the
# T-pose: knees bend backwards (-Z) -> +X for both legs; elbows bend forwards (+Z) -> -Y for the
# left arm (along +X), +Y for the right arm (along -X). It fixes what "zero twist" means.
_LIMBS = (
    (R_HIP, R_KNEE, R_ANKLE, _X),
    (L_HIP, L_KNEE, L_ANKLE, _X),
    (L_SHOULDER, L_ELBOW, L_WRIST, -_Y),
    (R_SHOULDER, R_ELBOW, R_WRIST, _Y),
)
_EPS = 1e-9


@dataclass(frozen=True)
class Skeleton:
    """Rest pose of a tree skeleton.

    Attributes:
        offsets: (J, 3) each joint's rest position relative to its parent (row 0, the root, is
            zero), in the Y-up, facing +Z frame, in the units of the joints it was fitted to.
        parents: parent index per joint, -1 for the root; parents come before children.
        names: joint names.
    """

    offsets: np.ndarray
    parents: tuple[int, ...]
    names: tuple[str, ...]

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    def children(self, j: int) -> list[int]:
        return [c for c, p in enumerate(self.parents) if p == j]

    def rest_positions(self) -> np.ndarray:
        """(J, 3) joint positions of the rest pose, root at the origin."""
        pos = np.zeros((self.num_joints, 3))
        for j, p in enumerate(self.parents):
            if p >= 0:
                pos[j] = pos[p] + self.offsets[j]
        return pos

    def bone_lengths(self) -> np.ndarray:
        """(J,) length of the bone from each joint's parent to the joint (0 for the root)."""
        return np.linalg.norm(self.offsets, axis=-1)


# --------------------------------------------------------------------------------------------
# small vector helpers (all broadcast over leading axes)


def unit_vectors(v: np.ndarray) -> np.ndarray:
    """``v`` (..., 3) scaled to unit length (a zero vector stays zero)."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, _EPS)


def _frame(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Orthonormal frame (..., 3, 3), columns [u, v', u x v'] with v' = v made orthogonal to u."""
    u = unit_vectors(u)
    v = unit_vectors(v - np.sum(v * u, axis=-1, keepdims=True) * u)
    return np.stack([u, v, np.cross(u, v)], axis=-1)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation(s) (..., 3, 3) turning direction ``a`` onto direction ``b`` (..., 3).

    The one place the project builds it (skeleton fitting, the mocap reader's levelling, posing
    the render body). Opposite directions have no single smallest rotation: they get the half
    turn about an axis perpendicular to ``a``, so the result is always a proper rotation.
    """
    a, b = np.broadcast_arrays(unit_vectors(a), unit_vectors(b))
    axis = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    k = np.zeros(axis.shape + (3,))
    k[..., 0, 1], k[..., 0, 2] = -axis[..., 2], axis[..., 1]
    k[..., 1, 0], k[..., 1, 2] = axis[..., 2], -axis[..., 0]
    k[..., 2, 0], k[..., 2, 1] = -axis[..., 1], axis[..., 0]
    # Rodrigues with sin/(1 - cos) folded in: R = I + K + K^2 / (1 + c).
    rot = np.eye(3) + k + (k @ k) / np.maximum(1.0 + c, 1e-9)[..., None, None]
    opposite = 1.0 + c < 1e-9
    if np.any(opposite):
        # half turn about n, a unit vector perpendicular to a: R = 2 n n^T - I
        ao = a[opposite]
        helper = np.where(np.abs(ao[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
        n = unit_vectors(np.cross(ao, helper))
        rot[opposite] = 2.0 * n[:, :, None] * n[:, None, :] - np.eye(3)
    return rot


def _kabsch(rest: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Rotations (F, 3, 3) best mapping rest vectors (n, 3) onto current vectors (F, n, 3)."""
    h = np.einsum("ni,fnj->fij", rest, current)
    u, _, vt = np.linalg.svd(h)
    v = np.swapaxes(vt, -1, -2)
    d = np.sign(np.linalg.det(v @ np.swapaxes(u, -1, -2)))
    d[d == 0] = 1.0
    fix = np.ones(h.shape[:-1])
    fix[..., 2] = d  # a reflection is never a pose
    return (v * fix[..., None, :]) @ np.swapaxes(u, -1, -2)


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _median_vector(v: np.ndarray) -> np.ndarray:
    # Component-wise median of per-frame vectors (F, 3): robust to a few bad frames.
    return np.median(v, axis=0)


def _in_frame(frame: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Coordinates (F, 3) of vectors v (F, 3) in per-frame orthonormal frames (F, 3, 3)."""
    return np.einsum("fab,fa->fb", frame, v)


def _mirror_pair(left: np.ndarray, right: np.ndarray, length: float) -> tuple[np.ndarray, np.ndarray]:
    """Average a left/right pair of rest offsets across the sagittal plane (x -> -x)."""
    avg = 0.5 * (left + right * np.array([-1.0, 1.0, 1.0]))
    avg = unit_vectors(avg) * length
    return avg, avg * np.array([-1.0, 1.0, 1.0])


# --------------------------------------------------------------------------------------------
# rest pose


def _check_joints(joints: np.ndarray) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (17, 3):
        raise ValueError(f"joints must have shape (frames, 17, 3), got {joints.shape}")
    if joints.shape[0] == 0:
        raise ValueError("joints has no frames")
    if not np.all(np.isfinite(joints)):
        raise ValueError("joints contain NaN or infinite values (interpolate missing frames first)")
    return joints


def _pelvis_frame(p: np.ndarray) -> np.ndarray:
    # Built only from the pelvis's own children (spine, hips), so it moves rigidly with them:
    # y = up the spine, x = towards the left hip, z = x cross y = forward.
    y = unit_vectors(p[:, SPINE] - p[:, PELVIS])
    x = p[:, L_HIP] - p[:, R_HIP]
    x = unit_vectors(x - np.sum(x * y, axis=-1, keepdims=True) * y)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def _thorax_frame(p: np.ndarray) -> np.ndarray:
    # Built only from the thorax's own children (shoulders, nose): x = left, y = up, z = forward.
    return _frame(p[:, L_SHOULDER] - p[:, R_SHOULDER], p[:, NOSE] - p[:, THORAX])


_LR_BONES = ((R_HIP, L_HIP), (R_KNEE, L_KNEE), (R_ANKLE, L_ANKLE),
             (L_SHOULDER, R_SHOULDER), (L_ELBOW, R_ELBOW), (L_WRIST, R_WRIST))


def median_bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(17,) the length of each joint's bone (from its parent; 0 for the root): its median over the
    frames of ``joints`` (F, 17, 3), left and right averaged (one body has one length per bone)."""
    parents = np.array(H36M_PARENTS[1:])
    length = np.zeros(17)
    length[1:] = np.median(np.linalg.norm(joints[:, 1:] - joints[:, parents], axis=-1), axis=0)
    for a, b in _LR_BONES:
        length[a] = length[b] = 0.5 * (length[a] + length[b])
    return length


def with_bone_lengths(joints: np.ndarray, length: np.ndarray) -> np.ndarray:
    """``joints`` (F, 17, 3) rebuilt from the root outwards, each bone along its own direction in
    each frame but ``length`` (17,) long: the network's per-frame pose on a body whose bones do not
    stretch from frame to frame. A bone of zero length in a frame (no direction) keeps its offset."""
    out = np.array(joints, dtype=np.float64, copy=True)
    for j, parent in enumerate(H36M_PARENTS):
        if parent < 0:
            continue
        bone = joints[:, j] - joints[:, parent]
        n = np.linalg.norm(bone, axis=-1, keepdims=True)
        out[:, j] = out[:, parent] + np.where(n > _EPS, bone * (length[j] / np.maximum(n, _EPS)), bone)
    return out.astype(np.asarray(joints).dtype, copy=False)


def fit_skeleton(joints: np.ndarray, valid: np.ndarray | None = None) -> Skeleton:
    """Rest T-pose for a clip of H36M-17 joints.

    Args:
        joints: (F, 17, 3) positions in any right-handed frame and any unit.
        valid: optional (F,) bool mask of the frames to measure (e.g. not interpolated ones);
            all frames when None or when no frame is valid.

    Bone lengths are the medians over the frames, left and right averaged. Limbs are laid out
    as a T-pose (legs down -Y, arms along +-X, spine up +Y). The shapes of the pelvis (hips and
    spine around it) and of the thorax (shoulders and neck), and the head's direction, are the
    clip's median shapes made left-right symmetric, so the rest pose looks like the person.
    """
    joints = _check_joints(joints)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool).reshape(-1)
        if valid.shape[0] != joints.shape[0]:
            raise ValueError("valid must have one entry per frame")
        if valid.any():
            joints = joints[valid]
    p = joints
    parents = H36M_PARENTS
    length = median_bone_lengths(p)

    off = np.zeros((17, 3))
    thigh, shin = length[R_KNEE], length[R_ANKLE]
    upper, fore = length[L_ELBOW], length[L_WRIST]
    off[R_KNEE] = off[L_KNEE] = -_Y * thigh
    off[R_ANKLE] = off[L_ANKLE] = -_Y * shin
    off[L_ELBOW], off[R_ELBOW] = _X * upper, -_X * upper
    off[L_WRIST], off[R_WRIST] = _X * fore, -_X * fore

    # Pelvis: spine straight up; hips at their median place in the pelvis frame, mirrored.
    pf = _pelvis_frame(p)
    off[SPINE] = _Y * length[SPINE]
    off[L_HIP], off[R_HIP] = _mirror_pair(
        _median_vector(_in_frame(pf, p[:, L_HIP] - p[:, PELVIS])),
        _median_vector(_in_frame(pf, p[:, R_HIP] - p[:, PELVIS])),
        length[L_HIP],
    )
    off[THORAX] = _Y * length[THORAX]

    # Thorax: the shape of shoulders + nose in the thorax's own frame, then tilted about X so
    # that, on average, the spine bone below it points straight up as it does in the rest pose.
    yz = np.array([0.0, 1.0, 1.0])  # drops x: makes a median direction left-right symmetric
    tf = _thorax_frame(p)
    spine_dir = _median_vector(_in_frame(tf, unit_vectors(p[:, THORAX] - p[:, SPINE])))
    tilt = rotation_between(spine_dir * yz, _Y)
    nose = _median_vector(_in_frame(tf, p[:, NOSE] - p[:, THORAX])) * yz
    off[NOSE] = tilt @ (unit_vectors(nose) * length[NOSE])
    ls, rs = _mirror_pair(
        _median_vector(_in_frame(tf, p[:, L_SHOULDER] - p[:, THORAX])),
        _median_vector(_in_frame(tf, p[:, R_SHOULDER] - p[:, THORAX])),
        length[L_SHOULDER],
    )
    off[L_SHOULDER], off[R_SHOULDER] = tilt @ ls, tilt @ rs

    # Head top relative to the nose, in the thorax's frame as the rest pose sees it (tf @ tilt.T).
    head = _median_vector(_in_frame(tf @ tilt.T, p[:, HEAD] - p[:, NOSE])) * yz
    off[HEAD] = unit_vectors(head) * length[HEAD]
    return Skeleton(offsets=off, parents=tuple(parents), names=JOINT_NAMES)


# --------------------------------------------------------------------------------------------
# inverse kinematics


def _rest_dir(skeleton: Skeleton, child: int) -> np.ndarray:
    return unit_vectors(skeleton.offsets[child])


def _limb_hinges(
    p: np.ndarray, parent_rot: np.ndarray, upper_dir0: np.ndarray, hinge0: np.ndarray,
    j0: int, j1: int, j2: int, straight: float, bent: float,
) -> np.ndarray:
    """World hinge axis (F, 3) of one limb: the limb plane's normal, or the carried-over twist.

    parent_rot: (F, 3, 3) world rotation of the limb's parent (pelvis or thorax).
    """
    upper = p[:, j1] - p[:, j0]
    lower = p[:, j2] - p[:, j1]
    normal = np.cross(upper, lower)
    sin_bend = np.linalg.norm(normal, axis=-1) / np.maximum(
        np.linalg.norm(upper, axis=-1) * np.linalg.norm(lower, axis=-1), _EPS
    )
    # Folded limbs (bend > 90 deg) are well defined too: only the sine being small matters,
    # and a limb folded to ~180 deg is not a human pose.
    w = _smoothstep(sin_bend, np.sin(np.deg2rad(straight)), np.sin(np.deg2rad(bent)))
    hinge = unit_vectors(normal)
    u = unit_vectors(upper)
    for t in np.flatnonzero(w < 1.0):  # only near-straight frames need the previous frame
        if t == 0:
            # No history: zero twist relative to the parent (swing the rest hinge along).
            local_dir = parent_rot[0].T @ u[0]
            ref = parent_rot[0] @ (rotation_between(upper_dir0, local_dir) @ hinge0)
        else:
            # Keep the previous twist relative to the parent, so a straight arm turns with the
            # body instead of staying fixed in the world.
            ref = parent_rot[t] @ (parent_rot[t - 1].T @ hinge[t - 1])
        ref = unit_vectors(ref - np.dot(ref, u[t]) * u[t])
        mix = w[t] * hinge[t] + (1.0 - w[t]) * ref
        n = np.linalg.norm(mix)
        hinge[t] = mix / n if n > 1e-6 else ref
    return hinge


def world_rotations(
    joints: np.ndarray, skeleton: Skeleton, *, straight_deg: float = 10.0, bent_deg: float = 30.0
) -> np.ndarray:
    """World rotation (F, 17, 3, 3) of every joint (identity in the rest pose); see module doc."""
    p = _check_joints(joints)
    n_frames = p.shape[0]
    off = skeleton.offsets
    g = np.empty((n_frames, 17, 3, 3))

    g[:, PELVIS] = _kabsch(off[[R_HIP, L_HIP, SPINE]], p[:, [R_HIP, L_HIP, SPINE]] - p[:, [PELVIS]])
    g[:, THORAX] = _kabsch(
        off[[NOSE, L_SHOULDER, R_SHOULDER]], p[:, [NOSE, L_SHOULDER, R_SHOULDER]] - p[:, [THORAX]]
    )
    lateral = unit_vectors(p[:, L_SHOULDER] - p[:, R_SHOULDER]) + unit_vectors(p[:, L_HIP] - p[:, R_HIP])
    g[:, SPINE] = _frame(p[:, THORAX] - p[:, SPINE], lateral) @ _frame(_rest_dir(skeleton, THORAX), _X).T

    for j0, j1, j2, hinge0 in _LIMBS:
        parent = skeleton.parents[j0]
        up0, low0 = _rest_dir(skeleton, j1), _rest_dir(skeleton, j2)
        hinge = _limb_hinges(p, g[:, parent], up0, hinge0, j0, j1, j2, straight_deg, bent_deg)
        # Upper and lower bone share the hinge, so the middle joint turns about it (a hinge).
        g[:, j0] = _frame(p[:, j1] - p[:, j0], hinge) @ _frame(up0, hinge0).T
        g[:, j1] = _frame(p[:, j2] - p[:, j1], hinge) @ _frame(low0, hinge0).T
        g[:, j2] = g[:, j1]

    head_local = _in_frame(g[:, THORAX], p[:, HEAD] - p[:, NOSE])
    g[:, NOSE] = g[:, THORAX] @ rotation_between(_rest_dir(skeleton, HEAD), head_local)
    g[:, HEAD] = g[:, NOSE]
    return g


def solve_rotations(
    joints: np.ndarray, skeleton: Skeleton, *, straight_deg: float = 10.0, bent_deg: float = 30.0
) -> tuple[np.ndarray, np.ndarray]:
    """Local joint rotations (F, 17, 3, 3) and root positions (F, 3) for joint positions.

    ``rotations[:, 0]`` is the root's world rotation; the others are relative to the parent.
    ``straight_deg``/``bent_deg``: below the first bend angle a limb's twist comes from the
    previous frame, above the second from the limb's plane, blended in between.
    """
    g = world_rotations(joints, skeleton, straight_deg=straight_deg, bent_deg=bent_deg)
    local = np.empty_like(g)
    for j, par in enumerate(skeleton.parents):
        local[:, j] = g[:, j] if par < 0 else np.swapaxes(g[:, par], -1, -2) @ g[:, j]
    root = np.asarray(joints, dtype=np.float64)[:, PELVIS].copy()
    return local, root


def forward_kinematics(skeleton: Skeleton, rotations: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Joint positions (F, J, 3) from local rotations (F, J, 3, 3) and root positions (F, 3)."""
    rotations = np.asarray(rotations, dtype=np.float64)
    root = np.asarray(root, dtype=np.float64)
    n_frames = rotations.shape[0]
    g = np.empty_like(rotations)
    pos = np.empty((n_frames, skeleton.num_joints, 3))
    for j, par in enumerate(skeleton.parents):  # parents come first: one pass
        if par < 0:
            g[:, j] = rotations[:, j]
            pos[:, j] = root
        else:
            g[:, j] = g[:, par] @ rotations[:, j]
            pos[:, j] = pos[:, par] + g[:, par] @ skeleton.offsets[j]
    return pos


# --------------------------------------------------------------------------------------------
# rotation representations

_AXIS = {"x": 0, "y": 1, "z": 2}


def _axis_matrix(angle: np.ndarray, axis: int) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros(np.shape(angle) + (3, 3))
    a, b = (axis + 1) % 3, (axis + 2) % 3
    m[..., axis, axis] = 1.0
    m[..., a, a], m[..., b, b] = c, c
    m[..., b, a], m[..., a, b] = s, -s
    return m


def _parse_order(order: str) -> tuple[int, int, int]:
    axes = tuple(_AXIS[c] for c in order.lower())
    if len(axes) != 3 or len(set(axes)) != 3:
        raise ValueError(f"rotation order must name x, y and z once each, got {order!r}")
    return axes  # type: ignore[return-value]


def matrices_from_euler(degrees: np.ndarray, order: str = "ZXY") -> np.ndarray:
    """Rotation matrices for intrinsic Euler angles in degrees, BVH style.

    ``order`` lists the axes as the BVH CHANNELS do; ``degrees[..., k]`` is the angle about
    ``order[k]`` and the matrix is ``R_order[0] @ R_order[1] @ R_order[2]``.
    """
    i, j, k = _parse_order(order)
    a = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return _axis_matrix(a[..., 0], i) @ _axis_matrix(a[..., 1], j) @ _axis_matrix(a[..., 2], k)


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2.0 * np.pi) - np.pi


def euler_from_matrices(rotations: np.ndarray, order: str = "ZXY") -> np.ndarray:
    """Intrinsic Euler angles in degrees (F, ..., 3), continuous along axis 0 (time).

    Inverse of :func:`matrices_from_euler`. Every rotation has two Euler triples (a, b, c) and
    (a + 180, 180 - b, c + 180), each up to multiples of 360 per angle; frame by frame, the one
    closest to the previous frame is kept, so no channel jumps by 360 degrees (nor flips to the
    other triple) on smooth motion, and a full turn keeps counting (0 .. 360 .. 720).
    At gimbal lock (middle angle at +-90) the third angle keeps its previous value.
    """
    r = np.asarray(rotations, dtype=np.float64)
    i, j, k = _parse_order(order)
    # Parity of the axis permutation: +1 for xyz, yzx, zxy; -1 for the others.
    sgn = 1.0 if (j - i) % 3 == 1 else -1.0
    sin_b = np.clip(sgn * r[..., i, k], -1.0, 1.0)
    b = np.arcsin(sin_b)
    a = np.arctan2(-sgn * r[..., j, k], r[..., k, k])
    c = np.arctan2(-sgn * r[..., i, j], r[..., i, i])
    first = np.stack([a, b, c], axis=-1)
    lock = np.sqrt(np.maximum(0.0, 1.0 - sin_b * sin_b)) < 1e-7
    i1, i2 = (i + 1) % 3, (i + 2) % 3

    out = np.empty_like(first)
    prev = None
    for t in range(first.shape[0]):
        cand1 = first[t].copy()
        if lock[t].any():
            # Keep the third angle; the first takes the whole rotation about the locked axis.
            c_keep = prev[..., 2] if prev is not None else np.zeros(cand1.shape[:-1])
            rest = (
                r[t]
                @ _axis_matrix(-c_keep, k)
                @ _axis_matrix(-cand1[..., 1], j)
            )
            a_lock = np.arctan2(rest[..., i2, i1], rest[..., i1, i1])
            cand1[..., 0] = np.where(lock[t], a_lock, cand1[..., 0])
            cand1[..., 2] = np.where(lock[t], c_keep, cand1[..., 2])
        cand2 = cand1 + np.array([np.pi, 0.0, np.pi])
        cand2[..., 1] = np.pi - cand1[..., 1]
        if prev is None:
            out[t] = cand1
        else:
            cand1 = prev + _wrap(cand1 - prev)
            cand2 = prev + _wrap(cand2 - prev)
            d1 = np.abs(cand1 - prev).max(axis=-1)
            d2 = np.abs(cand2 - prev).max(axis=-1)
            out[t] = np.where((d2 < d1)[..., None], cand2, cand1)
        prev = out[t]
    return np.rad2deg(out)


def quaternions_from_matrices(rotations: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) as (w, x, y, z) for rotation matrices (..., 3, 3)."""
    r = np.asarray(rotations, dtype=np.float64)
    m00, m11, m22 = r[..., 0, 0], r[..., 1, 1], r[..., 2, 2]
    # Squared components from the diagonal; signs from the off-diagonal differences. Taking
    # each from its largest candidate keeps it accurate everywhere.
    q2 = np.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1
    )
    best = np.argmax(q2, axis=-1)
    s = 2.0 * np.sqrt(np.maximum(np.take_along_axis(q2, best[..., None], -1)[..., 0], _EPS))
    dw, dx, dy = r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]
    sxy, sxz, syz = r[..., 0, 1] + r[..., 1, 0], r[..., 0, 2] + r[..., 2, 0], r[..., 1, 2] + r[..., 2, 1]
    cands = [
        np.stack([s / 4, dw / s, dx / s, dy / s], -1),
        np.stack([dw / s, s / 4, sxy / s, sxz / s], -1),
        np.stack([dx / s, sxy / s, s / 4, syz / s], -1),
        np.stack([dy / s, sxz / s, syz / s, s / 4], -1),
    ]
    q = np.choose(best[..., None], cands)
    q = q * np.where(q[..., :1] < 0, -1.0, 1.0)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def continuous_quaternions(q: np.ndarray) -> np.ndarray:
    """Flip quaternion signs along axis 0 (time) so consecutive ones are never opposite.

    q and -q are the same rotation; interpolating or smoothing needs neighbours in the same
    hemisphere.
    """
    q = np.asarray(q, dtype=np.float64).copy()
    if q.shape[0] < 2:
        return q
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    flips = np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)
    q[1:] *= flips[..., None]
    return q
