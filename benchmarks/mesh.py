"""Per-stage cost of the GLoT mesh chain on this machine: prints a table of ms per frame.

    python benchmarks/mesh.py                      # 1 thread, default batches
    python benchmarks/mesh.py --threads 2 --resnet-batch 1 16 --repeat 5

Stages (random weights and made-up inputs of the real sizes: nothing to download):
  crop     square box of a 1280x720 frame -> 224x224 normalised crop ("opencv4" = exact official
           pixels in numpy, "cv2" = the installed OpenCV)
  resnet50 SPIN's ResNet-50 trunk, per crop
  glot     GLoT, released config (16.7 M parameters), per 16-frame window (= per output frame)
  smpl     SMPL forward from rotation matrices, a random model with 6890 vertices / 13776 faces
  write    one mesh file (6890 vertices) through MeshSequenceWriter, .npz append included
  anny     the default body posed from H36M-17 joints (rotations + anny skinning, 13,718 vertices),
           when the anny package is installed (its first use builds a cache: about a minute)
Times are the best of --repeat runs after a warm-up (the minimum is the figure least disturbed by
other load on a shared machine). Nothing is asserted.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def best_ms(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--resnet-batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--glot-batch", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--smpl-batch", type=int, nargs="+", default=[1, 64])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from vid2pose.export.meshes import MeshSequenceWriter
    from vid2pose.mesh.glot_pipeline import _crop_one, square_boxes
    from vid2pose.mesh.glot_chain import normalize_crops
    from vid2pose.mesh.smpl import SMPLBody, random_smpl_arrays
    from vid2pose.models.glot import RELEASED_CONFIG, GLoT
    from vid2pose.models.resnet50 import SpinResNet50

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, best of {args.repeat}")
    rows: list[tuple[str, str, int, float]] = []

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    box = square_boxes(np.array([[500.0, 100.0, 780.0, 650.0]]))[0]
    for backend in ("opencv4", "cv2"):
        ms = best_ms(lambda: normalize_crops(_crop_one(frame, box, True, backend)[None]), args.repeat * 5)
        rows.append(("crop", backend, 1, ms))

    resnet = SpinResNet50().eval()
    for b in args.resnet_batch:
        x = torch.randn(b, 3, 224, 224)
        with torch.no_grad():
            rows.append(("resnet50", "SPIN trunk", b, best_ms(lambda: resnet(x), args.repeat)))
    del resnet

    glot = GLoT(**RELEASED_CONFIG).eval()
    for b in args.glot_batch:
        x = torch.rand(b, 16, 2048)
        with torch.no_grad():
            rows.append(("glot", "released config", b, best_ms(lambda: glot(x), args.repeat)))
    del glot

    arrays = random_smpl_arrays()
    body = SMPLBody(arrays, rng.random((9, 6890)) / 6890, rng.random((17, 6890)) / 6890)
    for b in args.smpl_batch:
        rot = torch.linalg.matrix_exp(0.3 * (lambda m: m - m.transpose(-1, -2))(torch.randn(b, 24, 3, 3)))
        betas = torch.randn(b, 10)
        rows.append(("smpl", "6890 verts + H36M/49 joints", b, best_ms(lambda: body(rot, betas), args.repeat)))

    verts = (arrays["v_template"] + [0.0, 0.0, 4.0]).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("obj", "ply", "glb"):
            w = MeshSequenceWriter(Path(tmp) / fmt, arrays["f"], fmt=fmt, npz=True)
            counter = iter(range(10 ** 6))
            ms = best_ms(lambda: w.add(1, next(counter), verts), args.repeat * 5)
            w.close()
            rows.append(("write", f"{fmt} + npz append", 1, ms))

    try:
        from vid2pose.mesh.anny_body import AnnyBody

        anny_body = AnnyBody()
    except Exception as e:  # not installed: the GLoT rows still stand
        print(f"anny stage skipped: {e}")
        anny_body = None
    if anny_body is not None:
        # a person standing 3 m from the camera (x right, y down, z forward), waving the left hand
        stand = np.array([[0, 0, 0], [-0.1, 0, 0], [-0.1, 0.45, 0], [-0.1, 0.9, 0], [0.1, 0, 0], [0.1, 0.45, 0],
                          [0.1, 0.9, 0], [0, -0.25, 0], [0, -0.5, 0], [0, -0.6, -0.05], [0, -0.72, 0],
                          [0.18, -0.5, 0], [0.45, -0.5, 0], [0.7, -0.5, 0], [-0.18, -0.5, 0], [-0.45, -0.5, 0],
                          [-0.7, -0.5, 0]]) + [0.0, 0.0, 3.0]
        joints = np.repeat(stand[None], 32, axis=0)
        joints[:, 13, 1] += 0.2 * np.sin(2 * np.pi * np.arange(32) / 30.0)
        fit = anny_body.fit(joints)
        rows.append(("anny", "fit proportions (per person)", 32, best_ms(lambda: anny_body.fit(joints), args.repeat)))
        for b in (1, 32):
            rows.append(("anny", "pose + skin from 17 joints", b,
                         best_ms(lambda: anny_body.pose(joints[:b], fit=fit), args.repeat)))

    print(f"{'stage':<10} {'variant':<28} {'batch':>5} {'best ms':>9} {'ms/frame':>9}")
    for stage, variant, b, ms in rows:
        print(f"{stage:<10} {variant:<28} {b:>5} {ms:>9.1f} {ms / b:>9.2f}")


if __name__ == "__main__":
    main()
