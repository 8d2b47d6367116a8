"""Forward cost of the lifters (random weights, eval mode, no grad): prints a table.

    python benchmarks/lift_models.py                       # SSRSTF sizes, T 27/81/243, batch 1 and 8
    python benchmarks/lift_models.py --models ssrstf-xs motionagformer-xs --frames 27 --batch 1

Times are the best of --repeat runs after one warm-up (the minimum is the figure least
disturbed by other load on a shared machine); compare the FLOP column too (torch's
counter, one clip, multiply-add = 2).
MotionAGFormer runs only at its own n_frames (its temporal BatchNorm fixes T).
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from vid2pose.models.motionagformer import MotionAGFormer
from vid2pose.models.ssrstf import SSRSTF, SSRSTF_SIZES

# Released MotionAGFormer sizes (spec ssr-stf.md 3.3): n_layers, dim_feat, n_frames.
_MAGF = {"xs": (12, 64, 27), "s": (26, 64, 81), "b": (16, 128, 243), "l": (26, 128, 243)}


def build(name: str):
    family, size = name.rsplit("-", 1)
    if family == "ssrstf":
        return SSRSTF.from_size(size), None
    if family == "motionagformer":
        n, c, t = _MAGF[size]
        return MotionAGFormer(n_layers=n, dim_feat=c, n_frames=t), t
    raise SystemExit(f"unknown model {name!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=[f"ssrstf-{s}" for s in SSRSTF_SIZES])
    ap.add_argument("--frames", nargs="+", type=int, default=[27, 81, 243])
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    print(f"torch {torch.__version__}, device {dev}, threads {torch.get_num_threads()}")
    print(f"{'model':<18} {'params':>10} {'T':>4} {'B':>3} {'GFLOP/clip':>11} {'best ms':>9} {'ms/frame':>9}")
    for name in args.models:
        model, fixed_t = build(name)
        model = model.to(dev).eval()
        n_params = sum(p.numel() for p in model.parameters())
        for t in ([fixed_t] if fixed_t else args.frames):
            for b in args.batch:
                x = torch.randn(b, t, 17, 3, device=dev)
                with torch.no_grad():
                    with FlopCounterMode(display=False) as fc:
                        model(x[:1])
                    times = []
                    for _ in range(args.repeat + 1):
                        if dev.type == "cuda":
                            torch.cuda.synchronize()
                        t0 = time.perf_counter()
                        model(x)
                        if dev.type == "cuda":
                            torch.cuda.synchronize()
                        times.append(time.perf_counter() - t0)
                ms = min(times[1:]) * 1e3
                print(f"{name:<18} {n_params:>10,} {t:>4} {b:>3} {fc.get_total_flops() / 1e9:>11.2f} "
                      f"{ms:>9.1f} {ms / (b * t):>9.2f}")


if __name__ == "__main__":
    main()
