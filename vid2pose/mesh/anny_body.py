"""The offline default body: the ``anny`` model (code Apache-2.0, MakeHuman assets CC0) posed from
lifted H36M-17 joints.

Posing from joint positions only, per frame (the same idea as :mod:`vid2pose.render.body`'s
calibration frame, applied to every frame):

- pelvis, spine and chest bones take the rotation that maps anny's rest torso frame (left = hip or
  shoulder axis, up = hips-to-shoulders) onto the person's;
- each limb bone takes that torso rotation followed by the smallest rotation (swing) that lays its
  rest segment on the person's segment: upper leg hip->knee, lower leg knee->ankle, upper arm
  shoulder->elbow, forearm elbow->wrist. Twist is unknown from 17 joints and stays the torso's;
- the neck, and the head with it, turns so that anny's head frame (neck pivot -> head top; the
  nose sets the turn about that axis) takes the person's, about anny's posed neck pivot: nods,
  tilts and turns show;
- feet and hands follow their parent (shin, forearm): 17 joints say nothing about them; every other
  anny bone (fingers, toes, face...) moves rigidly with its parent.

H36M joint -> anny: pelvis = midpoint of the upperleg01 heads, hips = upperleg01.L/R heads,
knees = lowerleg01, ankles = foot, spine = spine02, thorax = neck01, shoulders = upperarm01,
elbows = lowerarm01, wrists = wrist (bone heads); nose and head top are mesh vertices
(:func:`vid2pose.render.body.anny_h36m_joints`).

Body size (:meth:`AnnyBody.fit`, once per person): anny's bones are stretched along their own axes
so that eight segments take the person's proportions (median over the clip, left and right averaged):
hip width, thigh, shin, torso (hips' to shoulders' midpoint), shoulder width, neck (shoulders' midpoint to
head top), upper arm, forearm; then the whole body
is scaled about the hips so its leg length (hip-knee-ankle) equals the person's, and the hips midpoint
follows the pelvis trajectory. Stretching along the bone keeps the limbs' girth (a longer arm, not a
bigger one); the head keeps anny's shape. Stretches are clamped to 0.7-1.4 so a bad lift cannot
deform the body absurdly. anny's own shape parameters (gender, height, proportions...) were tried on a
coarse grid in an earlier version and did not bring the posed joints closer, so they stay at their
defaults. Camera space in and out (x right, y down, z forward, metres).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vid2pose.errors import MissingDependencyError
from vid2pose.kinematics import _frame, rotation_between
from vid2pose.render.body import ANNY_DRIVEN_BONES, _torso_frame, anny_h36m_joints, head_landmark_vertices

# camera (x right, y down, z forward) -> anny world (x = person's left when facing the camera, y back, z up)
CAM_TO_ANNY = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# H36M-17 indices of the landmarks the posing needs
_H36M = {"hip_r": 1, "knee_r": 2, "ankle_r": 3, "hip_l": 4, "knee_l": 5, "ankle_l": 6, "thorax": 8,
         "shoulder_l": 11, "elbow_l": 12, "wrist_l": 13, "shoulder_r": 14, "elbow_r": 15, "wrist_r": 16}
# anny bone heads for the same landmarks
_ANNY = {"hip_l": "upperleg01.L", "hip_r": "upperleg01.R", "knee_l": "lowerleg01.L", "knee_r": "lowerleg01.R",
         "ankle_l": "foot.L", "ankle_r": "foot.R", "shoulder_l": "upperarm01.L", "shoulder_r": "upperarm01.R",
         "elbow_l": "lowerarm01.L", "elbow_r": "lowerarm01.R", "wrist_l": "wrist.L", "wrist_r": "wrist.R"}
_NO_DATA = {"foot.L": "lowerleg01.L", "foot.R": "lowerleg01.R", "head": "neck01"}  # follow these bones
# Segments fitted to the person: anny bones stretched together <- landmark pairs measured (averaged)
SEGMENTS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "hip width": (("pelvis.L", "pelvis.R"), (("hip_l", "hip_r"),)),
    "thigh": (("upperleg01.L", "upperleg02.L", "upperleg01.R", "upperleg02.R"),
              (("hip_l", "knee_l"), ("hip_r", "knee_r"))),
    "shin": (("lowerleg01.L", "lowerleg02.L", "lowerleg01.R", "lowerleg02.R"),
             (("knee_l", "ankle_l"), ("knee_r", "ankle_r"))),
    # the torso and shoulder landmarks are the shoulder joints, not the thorax: anny's thorax (neck01)
    # sits higher above its shoulders than mocap skeletons' do, and the arms hang from the shoulders
    "torso": (("spine05", "spine04", "spine03", "spine02", "spine01"), (("pelvis", "shoulders"),)),
    "shoulder width": (("clavicle.L", "shoulder01.L", "clavicle.R", "shoulder01.R"), (("shoulder_l", "shoulder_r"),)),
    # the head top rides on the head bone (rigid), the neck bones set its height
    "neck": (("neck01", "neck02", "neck03"), (("shoulders", "head_top"),)),
    "upper arm": (("upperarm01.L", "upperarm02.L", "upperarm01.R", "upperarm02.R"),
                  (("shoulder_l", "elbow_l"), ("shoulder_r", "elbow_r"))),
    "forearm": (("lowerarm01.L", "lowerarm02.L", "lowerarm01.R", "lowerarm02.R"),
                (("elbow_l", "wrist_l"), ("elbow_r", "wrist_r"))),
}
STRETCH_LIMITS = (0.7, 1.4)

ANNY_INSTALL = 'pip install --no-deps anny==0.6.2 (see the README install block)'


def anny_cache_dir() -> Path:
    """Where anny keeps the cache it builds on first use (about 72 s and 790 MB, once)."""
    return Path(os.environ.get("ANNY_CACHE_DIR") or Path.home() / ".cache" / "vid2pose" / "anny")


def _segment_lengths(pos: dict) -> dict[str, np.ndarray]:
    """Length of each of ``SEGMENTS`` (left and right averaged) from landmark positions."""
    return {name: sum(np.linalg.norm(pos[b] - pos[a], axis=-1) for a, b in pairs) / len(pairs)
            for name, (_, pairs) in SEGMENTS.items()}


def _with_midpoints(pos: dict) -> dict:
    pos["pelvis"] = 0.5 * (pos["hip_l"] + pos["hip_r"])
    pos["shoulders"] = 0.5 * (pos["shoulder_l"] + pos["shoulder_r"])
    return pos


def _h36m_landmarks(joints: np.ndarray) -> dict:
    """Posing landmarks of H36M-17 joints; "pelvis" is the hips' midpoint (what anny's is)."""
    pos = _with_midpoints({k: joints[..., j, :] for k, j in _H36M.items()})
    pos["thorax"], pos["nose"], pos["head_top"] = joints[..., 8, :], joints[..., 9, :], joints[..., 10, :]
    return pos


def _head_frame(head_top: np.ndarray, nose: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """The head's frame: neck pivot -> head top, then the nose sets the turn about that axis (only
    its direction across the face counts, so skeletons whose nose joint sits lower or higher than
    anny's nose tip give the same frame)."""
    return _frame(head_top - pivot, nose - pivot)


@dataclass
class BodyFit:
    """One person's body: ``scale`` (uniform, about the hips), ``stretch`` (B,) of each anny
    bone along its own axis (1 = anny's length) and ``rest_head_frame`` (3, 3), the head's frame
    of the stretched body at rest (what the neck's turn starts from)."""
    scale: float
    stretch: np.ndarray
    rest_head_frame: np.ndarray


@dataclass
class PosedBodies:
    vertices: np.ndarray  # (F, V, 3) camera space, metres
    joints: np.ndarray  # (F, 17, 3) the posed body's H36M-17 joints, camera space


class AnnyBody:
    """anny loaded once; :meth:`pose` turns joint sequences into meshes, a chunk at a time."""

    def __init__(self, phenotype: dict | None = None, on_first_build=None):
        try:
            import anny
            import anny.paths
            import torch
        except ImportError as e:
            raise MissingDependencyError(f"the default body model needs the anny package: {ANNY_INSTALL}") from e
        cache = anny_cache_dir()
        anny.paths.set_anny_cache_path(cache)  # anny read its env variable at import, maybe before us
        if on_first_build is not None and not (cache.exists() and any(cache.iterdir())):
            on_first_build(cache)
        self._torch = torch
        self.model = anny.Anny(skinning_method="lbs")
        self.labels = list(self.model.bone_labels)
        self.parents = np.asarray(self.model.bone_parents, dtype=np.int64)
        self.faces = self.model.get_triangular_faces().numpy().astype(np.int64)
        self._bidx = {n: i for i, n in enumerate(self.labels)}
        # neck01 and every bone below it (neck, head, face): they turn together with the head
        inside = np.zeros(len(self.labels), bool)
        for b in range(len(self.labels)):  # parents come first
            inside[b] = self.labels[b] == "neck01" or (self.parents[b] >= 0 and inside[self.parents[b]])
        self._neck_subtree = np.flatnonzero(inside)
        self.set_phenotype(phenotype or {})

    def _rest(self, phenotype: dict):
        with self._torch.no_grad():
            rest = self.model(pose_parameters=None, phenotype_kwargs=phenotype)
        return rest["rest_bone_poses"][0].double().numpy(), rest["rest_vertices"][0].double().numpy()

    def rest_height(self, phenotype: dict) -> float:
        """Standing height (m) of the body with ``phenotype``: its rest mesh's vertical extent (anny is Z-up)."""
        z = self._rest(phenotype)[1][:, 2]
        return float(z.max() - z.min())

    def set_phenotype(self, phenotype: dict) -> None:
        """Body shape (anny's gender, age, muscle, weight, height, proportions in [0, 1])."""
        self.phenotype = dict(phenotype)
        self.rest_poses, self.rest_vertices = self._rest(self.phenotype)
        self.rest_heads = self.rest_poses[:, :3, 3]
        w = self.model.vertex_bone_weights.numpy()
        vb = self.model.vertex_bone_indices.numpy()[np.arange(len(w)), w.argmax(1)]
        self.head_top_vertex, self.nose_vertex = head_landmark_vertices(self.rest_vertices, vb, self.labels.index("head"))
        self._rest_head_points = self.rest_vertices[[self.head_top_vertex, self.nose_vertex]]
        rest_pos = self._landmarks(self.rest_heads)
        self._rest_pos = rest_pos
        self._rest_torso = {k: _torso_frame(rest_pos["hip_l"], rest_pos["hip_r"], rest_pos["shoulder_l"],
                                            rest_pos["shoulder_r"], k) for k in ("pelvis", "chest")}
        rest_lengths = _segment_lengths(self._rest_landmarks(np.ones(len(self.labels))))
        self.leg_length = float(rest_lengths["thigh"] + rest_lengths["shin"])

    def _landmarks(self, heads: np.ndarray) -> dict:
        """The posing landmarks from bone heads (..., B, 3): _ANNY's and the midpoints."""
        return _with_midpoints({k: heads[..., self._bidx[b], :] for k, b in _ANNY.items()})

    def _fit_landmarks(self, W: np.ndarray) -> dict:
        """Landmarks of posed skeletons W (..., B, 4, 4), with the head-top and nose vertices moved
        rigidly with the head bone (they are skinned to it alone) and the neck's pivot."""
        pos = self._landmarks(W[..., :3, 3])
        h = self._bidx["head"]
        M = W[..., h, :3, :3] @ self.rest_poses[h, :3, :3].T
        top, nose = (np.einsum("...ij,j->...i", M, v - self.rest_heads[h]) + W[..., h, :3, 3]
                     for v in self._rest_head_points)
        pos["head_top"], pos["nose"], pos["neck"] = top, nose, W[..., self._bidx["neck01"], :3, 3]
        return pos

    def fit(self, joints_cam: np.ndarray) -> BodyFit:
        """Fit anny's proportions to a person's (F, 17, 3) joints (medians over the frames)."""
        target = {k: float(np.median(v)) for k, v in _segment_lengths(_h36m_landmarks(np.asarray(joints_cam))).items()}
        scale = (target["thigh"] + target["shin"]) / self.leg_length
        stretch = np.ones(len(self.labels))
        # Fixed-point rounds: a stretch does not move every landmark of its segment (the
        # clavicle starts beside the thorax landmark), so measure what it gave and correct.
        for _ in range(3):
            got = _segment_lengths(self._rest_landmarks(stretch))
            for name, (bones, _) in SEGMENTS.items():
                idx = [self._bidx[b] for b in bones]
                want = target[name] / scale
                stretch[idx] = np.clip(stretch[idx] * want / max(float(got[name]), 1e-6), *STRETCH_LIMITS)
        rest = self._rest_landmarks(stretch)
        return BodyFit(scale=float(scale), stretch=stretch,
                       rest_head_frame=_head_frame(rest["head_top"], rest["nose"], rest["neck"]))

    def _rest_landmarks(self, stretch: np.ndarray) -> dict:
        """Landmarks of the rest skeleton with bones stretched."""
        W = self._chain(np.eye(3)[None, None].repeat(len(self.labels), 1), stretch, self.rest_heads[0][None])
        return self._fit_landmarks(W[0])

    def _chain(self, G: np.ndarray, stretch: np.ndarray, root_head: np.ndarray) -> np.ndarray:
        """World bone poses (F, B, 4, 4) for world rotations G (F, B, 3, 3) applied to the rest
        orientations, bones stretched along their own (y) axes, the root's head at root_head (F, 3).
        The 3x3 blocks are not rotations when stretched: anny's "world" parameterisation skins
        with T = W P^-1, which keeps the stretch (``forward_kinematic``)."""
        R, h = self.rest_poses[:, :3, :3], self.rest_heads
        S = np.einsum("bij,bj,bkj->bik", R, np.stack([np.ones_like(stretch), stretch, np.ones_like(stretch)], 1), R)
        M = G @ S[None]  # (F, B, 3, 3): world transform of each bone's rest frame
        F, B = G.shape[:2]
        t = np.empty((F, B, 3))
        W = np.zeros((F, B, 4, 4))
        for b in range(B):  # parents first
            p = self.parents[b]
            head = root_head if p < 0 else np.einsum("fij,j->fi", M[:, p], h[b]) + t[:, p]
            t[:, b] = head - np.einsum("fij,j->fi", M[:, b], h[b])
            W[:, b, :3, 3] = head
        W[..., :3, :3] = M @ R[None]
        W[..., 3, 3] = 1.0
        return W

    @property
    def num_vertices(self) -> int:
        return int(self.model.template_vertices.shape[-2])

    def bone_rotations(self, joints_cam: np.ndarray) -> np.ndarray:
        """(F, 17, 3) camera-space joints -> (F, B, 3, 3) anny bone world rotations (anny axes)."""
        P = np.asarray(joints_cam, np.float64) @ CAM_TO_ANNY.T
        pos = _h36m_landmarks(P)
        torso = {}
        for k in ("pelvis", "chest"):
            frame = _torso_frame(pos["hip_l"], pos["hip_r"], pos["shoulder_l"], pos["shoulder_r"], k)
            torso[k] = frame @ self._rest_torso[k].T
        F, B = len(P), len(self.labels)
        G = np.empty((F, B, 3, 3))
        done = np.zeros(B, bool)
        for b, name in enumerate(self.labels):  # parents come first in anny's bone order
            spec = ANNY_DRIVEN_BONES.get(name)
            if name in _NO_DATA:
                G[:, b] = G[:, self._bidx[_NO_DATA[name]]]
            elif spec is None or (isinstance(spec[1], str) and spec[1].startswith("follow:")):
                G[:, b] = G[:, self.parents[b]] if self.parents[b] >= 0 else np.eye(3)
            elif isinstance(spec[1], str):
                G[:, b] = torso[spec[1]]
            else:
                a, c = spec[1]
                base = torso["pelvis" if a.startswith(("hip", "knee", "ankle")) else "chest"]
                rest_seg = self._rest_pos[c] - self._rest_pos[a]
                G[:, b] = rotation_between(base @ rest_seg, pos[c] - pos[a]) @ base
            done[b] = True
        return G

    def pose(self, joints_cam: np.ndarray, fit: BodyFit | None = None, batch: int = 16) -> PosedBodies:
        """Meshes for (F, 17, 3) camera-space joints. ``fit``: the person's body (:meth:`fit`);
        default: fitted to these frames (give the whole clip's fit when posing a clip in chunks)."""
        joints_cam = np.asarray(joints_cam, np.float64)
        fit = fit or self.fit(joints_cam)
        G = self.bone_rotations(joints_cam)
        F = len(joints_cam)
        root = self._bidx[self.labels[0]]
        hips_rest = self._rest_pos["pelvis"]
        # anny's own hips stay near their rest position; the placement happens after the scale
        root_head = hips_rest + G[:, root] @ (self.rest_heads[root] - hips_rest)
        params = self._chain(G, fit.stretch, root_head)
        # onto the person's hips' midpoint (the lifter's pelvis; other skeletons' may sit higher)
        P = _h36m_landmarks(joints_cam @ CAM_TO_ANNY.T)
        hips = self._landmarks(params[..., :3, 3])["pelvis"][:, None]
        to_person = lambda x: fit.scale * (x - hips) + P["pelvis"][:, None]  # noqa: E731 (anny axes)
        # The neck (the head rides on it) turns so that anny's head frame, about its posed neck
        # pivot, takes the person's: nods, tilts and turns show. anny's neck pivot sits higher above
        # the shoulders than mocap skeletons' thorax, so the pivot is anny's own, placed.
        turn = _head_frame(P["head_top"], P["nose"], to_person(params[:, None, self._bidx["neck01"], :3, 3])[:, 0]) \
            @ fit.rest_head_frame.T
        G[:, self._neck_subtree] = turn[:, None]
        params = self._chain(G, fit.stretch, root_head)
        verts, poses = [], []
        torch = self._torch
        with torch.no_grad():
            for s in range(0, F, batch):
                p = torch.as_tensor(params[s:s + batch], dtype=self.model.template_vertices.dtype)
                out = self.model(pose_parameters=p, phenotype_kwargs=self.phenotype,
                                 pose_parameterization="world")
                verts.append(out["vertices"].double().numpy())
                poses.append(out["bone_poses"].double().numpy())
        V, bp = np.concatenate(verts), np.concatenate(poses)
        joints_anny = anny_h36m_joints(bp, V, self.labels, self.nose_vertex, self.head_top_vertex)
        to_cam = lambda x: to_person(x) @ CAM_TO_ANNY  # noqa: E731 (anny -> camera)
        return PosedBodies(vertices=to_cam(V).astype(np.float32), joints=to_cam(joints_anny).astype(np.float32))
