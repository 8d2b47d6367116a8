"""Time per training step of the lifter, by phase, in one process and in data-parallel processes.

    python benchmarks/train_step.py [--config configs/ssr-stf-one-run.yaml] [--steps 20]

Windows of the config's shape filled with random numbers (the time does not depend on the values; the
batch maker is left out: benchmarks of it need the mocap). Three ways to run a step of the config's batch:

- one process with the config's threads, the whole batch;
- ``processes`` processes of one thread, each its share, started together but not talking to each other
  (what sharing the cores and memory costs);
- the same processes with the gradients all-reduced, as ``train-lifter`` runs them.

Prints the median milliseconds of each phase (forward, loss and backward, all-reduce, optimiser step
with the moving average) and of the whole step.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vid2pose.train import train as tr  # noqa: E402

PHASES = ("forward", "backward", "all-reduce", "optimiser", "step")


def time_steps(cfg: dict, batch: int, threads: int, steps: int, rank: int = 0, world: int = 1,
               store: str | None = None, barrier=None) -> dict:
    """Median ms per phase over ``steps`` steps after two warm-up steps. ``store``: all-reduce the
    gradients with the other ``world`` processes through this rendezvous file (gloo)."""
    torch.set_num_threads(threads)
    torch.manual_seed(rank)
    if store:
        import datetime

        import torch.distributed as dist

        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                                timeout=datetime.timedelta(minutes=5))
    model = tr.build_model(cfg, fresh=True).train()
    o = cfg["optim"]
    opt = torch.optim.AdamW(model.parameters(), lr=o["lr"], weight_decay=o["weight_decay"])
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    params = list(model.parameters())
    T = cfg["clip_len"]
    x = torch.randn(batch, T, 17, 3)
    y = torch.randn(batch, T, 17, 3) * 0.3
    if barrier is not None:
        barrier.wait()  # the processes start their steps together
    times = {p: [] for p in PHASES}
    for i in range(steps + 2):
        t0 = time.perf_counter()
        pred = model(x)
        t1 = time.perf_counter()
        loss, _ = tr.lifter_loss(pred, y, cfg["loss"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        value = float(loss.detach())
        t2 = time.perf_counter()
        if store:
            tr.average_gradients(params, value, [0.0, 0.0, 0.0], world)
        t3 = time.perf_counter()
        if o.get("grad_clip"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), o["grad_clip"])
        opt.step()
        tr.update_ema(ema, model, 0.999)
        t4 = time.perf_counter()
        if i >= 2:
            for p, dt in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                times[p].append(1000 * dt)
    if store:
        import torch.distributed as dist

        dist.destroy_process_group()
    return {p: statistics.median(v) for p, v in times.items()}


def _process(queue, *args):
    queue.put(time_steps(*args))


def in_processes(cfg: dict, world: int, steps: int, reduce: bool) -> list[dict]:
    """``world`` processes of one thread, each ``batch / world`` windows; their medians."""
    ctx = torch.multiprocessing.get_context("spawn")
    queue, barrier = ctx.Queue(), ctx.Barrier(world)
    store = os.path.join(tempfile.mkdtemp(), "store") if reduce else None
    procs = [ctx.Process(target=_process, args=(queue, cfg, cfg["batch_size"] // world, 1, steps, rank, world, store,
                                                barrier)) for rank in range(world)]
    for p in procs:
        p.start()
    results = []
    while len(results) < world:  # a process that died never reports: fail instead of waiting forever
        try:
            results.append(queue.get(timeout=1.0))
        except Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead:
                for p in procs:
                    p.kill()
                raise RuntimeError(f"a timing process failed (exit code {dead[0]})")
    for p in procs:
        p.join()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "ssr-stf-one-run.yaml")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per way (after 2 warm-up steps)")
    a = ap.parse_args()
    cfg = tr.deep_update(tr.DEFAULTS, tr.load_config(a.config))
    world, threads = tr.processes_of(cfg), int(cfg["threads"])
    print(f"{a.config.name}: batch {cfg['batch_size']} windows of {cfg['clip_len']} frames, "
          f"{sum(p.numel() for p in tr.build_model(cfg, fresh=True).parameters()) / 1e6:.2f} M parameters, "
          f"{os.cpu_count()} cores, torch {torch.__version__}")
    rows = [(f"1 process, {threads} thread(s), {cfg['batch_size']} windows",
             time_steps(cfg, cfg["batch_size"], threads, a.steps))]
    if world > 1:
        share = cfg["batch_size"] // world
        for reduce in (False, True):
            res = in_processes(cfg, world, a.steps, reduce)
            worst = {p: max(r[p] for r in res) for p in PHASES}  # a step waits for the slowest process
            rows.append((f"{world} processes of 1 thread, {share} windows each, "
                         + ("all-reduced" if reduce else "not talking"), worst))
    print(f"{'median ms per step':<58}" + "".join(f"{p:>11}" for p in PHASES))
    for name, t in rows:
        print(f"{name:<58}" + "".join(f"{t[p]:>11.0f}" for p in PHASES))


if __name__ == "__main__":
    main()
