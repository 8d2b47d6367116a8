#!/usr/bin/env python
"""Human body proportions for training: bone-length ratios of anny bodies of random phenotype.

    ANNY_CACHE_DIR=/work/anny-cache python scripts/anny_proportions.py --out vid2pose/train/body_proportions.csv

Why: the motion capture comes on a few rigs (83 % of it on one Bandai Namco skeleton with narrow
shoulders and a small head), and uniform draws of each bone ratio (``PROPORTION_RANGES``) give
bodies whose ratios do not go together. anny (CC0, NAVER) is a parametric model of real human
anthropometry (MakeHuman lineage): its phenotype (gender, age, height, weight, muscle) gives
proportions that occur together in people. Each row is one anny body at rest; its H36M-17 joints
are read as the renderer reads them (``vid2pose.render.body.anny_h36m_joints``), and each bone
group's length is divided by the leg length (hip-knee + knee-ankle), as ``random_proportions``
uses it. Age is drawn from 0.25 (teenager) to 1, height from 0.3 (below it anny shortens mostly the
thigh: thigh / leg falls under 0.45, outside human ranges and THIGH_SHARE), the rest from 0 to 1. Seeded.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vid2pose import atomic  # noqa: E402
from vid2pose.train.data import PROPORTION_COLUMNS, PROPORTION_RANGES, bone_lengths, _leg_lengths  # noqa: E402

PHENOTYPE = ("gender", "age", "height", "weight", "muscle")
LOW = {"age": (0.25, 1.0), "height": (0.3, 1.0)}  # draw ranges other than 0..1 (see above)


def body_ratios(body, phenotype: dict) -> np.ndarray:
    """One row of ratios (PROPORTION_COLUMNS order) for an anny body of ``phenotype``."""
    from vid2pose.render.body import anny_h36m_joints

    body.set_phenotype(phenotype)  # builds the rest body once; its bones and mesh are kept
    J = anny_h36m_joints(body.rest_poses[None], body.rest_vertices[None], body.labels, body.nose_vertex,
                         body.head_top_vertex)  # (1, 17, 3)
    L = bone_lengths(J[None])  # (1, 17)
    leg = _leg_lengths(L)[0]
    ratios = [L[0, g[0]] / leg for g, _, _ in PROPORTION_RANGES]
    thigh = (L[0, 2] + L[0, 5]) / (L[0, 2] + L[0, 3] + L[0, 5] + L[0, 6])
    return np.array(ratios + [thigh])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "vid2pose/train/body_proportions.csv")
    p.add_argument("--bodies", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    import torch

    from vid2pose.mesh.anny_body import AnnyBody

    rng = np.random.default_rng(a.seed)
    body = AnnyBody()
    rows = []
    with torch.no_grad():
        for i in range(a.bodies):
            ph = {k: float(rng.uniform(*LOW.get(k, (0.0, 1.0)))) for k in PHENOTYPE}
            rows.append([ph[k] for k in PHENOTYPE] + body_ratios(body, ph).tolist())
            if (i + 1) % 50 == 0:
                print(f"{i + 1}/{a.bodies} bodies", file=sys.stderr)
    head = ("# Bone-length ratios (of the leg length) of anny bodies of random phenotype, made by "
            f"scripts/anny_proportions.py --bodies {a.bodies} --seed {a.seed}. anny: CC0 assets.\n"
            + ",".join(PHENOTYPE + PROPORTION_COLUMNS) + "\n")
    text = head + "".join(",".join(f"{v:.4f}" for v in r) + "\n" for r in rows)
    atomic.write_text(a.out, text)
    R = np.array(rows)[:, len(PHENOTYPE):]
    for name, col in zip(PROPORTION_COLUMNS, R.T):
        print(f"{name:10s} {col.min():.3f} .. {col.max():.3f} (median {np.median(col):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
