"""Training pairs from motion capture: windows of T frames -> (2D input, 3D target) in model units.

Per window (``make_batch``, vectorised over the batch):

1. a clip of the corpus (H36M-17 joints + 5 face points, metres, Y up, resampled once to
   the lifter's fps), a start frame and a speed factor (0.75-1.35x, linear interpolation);
2. random body proportions (for a share of the windows: every bone group's length redrawn
   as a ratio of the leg length, ``PROPORTION_RANGES``), then random bone lengths (per bone
   group, ~+-12 %, slight left/right asymmetry), rebuilt along the H36M tree; random
   mirroring (x -> -x, left <-> right); thorax and spine set again by the shared rule
   (``vid2pose.skeletons.canonical_torso``);
3. a virtual camera (``cameras.py``); projection of the joints, the face points and the
   BlazePose-biased hips, shoulders, ankles, elbows and knees (``noise.hip_bias``, ``noise.limb_bias``) to COCO-17 pixels;
4. the 2D noise model (``noise.py``), then the project's COCO-17 -> H36M converter
   (``vid2pose.skeletons.coco17_to_h36m``): the lifter sees what inference gives it;
5. the shared normalisation (``vid2pose.lift.normalize``): ``normalize_window(kp, "box")``
   for the input; ``camera_to_25d`` + the same ``Norm`` for the target, pelvis subtracted,
   depth through ``Norm.depth_to_model``.

Also returned, for metric evaluation in metres: the focal length, principal point, box side
``s``, the true root pixel position and depth, and the true root-relative camera-space joints.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vid2pose.lift.normalize import box_norm, camera_to_25d, normalize_window
from vid2pose.lift.sequence import aim_point, aim_rotation, rotate_keypoints
from vid2pose.lift.swaps import repair_limb_swaps
from vid2pose.skeletons import H36M_FLIP, H36M_PARENTS, canonical_torso, coco17_to_h36m
from vid2pose.train import cameras as cams
from vid2pose.train import noise as noise_mod
from vid2pose.train.split import source_of

CORPUS_VERSION = 2  # 2: canonical thorax/spine, nose at the nose tip (vid2pose/mocap/h36m.py)
FACE_FLIP = (0, 2, 1, 4, 3)
# bone groups (child joint indices) that share a random length factor
BONE_GROUPS = ((1, 4), (2, 5), (3, 6), (7,), (8,), (9,), (10,), (11, 14), (12, 15), (13, 16))

# Bone length / leg length (hip-knee + knee-ankle), drawn uniformly per window when its
# proportions are redrawn. The ranges span the skeletons in the data (Bandai Namco's one
# retarget skeleton: hip 0.08, shoulder 0.13 of the leg; CMU's retargets: hip 0.09-0.11,
# shoulder 0.20-0.25) and Human3.6M's wide hips (~0.15). Why: trained on the data's few
# skeletons only, the lifter learnt their proportions; the held-out CMU clips retargeted to
# Bandai Namco's bone lengths scored 49.7 mm MPJPE instead of 62.8 with the same weights.
PROPORTION_RANGES: tuple[tuple[tuple[int, ...], float, float], ...] = (
    ((1, 4), 0.07, 0.16),     # pelvis -> hip
    ((7,), 0.22, 0.34),       # pelvis -> spine
    ((8,), 0.22, 0.34),       # spine -> thorax
    ((9,), 0.15, 0.29),       # thorax -> nose tip (rigs 0.19-0.21, the anny body 0.27)
    ((10,), 0.12, 0.25),      # nose tip -> head top (rigs 0.15, the anny body 0.23)
    ((11, 14), 0.11, 0.25),   # thorax -> shoulder
    ((12, 15), 0.25, 0.38),   # upper arm
    ((13, 16), 0.21, 0.31),   # forearm
)
THIGH_SHARE = (0.45, 0.53)    # thigh / leg
# Columns of the human proportions table (``body_proportions.csv``, made by scripts/anny_proportions.py
# from anny bodies of random phenotype): one per PROPORTION_RANGES group, then thigh / leg.
PROPORTION_COLUMNS = ("hip", "spine", "thorax", "nose", "head", "shoulder", "upper_arm", "forearm", "thigh_share")
BODY_PROPORTIONS_CSV = Path(__file__).with_name("body_proportions.csv")

AUG_DEFAULTS = dict(
    proportions_p=0.0,   # share of windows whose body proportions are redrawn (configs/ssr-stf-proportions.yaml: 0.6)
    proportions_human=0.0,  # of those, the share drawn from the human proportions table instead of the ranges
    speed=(0.75, 1.35),
    bone_scale=0.12,     # +- fraction per bone group
    bone_asym=0.02,      # extra +- per individual bone
    mirror_p=0.5,
    limb_turn_p=0.0,     # share of windows whose upper arms and thighs are turned (``random_limb_turns``)
    limb_turn_deg=0.0,   # largest turn, degrees
)
# (joint turned about, the limb's joints that move with it): upper arms about the shoulders, thighs about
# the hips (H36M-17 indices)
LIMB_TURNS = ((11, (12, 13)), (14, (15, 16)), (1, (2, 3)), (4, (5, 6)))


@dataclass
class Corpus:
    points: np.ndarray  # (N, 22, 3) float32: 17 H36M joints then 5 face points, metres
    starts: np.ndarray  # (C,) first row of each clip
    lengths: np.ndarray  # (C,)
    sources: list[str]
    paths: list[str]
    fps: float

    def clip(self, i: int) -> np.ndarray:
        return self.points[self.starts[i]:self.starts[i] + self.lengths[i]]

    def subset(self, keep: list[int]) -> "Corpus":
        parts = [self.clip(i) for i in keep]
        lengths = np.array([len(p) for p in parts], np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        pts = np.concatenate(parts) if parts else np.zeros((0, 22, 3), np.float32)
        return Corpus(pts, starts, lengths, [self.sources[i] for i in keep], [self.paths[i] for i in keep], self.fps)


def load_corpus(files: list[Path], fps: float, cache_dir: Path | None = None, log=None) -> Corpus:
    """Read every file (cached as .npz in cache_dir, keyed by paths, sizes, mtimes and fps)."""
    from vid2pose.mocap.h36m import load_h36m

    files = [Path(f) for f in files]
    key = hashlib.sha256(json.dumps([CORPUS_VERSION, fps] + [
        [str(f.resolve()), f.stat().st_size, int(f.stat().st_mtime)] for f in files]).encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"corpus-{key}.npz" if cache_dir else None
    if cache is not None and cache.exists():
        z = np.load(cache, allow_pickle=False)
        return Corpus(z["points"], z["starts"], z["lengths"], list(z["sources"]), list(z["paths"]), float(z["fps"]))
    parts, sources, paths = [], [], []
    for k, f in enumerate(files):
        try:
            J, _, info = load_h36m(f, fps=fps, with_face=True)
        except Exception as e:  # one unreadable file never stops training
            if log:
                log(f"skipping {f}: {e}")
            continue
        parts.append(np.concatenate([J, info["face"]], 1).astype(np.float32))
        sources.append(source_of(f))
        paths.append(str(f))
        if log and (k + 1) % 100 == 0:
            log(f"read {k + 1}/{len(files)} mocap files")
    lengths = np.array([len(p) for p in parts], np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    pts = np.concatenate(parts) if parts else np.zeros((0, 22, 3), np.float32)
    corpus = Corpus(pts, starts, lengths, sources, paths, float(fps))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, points=pts, starts=starts, lengths=lengths, sources=np.array(sources),
                 paths=np.array(paths), fps=fps)
        tmp.replace(cache)
    return corpus


def _gather(corpus: Corpus, clip: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points at fractional frame positions t (B, T) of clips (B,) -> (B, T, 22, 3)."""
    L = corpus.lengths[clip][:, None]
    t = np.clip(t, 0, L - 1)
    i0 = np.floor(t).astype(np.int64)
    i1 = np.minimum(i0 + 1, L - 1)
    w = (t - i0)[..., None, None]
    base = corpus.starts[clip][:, None]
    return ((1 - w) * corpus.points[base + i0] + w * corpus.points[base + i1]).astype(np.float64)


def sample_windows(rng: np.random.Generator, corpus: Corpus, B: int, T: int, aug: dict,
                   source_weights: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Random (clip, fractional frame positions (B, T)) with speed changes."""
    lo, hi = aug["speed"]
    r = np.exp(rng.uniform(np.log(lo), np.log(hi), B))
    usable = np.maximum(corpus.lengths - T + 1, 0).astype(np.float64)
    w = np.array([(source_weights or {}).get(s, 1.0) for s in corpus.sources]) * usable
    clip = rng.choice(len(usable), size=B, p=w / w.sum())
    L = corpus.lengths[clip]
    r = np.minimum(r, (L - 1) / max(T - 1, 1))
    span = (T - 1) * r
    start = rng.random(B) * np.maximum(L - 1 - span, 0)
    t = start[:, None] + r[:, None] * np.arange(T)[None]
    return clip, t


def bone_lengths(X: np.ndarray) -> np.ndarray:
    """Mean length over the window of each joint's bone to its parent: (B, T, J, 3) -> (B, 17)."""
    par = np.array(H36M_PARENTS[1:17])
    L = np.zeros(X.shape[:1] + (17,))
    L[:, 1:] = np.linalg.norm(X[:, :, 1:17] - X[:, :, par], axis=-1).mean(1)
    return L


def _leg_lengths(L: np.ndarray) -> np.ndarray:
    """Thigh + shin, averaged over the two legs, from bone lengths (B, 17) -> (B,)."""
    return (L[:, 2] + L[:, 3] + L[:, 5] + L[:, 6]) / 2


@functools.lru_cache(maxsize=1)
def human_proportions() -> np.ndarray:
    """(N, 9) rows of the human proportions table (PROPORTION_COLUMNS order)."""
    table = np.loadtxt(BODY_PROPORTIONS_CSV, delimiter=",", comments="#", skiprows=2)
    return table[:, -len(PROPORTION_COLUMNS):]


def random_proportions(rng: np.random.Generator, X: np.ndarray, p: float, human: float = 0.0) -> np.ndarray:
    """Redraw the body proportions of a share ``p`` of the windows (B, T, 22, 3): each bone
    group gets a length drawn from ``PROPORTION_RANGES`` times the window's leg length, or,
    for a share ``human`` of those windows, the ratios of one body of the human proportions
    table (ratios that go together), each varied by +-4 %."""
    if p <= 0:  # no draws at all: configs without it keep their random stream
        return X
    B = X.shape[0]
    pick = rng.random(B) < p
    L = np.maximum(bone_lengths(X), 1e-6)
    leg = _leg_lengths(L)
    f = np.ones((B, 17))
    ratios = np.stack([rng.uniform(lo, hi, B) for _, lo, hi in PROPORTION_RANGES]
                      + [rng.uniform(*THIGH_SHARE, B)], 1)  # (B, 9)
    if human > 0:  # only then: configs without it keep their random stream
        table = human_proportions()
        rows = table[rng.integers(0, len(table), B)] * rng.uniform(0.96, 1.04, (B, table.shape[1]))
        ratios = np.where((rng.random(B) < human)[:, None], rows, ratios)
    for k, (g, _, _) in enumerate(PROPORTION_RANGES):
        for j in g:
            f[:, j] = ratios[:, k] * leg / L[:, j]
    share = ratios[:, -1]
    for thigh, shin in ((2, 3), (5, 6)):
        f[:, thigh] = share * leg / L[:, thigh]
        f[:, shin] = (1 - share) * leg / L[:, shin]
    f[~pick] = 1.0
    return _rescale_bones(X, f)


def random_bones(rng: np.random.Generator, X: np.ndarray, scale: float, asym: float) -> np.ndarray:
    """Rescale bones of (B, T, 22, 3) (17 joints + face, face follows joint 9)."""
    B = X.shape[0]
    f = np.ones((B, 17))
    for g in BONE_GROUPS:
        v = rng.uniform(1 - scale, 1 + scale, B)
        for j in g:  # the two hip bones stay equal: the pelvis is the hips' midpoint
            f[:, j] = v * (1.0 if g == (1, 4) else rng.uniform(1 - asym, 1 + asym, B))
    return _rescale_bones(X, f)


def random_limb_turns(rng: np.random.Generator, X: np.ndarray, p: float, max_deg: float) -> np.ndarray:
    """Turn each upper arm and thigh of a share ``p`` of the windows (B, T, 22, 3) about its
    shoulder or hip, the limb below moving with it: one rotation per limb and window (axis
    uniform on the sphere, angle uniform in +-``max_deg``), constant over the window so the motion
    stays smooth. Bone lengths are kept. Why: the held-out CMU performers carry their arms and legs
    unlike the one Bandai Namco body that is 83 % of the motion, and the lifter's errors on them
    are partly a constant pull toward that body's carriage (2-4 cm at wrists and knees, measured)."""
    if p <= 0 or max_deg <= 0:  # no draws at all: configs without it keep their random stream
        return X
    B = X.shape[0]
    pick = rng.random(B) < p
    out = X.copy()
    for pivot, moved in LIMB_TURNS:
        axis = rng.normal(size=(B, 3))
        axis /= np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-12)
        angle = np.radians(rng.uniform(-max_deg, max_deg, B)) * pick
        R = _axis_angle_matrices(axis, angle)
        idx = list(moved)
        rel = out[:, :, idx] - out[:, :, pivot:pivot + 1]
        out[:, :, idx] = out[:, :, pivot:pivot + 1] + np.einsum("bij,btkj->btki", R, rel)
    return out


def _axis_angle_matrices(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(B, 3) unit axes and (B,) angles -> (B, 3, 3) rotation matrices (Rodrigues)."""
    K = np.zeros((len(axis), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    K -= K.transpose(0, 2, 1)
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3)[None] + s * K + (1 - c) * (K @ K)


def _rescale_bones(X: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Multiply each bone (B, 17 factors) and rebuild the joints along the H36M tree."""
    out = X.copy()
    for j in range(1, 17):
        p = H36M_PARENTS[j]
        out[:, :, j] = out[:, :, p] + f[:, j, None, None] * (X[:, :, j] - X[:, :, p])
    out[:, :, 17:] = X[:, :, 17:] + (out[:, :, 9:10] - X[:, :, 9:10])
    return out


def mirror(X: np.ndarray, which: np.ndarray) -> np.ndarray:
    perm = list(H36M_FLIP) + [17 + i for i in FACE_FLIP]
    Y = X[:, :, perm].copy()
    Y[..., 0] *= -1
    return np.where(which[:, None, None, None], Y, X)


def make_batch(rng: np.random.Generator, corpus: Corpus, B: int, T: int, cfg: dict | None = None,
               windows: tuple[np.ndarray, np.ndarray] | None = None, augment: bool = True) -> dict:
    """A batch of training/evaluation pairs. ``windows`` = (clip (B,), frame positions (B, T))
    to evaluate fixed windows; ``augment=False`` turns off bones/mirroring (not the camera
    or the noise)."""
    cfg = cfg or {}
    aug = dict(AUG_DEFAULTS)
    aug.update(cfg.get("augment", {}))
    ncfg = dict(noise_mod.NOISE_DEFAULTS)
    ncfg.update(cfg.get("noise", {}))
    if windows is None:
        windows = sample_windows(rng, corpus, B, T, aug, cfg.get("source_weights"))
    clip, t = windows
    B = len(clip)
    X = _gather(corpus, clip, t)
    if augment:
        X = random_proportions(rng, X, aug["proportions_p"], aug["proportions_human"])
        X = random_bones(rng, X, aug["bone_scale"], aug["bone_asym"])
        X = random_limb_turns(rng, X, aug["limb_turn_p"], aug["limb_turn_deg"])
        X = mirror(X, rng.random(B) < aug["mirror_p"])
        # rescaled bones move the shoulders off the thorax rule and the spine off the midpoint:
        # put both back where every source defines them (``canonical_torso``)
        X[:, :, :17] = canonical_torso(X[:, :, :17], _leg_lengths(bone_lengths(X))[:, None])
    joints = X[:, :, :17]
    cam = cams.sample_cameras(rng, joints, cfg.get("camera"))
    # noise off ("exact 2D"): the noise is still drawn, then dropped, so the random stream (cameras and
    # bodies of every later window) is the one the noise model sees and the two evaluations pair up
    exact = bool(ncfg["disable"])
    ncfg["disable"] = False
    hipL, hipR = noise_mod.hip_bias(rng, joints, ncfg)
    biased = noise_mod.limb_bias(rng, joints, ncfg)  # shoulders, ankles, elbows, knees ({} when none is set)
    if exact:
        hipL, hipR, biased = joints[:, :, 4], joints[:, :, 1], {}
    extra = [biased.get(j, joints[:, :, j]) for j in (11, 14, 6, 3, 12, 15, 5, 2)]
    allpts = np.concatenate([X, hipL[:, :, None], hipR[:, :, None]] + [e[:, :, None] for e in extra], 2)
    Xc = cam.to_camera(allpts)  # (B, T, 32, 3)
    uv = cam.project(Xc)
    # COCO-17 from the projections (face points 17..21, biased hips 22, 23, shoulders 24, 25, ankles 26, 27,
    # elbows 28, 29, knees 30, 31: the order of ``extra`` above)
    coco_idx = [17, 18, 19, 20, 21, 24, 25, 28, 29, 13, 16, 22, 23, 30, 31, 26, 27]
    coco = uv[:, :, coco_idx]
    f = cam.K[:, 0, 0]
    stature = np.linalg.norm(joints[:, :, 10] - joints[:, :, 3], axis=-1).max(1) + 0.08
    h_px = f * stature / np.maximum(Xc[:, :, 0, 2].mean(1), 0.3)
    noisy = noise_mod.apply_noise(rng, coco, h_px, ncfg)
    if exact:
        noisy = np.concatenate([coco, np.ones(coco.shape[:-1] + (1,))], -1)
    kp = coco17_to_h36m(noisy)  # (B, T, 17, 3)
    repaired = bool(cfg.get("repair_swaps"))
    if repaired:  # as `run` does before lifting (vid2pose.lift.lifting.lift_track), here per window
        for b in range(B):
            kp[b] = repair_limb_swaps(kp[b])[0]

    inp = np.zeros((B, T, 17, 3), np.float32)
    tgt = np.zeros((B, T, 17, 3), np.float32)
    s = np.ones(B)
    ok = np.ones(B, bool)
    # the view the network is given: the camera's own, or (camera: recentre) the virtual camera that
    # `vid2pose run` looks through (vid2pose.lift.sequence), aimed from the noisy 2D as there
    recentre = bool((cfg.get("camera") or {}).get("recentre", False))
    turn = np.repeat(np.eye(3)[None], B, 0)
    view_uv, view_z = uv[:, :, 0].copy(), Xc[:, :, 0, 2].copy()
    for b in range(B):
        kb, Xb = kp[b], Xc[b, :, :17]
        if recentre and (box := box_norm(kb)) is not None:
            cx, cy = cam.K[b, :2, 2]
            turn[b] = aim_rotation(aim_point(box), f[b], cx, cy)
            kb, Xb = rotate_keypoints(kb, turn[b], f[b], cx, cy), Xb @ turn[b].T
        x, norm = normalize_window(kb, "box")
        if norm is None:
            ok[b] = False
            continue
        uvd = camera_to_25d(Xb, cam.K[b])
        view_uv[b], view_z[b] = uvd[:, 0, :2], Xb[:, 0, 2]
        y = norm.to_model(uvd)
        y[..., :2] -= y[..., 0:1, :2]
        y[..., 2] = norm.depth_to_model(uvd[..., 2])
        inp[b], tgt[b], s[b] = x, y, norm.s
    cam_rel = Xc[:, :, :17] - Xc[:, :, 0:1]
    return dict(
        input=inp, target=tgt, ok=ok, s=s.astype(np.float32), f=f.astype(np.float32),
        c=cam.K[:, :2, 2].astype(np.float32), root_uv=uv[:, :, 0].astype(np.float32),
        root_z=Xc[:, :, 0, 2].astype(np.float32), gt_cam=cam_rel.astype(np.float32),
        # the lifted view's root (pixels, depth) and its rotation from the camera (identity unless recentred)
        view_root_uv=view_uv.astype(np.float32), view_root_z=view_z.astype(np.float32), turn=turn,
        clip=clip, sources=[corpus.sources[i] for i in clip],
        kp2d=kp.astype(np.float32),  # the noisy pixel keypoints + confidence the input was made from
        swaps_repaired=repaired,  # whether kp2d went through run's limb-swap repair (config ``repair_swaps``)
    )


def eval_windows(corpus: Corpus, T: int, stride: int | None = None, max_per_clip: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Fixed windows covering every clip (stride T by default), speed 1."""
    stride = stride or T
    clips, ts = [], []
    for i, L in enumerate(corpus.lengths):
        if L < T:
            continue
        starts = list(range(0, int(L) - T + 1, stride))
        if max_per_clip and len(starts) > max_per_clip:
            starts = [starts[k] for k in np.linspace(0, len(starts) - 1, max_per_clip).round().astype(int)]
        for s0 in starts:
            clips.append(i)
            ts.append(s0 + np.arange(T, dtype=np.float64))
    return np.array(clips, np.int64), np.array(ts).reshape(len(clips), T)
