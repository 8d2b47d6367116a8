"""Lifter evaluation: MPJPE, P-MPJPE, N-MPJPE and acceleration error, in millimetres.

The model's output (model units of the "box" normalisation, root-relative, depth scaled like
x) is turned into metres with the TRUE scale of each clip, known in evaluation: the window's
box side ``s`` and the camera's focal length, principal point, the root's pixel position and
depth. Each joint is back-projected: ``Z_j = Z_root (1 + d_j / f)`` with ``d_j`` the depth in
pixels at the root's distance, ``X_j = (u_j - c_x) Z_j / f`` (same for Y), then made
root-relative and compared with the true root-relative camera-space joints.

* MPJPE: mean joint distance after root alignment (pelvis set to zero in both).
* P-MPJPE: after per-frame similarity Procrustes (rotation, uniform scale, translation;
  reflections excluded).
* N-MPJPE: after per-frame optimal uniform scale only (MotionBERT/Rhodin et al.).
* Acceleration error: mean norm of the difference of second differences (mm/frame^2 at the
  lifter's fps).
"""
from __future__ import annotations

import numpy as np
import torch

from vid2pose.lift.sequence import back_project
from vid2pose.models.flip import flip_average


def model_to_metres(pred: np.ndarray, s: np.ndarray, f: np.ndarray, c: np.ndarray, root_uv: np.ndarray,
                    root_z: np.ndarray) -> np.ndarray:
    """(B, T, 17, 3) model units -> root-relative camera-space metres (B, T, 17, 3): the read-out
    `vid2pose run` uses (``lift.sequence.back_project``), with the true root position and depth."""
    uvd = pred * (s / 2).reshape(-1, 1, 1, 1)
    uvd[..., :2] += root_uv[:, :, None] - uvd[..., :1, :2]
    return np.stack([back_project(w, fb, cb[0], cb[1]) * (rz / fb)[:, None, None]
                     for w, fb, cb, rz in zip(uvd, f, c, root_z)])


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame mean joint error (...,) of (..., J, 3) poses (no alignment)."""
    return np.linalg.norm(pred - gt, axis=-1).mean(-1)


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Similarity-align pred to gt per pose ((..., J, 3)); rotations only (no reflection)."""
    mp, mg = pred.mean(-2, keepdims=True), gt.mean(-2, keepdims=True)
    X, Y = pred - mp, gt - mg
    nx = np.sqrt((X ** 2).sum((-2, -1), keepdims=True))
    ny = np.sqrt((Y ** 2).sum((-2, -1), keepdims=True))
    X, Y = X / np.maximum(nx, 1e-12), Y / np.maximum(ny, 1e-12)
    H = np.swapaxes(X, -1, -2) @ Y  # (..., 3, 3)
    U, S, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.swapaxes(Vt, -1, -2) @ np.swapaxes(U, -1, -2)))
    D = np.ones(S.shape)
    D[..., -1] = d
    R = np.swapaxes(Vt, -1, -2) @ (D[..., :, None] * np.swapaxes(U, -1, -2))  # maps X to Y: Y ~ X R^T
    tr = (S * D).sum(-1)[..., None, None]
    scale = tr * ny / np.maximum(nx, 1e-12)
    return scale * (pred - mp) @ np.swapaxes(R, -1, -2) + mg


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return mpjpe(procrustes_align(pred, gt), gt)


def n_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame error after the optimal uniform scale of pred (root-relative poses)."""
    num = (pred * gt).sum((-2, -1), keepdims=True)
    den = np.maximum((pred * pred).sum((-2, -1), keepdims=True), 1e-12)
    return mpjpe(pred * num / den, gt)


def accel_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(..., T, J, 3) sequences -> per-frame (..., T-2) acceleration error."""
    ap = pred[..., 2:, :, :] - 2 * pred[..., 1:-1, :, :] + pred[..., :-2, :, :]
    ag = gt[..., 2:, :, :] - 2 * gt[..., 1:-1, :, :] + gt[..., :-2, :, :]
    return np.linalg.norm(ap - ag, axis=-1).mean(-1)


@torch.no_grad()
def predict(model: torch.nn.Module, inp: np.ndarray, flip: bool = True, batch: int = 64) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(inp), batch):
        x = torch.from_numpy(np.ascontiguousarray(inp[i:i + batch]))
        y = flip_average(model, x) if flip else model(x)
        out.append(y.numpy())
    pred = np.concatenate(out) if out else np.zeros_like(inp)
    pred[:, :, 0, :] = 0.0  # root-relative, as the lineage does
    return pred


def evaluate_batch(model: torch.nn.Module, batch: dict, flip: bool = True) -> dict:
    """Per-window metrics (mm) of a batch from ``data.make_batch``."""
    pred = predict(model, batch["input"], flip=flip)
    P = model_to_metres(pred, batch["s"], batch["f"], batch["c"], batch["view_root_uv"], batch["view_root_z"])
    P = np.einsum("btjk,bkl->btjl", P, batch["turn"])  # from the lifted view back to the camera (x R)
    return window_scores(P, batch["gt_cam"].astype(np.float64))


def window_scores(P: np.ndarray, G: np.ndarray) -> dict:
    """Per-window metrics (mm) of (B, T, 17, 3) root-relative camera-space predictions and truth."""
    return dict(
        mpjpe=mpjpe(P, G).mean(-1) * 1000,
        p_mpjpe=p_mpjpe(P, G).mean(-1) * 1000,
        n_mpjpe=n_mpjpe(P, G).mean(-1) * 1000,
        accel=accel_error(P, G).mean(-1) * 1000,
    )


def summarize(per_window: dict, sources: list[str], frames: np.ndarray | None = None) -> dict:
    """Mean of each metric per source and overall, weighted by ``frames`` per window (default:
    equal-length windows, equal weights)."""
    keys = ("mpjpe", "p_mpjpe", "n_mpjpe", "accel")
    src = np.array(sources)
    w = np.ones(len(src)) if frames is None else np.asarray(frames, np.float64)
    groups = {name: (src == name) for name in sorted(set(sources))}
    groups["overall"] = np.ones(len(src), bool)
    cmu = np.char.startswith(src.astype(str), "cmu_")
    if cmu.any() and not cmu.all():
        groups["cmu_all"] = cmu
    out = {}
    for name, m in groups.items():
        out[name] = {k: float(np.average(per_window[k][m], weights=w[m])) for k in keys}
        out[name]["windows"] = int(m.sum())
    return out


def evaluate_corpus(model: torch.nn.Module, corpus, T: int, cfg: dict, seed: int = 1234, flip: bool = True,
                    max_per_clip: int | None = 40, batch: int = 128, draws: int = 1) -> dict:
    """Metrics on fixed windows of every clip of ``corpus``, each seen ``draws`` times through a
    camera and the noise model drawn from ``seed`` (the same draws every time)."""
    from vid2pose.train.data import eval_windows, make_batch

    clips, ts = eval_windows(corpus, T, max_per_clip=max_per_clip)
    clips, ts = np.repeat(clips, draws), np.repeat(ts, draws, axis=0)
    rng = np.random.default_rng(seed)
    acc: dict[str, list] = {k: [] for k in ("mpjpe", "p_mpjpe", "n_mpjpe", "accel")}
    sources: list[str] = []
    for i in range(0, len(clips), batch):
        b = make_batch(rng, corpus, 0, T, cfg, windows=(clips[i:i + batch], ts[i:i + batch]), augment=False)
        r = evaluate_batch(model, b, flip=flip)
        for k in acc:
            acc[k].append(r[k][b["ok"]])
        sources += [s for s, ok in zip(b["sources"], b["ok"]) if ok]
    per = {k: np.concatenate(v) if v else np.zeros(0) for k, v in acc.items()}
    return summarize(per, sources)


def sequence_spans(corpus, T: int, span: int, max_per_clip: int | None = None) -> list[tuple[int, int, int]]:
    """(clip, first frame, length) of back-to-back spans of ``span`` frames, picked per clip as
    ``data.eval_windows`` picks windows; a clip shorter than ``span`` (but not than the lifter's T)
    is one span of its own length."""
    from vid2pose.train.data import eval_windows

    clips, ts = eval_windows(corpus, span, max_per_clip=max_per_clip)
    spans = [(int(c), int(t[0]), span) for c, t in zip(clips, ts)]
    spans += [(i, 0, int(L)) for i, L in enumerate(corpus.lengths) if T <= L < span]
    return sorted(spans)


def evaluate_sequences(lifter, corpus, cfg: dict, seed: int = 1234, span: int = 90,
                       max_per_clip: int | None = 12, hops: int | None = None, draws: int = 1,
                       recentre: bool = True, constant_bones: bool = False, repair_swaps: bool = True) -> dict:
    """Metrics of spans of ``span`` frames lifted as ``vid2pose run`` lifts a track
    (``lift.sequence.lift_sequence``: overlapping windows, flip averaging, blending; with ``constant_bones``
    then one length per bone, ``lift.lifting.constant_bone_lengths``; with ``repair_swaps``, `run`'s default,
    the span's 2D first goes through its limb-swap repair, ``lift.swaps``), each seen
    ``draws`` times through a camera and the noise model drawn from ``seed``. ``lifter`` is a
    ``LoadedLifter``; the corpus must be at its frame rate. Means are weighted by frames."""
    from vid2pose.lift.lifting import constant_bone_lengths
    from vid2pose.lift.sequence import LiftOptions, lift_sequence
    from vid2pose.lift.swaps import repair_limb_swaps
    from vid2pose.train.data import make_batch

    rng = np.random.default_rng(seed)
    opts = LiftOptions(hops=hops, recentre=recentre)
    acc: dict[str, list] = {k: [] for k in ("mpjpe", "p_mpjpe", "n_mpjpe", "accel")}
    sources, frames = [], []
    for clip, s0, n in [c for c in sequence_spans(corpus, lifter.spec.clip_len, span, max_per_clip)
                        for _ in range(draws)]:
        t = (s0 + np.arange(n, dtype=np.float64))[None]
        b = make_batch(rng, corpus, 0, n, cfg, windows=(np.array([clip]), t), augment=False)
        if not b["ok"][0]:
            continue
        kp = b["kp2d"][0]
        if repair_swaps and not b["swaps_repaired"]:  # run repairs the whole track before lifting
            kp = repair_limb_swaps(kp)[0]
        y = lift_sequence(kp, lifter.spec.fps, 0, 0, lifter, opts,  # camera space, pixels at root depth
                          focal=float(b["f"][0]), centre=(float(b["c"][0, 0]), float(b["c"][0, 1])))
        # as `run` reads it (vid2pose.lift.lifting): root-relative camera-space pixels at the root's
        # depth, so metres = pixels * depth / focal (here with the true depth: the scale is not scored)
        P = y[None].astype(np.float64) * (b["root_z"][..., None, None] / b["f"][:, None, None, None])
        if constant_bones:  # as `run --constant-bones` does (after its metric scale, here the true one)
            P = constant_bone_lengths(P[0])[None]
        for k, v in window_scores(P, b["gt_cam"].astype(np.float64)).items():
            acc[k].append(v)
        sources.append(b["sources"][0])
        frames.append(n)
    per = {k: np.concatenate(v) if v else np.zeros(0) for k, v in acc.items()}
    return summarize(per, sources, np.array(frames))
