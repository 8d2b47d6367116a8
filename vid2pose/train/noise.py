"""A 2D keypoint noise model that resembles MediaPipe BlazePose's errors on real video.

Facts it is shaped on (``shared/research/mediapipe_2d_noise.md``, measured on a real
calibrated recording, person height ~750 px): robust spread ~1.2 % of the person's height
per axis; ~10 % gross errors (tens of pixels and more), concentrated on wrists and
ankles, so the mean error of extremities is 3x their median (heavy tails); hips sit higher
and wider than the joint centres (a systematic offset: applied in 3D by ``hip_bias`` before
projection); whole-body left/right swaps for tens of frames; low confidence where a joint
is lost. Confidences are correlated with the error.

Everything is in units of the person's height in pixels ``h`` (per window), on COCO-17
keypoints (the input of the project's 2D -> H36M converter), vectorised over (B, T).
``NOISE_DEFAULTS`` lists every parameter; the config file can override any of them.
"""
from __future__ import annotations

import numpy as np

from vid2pose.skeletons import coco17_to_h36m, h36m_to_coco17

# COCO-17 order: nose, l_eye, r_eye, l_ear, r_ear, l_sho, r_sho, l_elb, r_elb, l_wri, r_wri,
# l_hip, r_hip, l_knee, r_knee, l_ank, r_ank
COCO_FLIP = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
# relative jitter per keypoint (shoulders best, hips/wrists/ankles worst; research note medians)
JOINT_SCALE = np.array([1.0, 0.8, 0.8, 0.9, 0.9, 0.7, 0.7, 1.0, 1.0, 1.1, 1.1, 1.2, 1.2, 1.0, 1.0, 1.05, 1.05])
# probability that a keypoint is inside a gross-error episode (sum / 17 ~ 0.10)
OUTLIER_P = np.array([0.04, 0.03, 0.03, 0.04, 0.04, 0.03, 0.03, 0.10, 0.10, 0.26, 0.26,
                      0.04, 0.04, 0.07, 0.07, 0.17, 0.17])

NOISE_DEFAULTS = dict(
    white_sigma=0.0065,      # per-frame jitter, fraction of h, per axis
    smooth_sigma=0.0085,     # temporally correlated drift, fraction of h, per axis
    smooth_frames=4.0,       # its correlation time (frames at the training fps)
    bias_sigma=0.005,        # per-window constant offset per keypoint
    quality_range=(0.6, 1.6),  # per-window multiplier of the three above (easy/hard videos)
    joint_scale=tuple(JOINT_SCALE),  # per COCO keypoint: multiplies the three jitters above
    outlier_p=tuple(OUTLIER_P),      # per COCO keypoint: share of frames inside a gross-error episode
    outlier_scale=1.0,       # multiplies outlier_p
    outlier_mean_len=4.0,    # mean length (frames) of a gross-error episode
    outlier_mag=(0.04, 0.30),  # gross error size, fraction of h (log-uniform)
    limb_swap_p=0.01,        # per frame: left/right swap of one limb's pair (episode start). A number: the
    #                          elbows, wrists, knees and ankles alike; six numbers: per LR_PAIRS pair (shoulders
    #                          and hips too), as measured per pair on the default backend (card notes)
    limb_swap_len=5.0,       # mean length (frames) of a limb-swap episode
    body_swap_p=0.04,        # per window: whole-body left/right swap for a run of frames
    drop_p=0.015,            # per keypoint and frame: start of a dropped episode (conf ~0)
    # metres, BlazePose's hips against the joint centres (applied in 3D by hip_bias). These defaults are the
    # first guess from real video (research note: "higher and wider"); fitted on rendered clips
    # (scripts/fit_noise.py, every shipped config since stage 4) they sit 0.4-2.8 cm lower and inwards.
    hip_up=(0.015, 0.06),    # up the torso ...
    hip_out=(0.0, 0.04),     # ... outwards from the pelvis ...
    hip_fwd=(0.0, 0.0),      # ... and forwards, the way the body faces ((0, 0): none, nothing drawn)
    # BlazePose's shoulders, ankles, elbows and knees against the joint centres (``limb_bias``, metres;
    # (0, 0): none).
    # Measured on rendered clips (benchmarks/accuracy.py, scripts/fit_noise.py): shoulders 1-3 cm
    # up the torso (sideways within +-0.7 cm) with the arm hanging, 2 cm inwards once it is raised
    # overhead (the landmark follows the skin); ankles 1.5-3 cm up the shin.
    shoulder_up=(0.0, 0.0),
    shoulder_out=(0.0, 0.0),
    shoulder_in_raised=0.0,  # extra inward shift with the upper arm >= 140 degrees from hanging
    ankle_up=(0.0, 0.0),
    elbow_up=(0.0, 0.0),     # elbows up the upper arm, toward the shoulder (measured 0.8-1.9 cm, medians)
    knee_up=(0.0, 0.0),      # knees up the thigh, toward the hip (measured IQR -1.0..2.2 cm)
    # Per left/right pair (LR_PAIRS order), the (lo, hi) range of the factor that scales the pair's vertical
    # separation in the image (``level_pairs``; () or None: none, nothing drawn).
    lr_y_scale=(),
    disable=False,
)


# COCO-17 left/right pairs, in the order of ``lr_y_scale``: shoulders, elbows, wrists, hips, knees, ankles.
LR_PAIRS = ((5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))


def level_pairs(rng: np.random.Generator, kp: np.ndarray, cfg: dict) -> np.ndarray:
    """(B, T, 17, 2) pixels with each left/right pair drawn more level than it is: the pair's vertical
    separation (image y, about its midpoint) times a factor drawn per window and pair from
    ``lr_y_scale``. BlazePose does this (measured on rendered clips: its left-minus-right y follows the
    truth's with slope 0.4 for the hips, 0.7-1.0 for the other pairs), and the vertical separation is what
    tells an elevated camera which side of the body is nearer. Unset: ``kp`` unchanged, nothing drawn."""
    spans = cfg.get("lr_y_scale") or ()
    if len(spans) == 0:
        return kp
    if len(spans) != len(LR_PAIRS):
        raise ValueError(f"lr_y_scale needs one (lo, hi) range per left/right pair ({len(LR_PAIRS)}), got {len(spans)}")
    out = kp.copy()
    for (left, right), (lo, hi) in zip(LR_PAIRS, spans):
        f = rng.uniform(lo, hi, kp.shape[0])[:, None]
        mid = (kp[:, :, left, 1] + kp[:, :, right, 1]) / 2
        out[:, :, left, 1] = mid + f * (kp[:, :, left, 1] - mid)
        out[:, :, right, 1] = mid + f * (kp[:, :, right, 1] - mid)
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-6)


def _is_set(cfg: dict, key: str) -> bool:
    """Whether an optional offset is configured (non-zero); unset ones draw nothing."""
    return bool(np.any(np.asarray(cfg.get(key, 0.0)) != 0))


def _toward(rng: np.random.Generator, joints: np.ndarray, span, pairs) -> dict[int, np.ndarray]:
    """{joint: (B, T, 3)}: each joint of ``pairs`` (joint, toward) moved a distance drawn from ``span``
    (one per window, in the order of ``pairs``) along joint -> toward."""
    out = {}
    for j, toward in pairs:
        a = rng.uniform(*span, joints.shape[0])[:, None, None]
        out[j] = joints[:, :, j] + a * _unit(joints[:, :, toward] - joints[:, :, j])
    return out


def hip_bias(rng: np.random.Generator, joints: np.ndarray, cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """Biased 3D hip positions (B, T, 2, 3) for (left, right) hip: up along the torso, outwards and
    (with ``hip_fwd`` set) forwards, the way the body faces. ``hip_fwd`` draws only when it is set, so
    older configs keep their random streams."""
    B = joints.shape[0]
    pelvis, thorax = joints[:, :, 0], joints[:, :, 8]
    up = _unit(thorax - pelvis)
    out = []
    if cfg.get("disable"):
        return joints[:, :, 4], joints[:, :, 1]
    a_up = rng.uniform(*cfg["hip_up"], B)[:, None, None]
    a_out = rng.uniform(*cfg["hip_out"], B)[:, None, None]
    shift = a_up * up
    if _is_set(cfg, "hip_fwd"):
        forward = _unit(np.cross(joints[:, :, 4] - joints[:, :, 1], up))  # (right -> left) x up
        shift = shift + rng.uniform(*cfg["hip_fwd"], B)[:, None, None] * forward
    for j in (4, 1):
        lat = _unit(joints[:, :, j] - pelvis)
        out.append(joints[:, :, j] + shift + a_out * lat)
    return out[0], out[1]


def limb_bias(rng: np.random.Generator, joints: np.ndarray, cfg: dict) -> dict[int, np.ndarray]:
    """Biased 3D shoulders, ankles, elbows and knees {H36M index: (B, T, 3)} (BlazePose's landmarks sit
    off the joint centres): shoulders ``a_up`` along pelvis -> thorax and ``a_out`` along thorax -> shoulder
    (one draw per window and side), minus ``shoulder_in_raised`` x (0 at 100, 1 from 140 degrees of the
    upper arm from hanging) outwards; ankles ``ankle_up`` along ankle -> knee; elbows ``elbow_up`` along
    elbow -> shoulder and knees ``knee_up`` along knee -> hip (each drawn after the others, and only
    when set). Returns {} when all are zero, without drawing (older configs keep their random streams)."""
    B = joints.shape[0]
    if cfg.get("disable") or not any(_is_set(cfg, k) for k in
                                     ("shoulder_up", "shoulder_out", "shoulder_in_raised", "ankle_up", "elbow_up",
                                      "knee_up")):
        return {}
    out = {}
    up = _unit(joints[:, :, 8] - joints[:, :, 0])
    for sho, elb in ((11, 12), (14, 15)):
        lat = joints[:, :, sho] - joints[:, :, 8]
        lat = _unit(lat - np.sum(lat * up, -1, keepdims=True) * up)
        a_up = rng.uniform(*cfg["shoulder_up"], B)[:, None, None]
        a_out = rng.uniform(*cfg["shoulder_out"], B)[:, None, None]
        arm = _unit(joints[:, :, elb] - joints[:, :, sho])
        raised = np.degrees(np.arccos(np.clip(np.sum(arm * -up, -1, keepdims=True), -1.0, 1.0)))
        a_out = a_out - cfg["shoulder_in_raised"] * np.clip((raised - 100.0) / 40.0, 0.0, 1.0)
        out[sho] = joints[:, :, sho] + a_up * up + a_out * lat
    out.update(_toward(rng, joints, cfg["ankle_up"], ((6, 5), (3, 2))))  # ankle -> knee
    if _is_set(cfg, "elbow_up"):
        out.update(_toward(rng, joints, cfg["elbow_up"], ((12, 11), (15, 14))))  # elbow -> shoulder
    if _is_set(cfg, "knee_up"):
        out.update(_toward(rng, joints, cfg["knee_up"], ((5, 4), (2, 1))))  # knee -> hip
    return out


def _episodes(rng: np.random.Generator, shape: tuple, p_start: np.ndarray, mean_len: float) -> np.ndarray:
    """Boolean (B, T, K) masks of episodes that start with probability p_start per frame."""
    B, T, K = shape
    start = rng.random(shape) < p_start
    length = rng.geometric(1.0 / mean_len, shape)
    # extend each start over its length with a running "remaining" counter (T is small)
    mask = np.zeros(shape, bool)
    remaining = np.zeros((B, K), np.int64)
    for t in range(T):
        remaining = np.where(start[:, t], np.maximum(remaining, length[:, t]), remaining)
        mask[:, t] = remaining > 0
        remaining = np.maximum(remaining - 1, 0)
    return mask


def _smooth_noise(rng: np.random.Generator, shape: tuple, frames: float) -> np.ndarray:
    """Unit-variance Gaussian noise along axis 1 with an exponential correlation time."""
    B, T = shape[:2]
    a = np.exp(-1.0 / max(frames, 1e-3))
    e = rng.normal(size=shape)
    out = np.empty(shape)
    out[:, 0] = e[:, 0]
    s = np.sqrt(1 - a * a)
    for t in range(1, T):
        out[:, t] = a * out[:, t - 1] + s * e[:, t]
    return out


def _swap_pairs(limb_swap_p) -> tuple[tuple, np.ndarray]:
    """The pairs limb swaps act on and their per-frame episode-start probabilities, (1, 1, K)-shaped."""
    p = np.asarray(limb_swap_p, np.float64)
    if p.ndim == 0:  # the original model: one rate for the elbows, wrists, knees, ankles (same draws as before)
        return LR_PAIRS[1:3] + LR_PAIRS[4:], p
    if p.shape != (len(LR_PAIRS),):
        raise ValueError(f"noise.limb_swap_p: one number or {len(LR_PAIRS)} (shoulders, elbows, wrists, hips, "
                         f"knees, ankles), got {p.size}")
    return LR_PAIRS, p.reshape(1, 1, -1)


def apply_noise(rng: np.random.Generator, kp: np.ndarray, h: np.ndarray, cfg: dict | None = None) -> np.ndarray:
    """(B, T, 17, 2) true COCO-17 pixels, h (B,) person height in pixels ->
    (B, T, 17, 3) noisy pixels + confidence."""
    c = dict(NOISE_DEFAULTS)
    c.update(cfg or {})
    B, T, K, _ = kp.shape
    if c["disable"]:
        return np.concatenate([kp, np.ones((B, T, K, 1))], -1)
    kp = level_pairs(rng, kp, c)  # systematic, so before the jitter
    hh = h.reshape(B, 1, 1, 1)
    q = rng.uniform(*c["quality_range"], B).reshape(B, 1, 1, 1)
    js = np.asarray(c["joint_scale"], np.float64).reshape(1, 1, K, 1)
    outlier_p = np.asarray(c["outlier_p"], np.float64)
    err = (rng.normal(size=(B, T, K, 2)) * c["white_sigma"]
           + _smooth_noise(rng, (B, T, K, 2), c["smooth_frames"]) * c["smooth_sigma"]
           + rng.normal(size=(B, 1, K, 2)) * c["bias_sigma"]) * q * js * hh
    out = kp + err

    # gross errors: episodes of a roughly constant large offset
    p = np.clip(outlier_p * c["outlier_scale"], 0, 0.9)
    p_start = p / (c["outlier_mean_len"] * (1 - p) + p)  # stationary fraction ~ p
    om = _episodes(rng, (B, T, K), p_start.reshape(1, 1, K), c["outlier_mean_len"])
    lo, hi = c["outlier_mag"]
    mag = np.exp(rng.uniform(np.log(lo), np.log(hi), (B, 1, K, 1))) * hh
    ang = rng.uniform(0, 2 * np.pi, (B, 1, K))
    off = np.stack([np.cos(ang), np.sin(ang)], -1) * mag
    off = off + rng.normal(size=(B, T, K, 2)) * 0.2 * mag  # wobble within the episode
    out = np.where(om[..., None], out + off, out)

    # one limb read as the other one (left/right pair swap) for an episode
    pairs, swap_p = _swap_pairs(c["limb_swap_p"])
    sw = _episodes(rng, (B, T, len(pairs)), swap_p, float(c["limb_swap_len"]))
    for k, (a, b) in enumerate(pairs):
        m = sw[:, :, k, None]
        oa, ob = out[:, :, a].copy(), out[:, :, b].copy()
        out[:, :, a] = np.where(m, ob, oa)
        out[:, :, b] = np.where(m, oa, ob)
        om[:, :, a] |= sw[:, :, k]
        om[:, :, b] |= sw[:, :, k]

    # whole-body left/right swap (front read as back) for a run of frames
    body = rng.random(B) < c["body_swap_p"]
    if body.any():
        L = rng.integers(max(2, T // 4), T + 1, B)
        s0 = rng.integers(0, T, B)
        t = np.arange(T)[None]
        m = body[:, None] & (t >= s0[:, None]) & (t < (s0 + L)[:, None])
        out = np.where(m[..., None, None], out[:, :, COCO_FLIP], out)

    # confidence correlated with the error
    e = np.linalg.norm(out - kp, axis=-1) / h.reshape(B, 1, 1)
    k_slope = np.where(om, rng.uniform(0.5, 3.0, (B, T, K)), 3.0)
    conf = 0.97 - k_slope * e + rng.normal(0, 0.06, (B, T, K))
    conf = np.clip(conf, 0.1, 1.0)

    # dropped keypoints: lost by the detector, low confidence, position anywhere near
    dm = _episodes(rng, (B, T, K), c["drop_p"] * (0.5 + 3 * outlier_p).reshape(1, 1, K), 6.0)
    if dm.any():
        far = rng.normal(size=(B, 1, K, 2)) * 0.12 * hh
        out = np.where(dm[..., None], out + far, out)
        conf = np.where(dm, rng.uniform(0.0, 0.15, (B, T, K)), conf)
    return np.concatenate([out, conf[..., None]], -1)


def observe(rng: np.random.Generator, windows: np.ndarray, project, h: np.ndarray, cfg: dict) -> np.ndarray:
    """(B, T, 17, 3) H36M joints -> (B, T, 17, 2) image points as the noise model has the 2D stage see them,
    in H36M order: hips and limb joints moved as BlazePose has them (``hip_bias``, ``limb_bias``, in
    training's order), ``project``ed ((B, T, 17, 3) -> (B, T, 17, 2) pixels), then ``apply_noise`` on
    COCO-17 with ``h`` (B,) the person's height in pixels. For measuring the model against the 2D stage
    (the limbs); training (``data.make_batch``) also projects its own face points."""
    biased = windows.copy()
    biased[:, :, 4], biased[:, :, 1] = hip_bias(rng, windows, cfg)
    for j, moved in limb_bias(rng, windows, cfg).items():
        biased[:, :, j] = moved
    return coco17_to_h36m(apply_noise(rng, h36m_to_coco17(project(biased)), h, cfg))[..., :2]
