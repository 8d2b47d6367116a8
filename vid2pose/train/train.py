"""Train the SSR-STF lifter on motion capture (CPU-friendly, resumable, time-boxed).

* Config: a YAML or JSON file (see ``configs/ssr-stf-default.yaml``); ``DEFAULTS`` below
  holds every key.
* Seeded: batch ``k`` is drawn from ``numpy.random.default_rng([seed, k])`` so a resumed run
  sees the same data as an uninterrupted one; the model init uses ``torch.manual_seed(seed)``.
* Schedule: AdamW, linear warm-up then cosine decay over ``steps``. ``steps: auto`` measures
  the speed every ``probe_steps`` steps during the first 30 % of the time budget (the load of a
  shared machine changes) and sets the step count so that training, evaluation and export fit
  in ``time_budget_min`` from the start of the run; the final number is stored in the
  checkpoint and in the weights' summary, to reproduce the run with a fixed ``steps``. With
  ``steps: auto`` a hard deadline also stops training early if the machine slows down; a fixed
  ``steps`` always runs to the end.
* Checkpoints every ``checkpoint_minutes`` to ``<run_dir>/last.pt`` (atomic); ``resume``
  continues from it. ``commands.run_export`` (``python -m vid2pose.train.commands export``) turns any checkpoint into the weights file
  and model card (also usable to stop a run early).
* Loss (the lineage's, in model units): MPJPE + 0.5 * N-MPJPE + 20 * velocity error; ``loss.procrustes``
  adds that weight times P-MPJPE (0, the default: not computed); ``loss.joint_weights`` weighs the joints
  in the position terms (unset, the default: all equal).
* ``repair_swaps`` (unset or false, the default: off) puts each training window's noisy 2D through
  `run`'s limb-swap repair (``vid2pose.lift.swaps``) before the lifter sees it, as `run` does.
* ``optim.ema_decay`` (unset or 0, the default: off) keeps an exponential moving average of the weights beside
  the trained ones (in the checkpoints, so a resumed run keeps it) and exports the average instead.
* ``processes`` (1, the default): with 2 or more, data-parallel training: that many processes of
  ``threads // processes`` threads each, every one computing ``batch_size / processes`` windows of each
  step (process ``r`` draws them from ``default_rng([seed, k, r])``), their gradients averaged by one
  all-reduce per step (``average_gradients``), so all take the same optimiser step. Why: this model's
  operations are too small for a second thread to help much (one process, 2 threads: 1.63 s per batch of 32;
  two processes of 1 thread: 1.39 s, each on 16; measured 2026-12-07). The first process does everything
  else (progress, checkpoints, the moving average, the time budget's decisions, which reach the others with
  the next step's all-reduce).
* Ctrl-C or SIGTERM (a job scheduler's warning, ``kill``) while training: the step under way is finished,
  a checkpoint written, and the run stops (``summary["interrupted"]``; ``--resume`` continues it, to the
  same weights as an uninterrupted run). With data-parallel processes the first decides and the others
  stop with it at the next all-reduce. A second Ctrl-C aborts at once (the last checkpoint stays).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path

DEFAULTS: dict = {
    "model": {"n_layers": 4, "dim_feat": 64, "dim_rep": 256, "mlp_ratio": 2, "num_heads": 8,
              "use_layer_scale": True, "layer_scale_init_value": 0.1},
    "head_init": "default",
    "grow_init": False,  # --init from a file with fewer layers: add identity layers (grow_layers)
    "clip_len": 27,
    "fps": 30.0,
    "batch_size": 16,
    "optim": {"lr": 1.0e-3, "weight_decay": 0.01, "warmup_steps": 100, "lr_min_ratio": 0.02, "grad_clip": 1.0},
    "loss": {"scale": 0.5, "velocity": 20.0},
    "steps": "auto",
    "probe_steps": 20,
    "time_budget_min": 100.0,
    "reserve_min": 9.0,
    "checkpoint_minutes": 3.0,
    "log_every": 20,
    "threads": 2,
    "source_weights": {"cmu_acrnn_daz": 2.0, "cmu_iclone_cc": 2.0, "cmu_cgspeed_bvh": 2.0, "cmu_asf_amc": 2.0,
                       "bandai_namco": 1.0},
    "augment": {},
    "noise": {},
    "camera": {},
    # windows: up to max_per_clip windows of clip_len frames per clip, each lifted alone (the lineage's
    # metric); spans: up to spans_per_clip spans of `span` frames per clip, lifted as `vid2pose run` lifts.
    # Each is seen through `draws` cameras and noise draws: with one, the CMU figures (~2,000 frames)
    # moved by up to 3 mm MPJPE between eval seeds (measured on the stage-4 weights, seeds 1-4, 1234).
    "eval": {"seed": 1234, "max_per_clip": 40, "flip": True, "span": 90, "spans_per_clip": 12, "draws": 4},
}


def deep_update(base: dict, upd: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (upd or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_update(out[k], v)
        else:
            out[k] = v
    return out


def load_config(path: Path | None) -> dict:
    """DEFAULTS updated by the config file. A file may start from another one (``base:``, a path
    relative to its own folder) and give only what it changes."""
    if path is None:
        return copy.deepcopy(DEFAULTS)
    return deep_update(DEFAULTS, _read_config(Path(path), ()))


def _read_config(path: Path, seen: tuple) -> dict:
    if path.resolve() in seen:
        raise ValueError(f"{path}: its 'base:' chain comes back to itself")
    text = path.read_text()
    if path.suffix == ".json":
        user = json.loads(text)
    else:
        import yaml

        user = yaml.safe_load(text) or {}
    if not isinstance(user, dict):
        raise ValueError(f"{path}: not a config (a mapping of keys to values)")
    base = user.pop("base", None)
    if base is None:
        return user
    return deep_update(_read_config(path.parent / base, seen + (path.resolve(),)), user)


def build_model(cfg: dict, fresh: bool = False):
    """SSRSTF from the config. ``fresh``: a model to train from scratch, whose output head gets
    PyTorch's default Linear init instead of the model's std-0.02 one: with near-zero outputs the
    N-MPJPE term (scale-normalised, gradient ~ 1/|output|) dominates Adam's step sizes and the
    output scale stays stuck at zero for hundreds of steps, which a short CPU schedule cannot afford."""
    from vid2pose.models.ssrstf import SSRSTF

    model = SSRSTF(**cfg["model"])
    if fresh and cfg.get("head_init", "default") == "default":
        model.head.reset_parameters()
    return model


def grow_layers(state: dict, n_from: int, n_to: int) -> tuple[dict, list[int]]:
    """A trained SSRSTF state dict of ``n_from`` layers -> one of ``n_to`` layers that computes the same
    function: the new layers are copies of the trained layer before them with every layer scale set to 0,
    so each starts as an exact identity (residual sub-blocks, softmax fusion of two equal streams) and
    training opens it from weights that already mean something. Copies are spread evenly (4 -> 6: after
    layers 1 and 3). Returns the state and, per new layer, the trained layer it came from."""
    if n_to < n_from:
        raise ValueError(f"grow_init cannot remove layers ({n_from} -> {n_to})")
    extra = n_to - n_from
    if extra > n_from:
        raise ValueError(f"grow_init adds at most one copy per layer ({n_from} -> {n_to})")
    if not any(k.rsplit(".", 1)[-1].startswith("layer_scale_") for k in state):
        raise ValueError("grow_init needs a model with layer scales (use_layer_scale: true)")
    after = {((k + 1) * n_from) // extra - 1 for k in range(extra)}  # distinct: n_from / extra >= 1
    order, copies = [], set()
    for i in range(n_from):
        order.append(i)
        if i in after:
            order.append(i)
            copies.add(len(order) - 1)
    out = {k: v for k, v in state.items() if not k.startswith("layers.")}
    for new_i, old_i in enumerate(order):
        prefix = f"layers.{old_i}."
        for k, v in state.items():
            if k.startswith(prefix):
                name = k[len(prefix):]
                v = v.clone()
                if new_i in copies and name.rsplit(".", 1)[-1].startswith("layer_scale_"):
                    v.zero_()
                out[f"layers.{new_i}.{name}"] = v
    return out, order


def lr_at(step: int, total: int, o: dict) -> float:
    if step < o["warmup_steps"]:
        return o["lr"] * (step + 1) / o["warmup_steps"]
    p = min(1.0, (step - o["warmup_steps"]) / max(1, total - o["warmup_steps"]))
    lo = o["lr"] * o["lr_min_ratio"]
    return lo + (o["lr"] - lo) * 0.5 * (1 + math.cos(math.pi * p))


def procrustes_aligned(pred: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """pred (..., J, 3) moved onto tgt by the similarity transform of P-MPJPE, found without gradient: the
    gradient reaches pred through the fixed transform, which avoids the SVD's unstable backward pass."""
    with torch.no_grad():
        mp, mt = pred.mean(-2, keepdim=True), tgt.mean(-2, keepdim=True)
        x, y = pred - mp, tgt - mt
        u, sv, vh = torch.linalg.svd(x.transpose(-1, -2) @ y)  # (..., 3, 3)
        d = torch.sign(torch.linalg.det(vh.transpose(-1, -2) @ u.transpose(-1, -2)))
        flip = torch.ones_like(sv)
        flip[..., -1] = d  # a rotation, never a reflection
        rot = vh.transpose(-1, -2) @ (flip[..., :, None] * u.transpose(-1, -2))
        scale = (sv * flip).sum(-1) / (x * x).sum((-2, -1)).clamp_min(1e-12)
    return scale[..., None, None] * (pred - mp) @ rot.transpose(-1, -2) + mt


def lifter_loss(pred: torch.Tensor, tgt: torch.Tensor, w: dict) -> tuple[torch.Tensor, dict]:
    """MPJPE + w.scale * N-MPJPE + w.velocity * velocity error (+ w.procrustes * P-MPJPE when given), all in
    model units. ``w.joint_weights`` (17 values, H36M order; optional) weighs each joint's error in the three
    position terms, rescaled to mean 1 so the terms keep their size; the velocity term stays unweighted."""
    jw = w.get("joint_weights") or None
    if jw is not None:  # checked on the config's numbers, so that no step waits on the device for it
        vals = [float(v) for v in jw]
        if len(vals) != pred.shape[-2] or min(vals) < 0 or sum(vals) <= 0:
            raise ValueError(f"loss.joint_weights needs {pred.shape[-2]} non-negative values, not all 0")
        jw = torch.tensor(vals, dtype=pred.dtype, device=pred.device) * (len(vals) / sum(vals))

    def joint_mean(err: torch.Tensor) -> torch.Tensor:  # err (..., J)
        return err.mean() if jw is None else (err * jw).mean()

    mp = joint_mean(torch.linalg.vector_norm(pred - tgt, dim=-1))
    num = (tgt * pred).sum(-1, keepdim=True).mean(-2, keepdim=True)
    den = (pred * pred).sum(-1, keepdim=True).mean(-2, keepdim=True).clamp_min(1e-8)
    nm = joint_mean(torch.linalg.vector_norm(pred * (num / den) - tgt, dim=-1))
    if pred.shape[1] > 1:
        vel = torch.linalg.vector_norm((pred[:, 1:] - pred[:, :-1]) - (tgt[:, 1:] - tgt[:, :-1]), dim=-1).mean()
    else:
        vel = pred.new_zeros(())
    loss = mp + w["scale"] * nm + w["velocity"] * vel
    parts = {"mpjpe": float(mp.detach()), "n_mpjpe": float(nm.detach()), "vel": float(vel.detach())}
    if w.get("procrustes", 0.0):
        pm = joint_mean(torch.linalg.vector_norm(procrustes_aligned(pred, tgt) - tgt, dim=-1))
        loss = loss + w["procrustes"] * pm
        parts["p_mpjpe"] = float(pm.detach())
    return loss, parts


def ema_decay_at(step: int, decay: float) -> float:
    """The average's decay after ``step`` optimiser steps: ``decay``, lower while the run is young
    ((1 + step) / (10 + step)) so the first steps do not stay in it for thousands of steps."""
    return min(float(decay), (1.0 + step) / (10.0 + step))


@torch.no_grad()
def update_ema(ema: dict, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * weights, for every floating-point entry of the state dict
    (others, e.g. integer buffers, are copied)."""
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            ema[k].lerp_(v.detach(), 1.0 - decay)
        else:
            ema[k].copy_(v)


def fitted_steps(step: int, seconds_left: float, sec_per_step: float) -> int:
    """The step count that ends a run at ``step`` within ``seconds_left`` (5 % kept spare; at least 10 more)."""
    return step + max(10, int(0.95 * seconds_left / sec_per_step))


def processes_of(cfg: dict) -> int:
    """The config's data-parallel process count (``processes``, 1 when unset), checked against the batch."""
    world = int(cfg.get("processes") or 1)
    if world < 1 or cfg["batch_size"] % world:
        raise ValueError(f"processes must be a divisor of batch_size ({cfg['batch_size']}), got {world}")
    return world


def average_gradients(params: list, loss_value: float, control: list[float], world: int) -> tuple[float, list[float]]:
    """One all-reduce of every process's gradients, loss and ``control`` values (flattened into one buffer):
    gradients and loss are averaged over the ``world`` processes, ``control`` is summed (the first process
    puts its schedule decisions there, the others zeros). Every process gets the same sums, so all take
    the same optimiser step and the weights never drift apart."""
    import torch.distributed as dist

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads] + [torch.tensor([loss_value, *control], dtype=grads[0].dtype)])
    dist.all_reduce(flat)
    n = flat.numel() - len(control)  # gradients and the loss
    flat[:n] /= world
    off = 0
    for p, g in zip(params, grads):
        p.grad = flat[off:off + g.numel()].view_as(g)
        off += g.numel()
    return float(flat[n - 1]), [float(v) for v in flat[n:]]


def _worker(cfg, data, run_dir, seed, cmu_only, init_state, init_info, resume, refit_steps, rank, world, store) -> None:
    """A data-parallel process other than the first (``Runner.train``): silent; Ctrl-C and SIGTERM are the
    first's to handle (it stops the others at the next all-reduce, or ends them as it exits); an error is one
    line on stderr and a non-zero exit."""
    import io

    from rich.console import Console

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a signal to the whole process group: the first decides
    try:
        Runner(cfg, data, Path(run_dir), seed, cmu_only, Console(file=io.StringIO()), init_state=init_state,
               init_info=init_info, refit_steps=refit_steps)._train(resume, rank, world, Path(store), None)
    except Exception as e:  # noqa: BLE001 - a worker reports and exits; the first process ends the run
        print(f"error: training process {rank}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)


def _watch_workers(procs: list, console) -> None:
    """End the run when a data-parallel process fails: the first would otherwise wait for it until the
    all-reduce's timeout. The last checkpoint stays for ``--resume``."""
    while True:
        for p in procs:
            if p.exitcode not in (None, 0):
                console.print(f"error: a training process ended with exit code {p.exitcode}; the last checkpoint "
                              "is kept (--resume continues from it)", soft_wrap=True)
                sys.stdout.flush()
                os._exit(1)
        if all(p.exitcode == 0 for p in procs):
            return
        time.sleep(1.0)


class StopOnSignal:
    """While in use (main thread only), Ctrl-C and SIGTERM set ``signum`` instead of ending the process, so the
    training loop can finish its step and checkpoint; a second Ctrl-C raises KeyboardInterrupt at once.
    A SIGINT already ignored (a background job of a non-interactive shell) stays ignored."""

    def __init__(self):
        self.signum: int | None = None
        self._old: dict = {}

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


def _save_atomic(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Runner:
    def __init__(self, cfg: dict, data: list[Path], run_dir: Path, seed: int, cmu_only: bool, console=None,
                 init_state: dict | None = None, init_info: dict | None = None, refit_steps: bool = False):
        """``init_state``: a state dict to start from instead of a fresh model (fine-tuning); a resumed
        checkpoint takes precedence over it. ``init_info`` (where it came from) is kept in the
        checkpoints, so a resumed run still knows, and returned in the summary. ``refit_steps``: a
        resumed run with ``steps: auto`` fits its step count anew to the time budget, counted from now
        (``--minutes`` with ``--resume``), instead of keeping the checkpoint's."""
        from rich.console import Console

        self.init_state, self.init_info, self.refit_steps = init_state, init_info, refit_steps

        self.cfg, self.data, self.run_dir, self.seed, self.cmu_only = cfg, [Path(d) for d in data], Path(run_dir), seed, cmu_only
        self.console = console or Console(stderr=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def log(self, msg: str) -> None:
        self.console.log(msg)

    def _split(self) -> tuple[list, list]:
        """(training files, validation files) under the data folders, by performer (train/split.py)."""
        from vid2pose.mocap.h36m import find_mocap_files
        from vid2pose.train.split import is_cmu, split_files

        files = find_mocap_files(self.data)
        if not files:
            raise FileNotFoundError(f"no .bvh/.bvh.gz/.amc files under {', '.join(map(str, self.data))}")
        train_f, val_f = split_files(files)
        if self.cmu_only:
            train_f = [f for f in train_f if is_cmu(f)]
            val_f = [f for f in val_f if is_cmu(f)]
        self.log(f"{len(files)} mocap files: {len(train_f)} train, {len(val_f)} validation (held-out performers)")
        return train_f, val_f

    def validation(self):
        """The held-out corpus alone, or None: evaluating needs none of the training files."""
        from vid2pose.train.data import load_corpus

        _, val_f = self._split()
        return load_corpus(val_f, self.cfg["fps"], self.run_dir / "cache", self.log) if val_f else None

    def corpora(self):
        from vid2pose.train.data import load_corpus

        train_f, val_f = self._split()
        cache = self.run_dir / "cache"
        tr = load_corpus(train_f, self.cfg["fps"], cache, self.log)
        va = load_corpus(val_f, self.cfg["fps"], cache, self.log) if val_f else None
        T = self.cfg["clip_len"]
        keep = [i for i, L in enumerate(tr.lengths) if L >= T]
        tr = tr.subset(keep)
        if not keep:
            raise ValueError(f"no training take of at least {T} frames could be read from {', '.join(map(str, self.data))} "
                             "(unreadable files are listed above)")
        self.log(f"train: {len(tr.lengths)} clips, {tr.points.shape[0]} frames at {self.cfg['fps']:g} fps "
                 f"({tr.points.shape[0] / self.cfg['fps'] / 60:.1f} min)"
                 + (f"; validation: {len(va.lengths)} clips, {va.points.shape[0]} frames" if va else ""))
        return tr, va

    def train(self, resume: bool) -> dict:
        """Train (``processes`` > 1: in that many data-parallel processes, this one the first); the summary."""
        world = processes_of(self.cfg)
        t_begin = time.time()
        if world == 1:
            return self._train(resume, 0, 1, None, None)
        corpora = self.corpora()  # before the others start: they read the cache this writes
        store = self.run_dir / f"processes-{os.getpid()}.store"  # the process group's rendezvous file
        store.unlink(missing_ok=True)
        ctx = torch.multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_worker, daemon=True,  # daemons: they end when this process does
                             args=(self.cfg, self.data, self.run_dir, self.seed, self.cmu_only, self.init_state,
                                   self.init_info, resume, self.refit_steps, rank, world, str(store)))
                 for rank in range(1, world)]
        for p in procs:
            p.start()
        threading.Thread(target=_watch_workers, args=(procs, self.console), daemon=True).start()
        try:
            summary = self._train(resume, 0, world, store, corpora, t_begin)
        except BaseException:  # Ctrl-C or an error here: the others would wait for this process in vain
            for p in procs:
                p.terminate()
            raise
        finally:
            store.unlink(missing_ok=True)
        for p in procs:  # they leave the loop at the same step as this one
            p.join(timeout=60)
            if p.is_alive():
                self.log("a training process did not stop with the first one: ended it")
                p.terminate()
        return summary

    def _train(self, resume: bool, rank: int, world: int, store: Path | None, corpora,
               t_begin: float | None = None) -> dict:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from vid2pose.train.data import make_batch

        cfg = self.cfg
        lead = rank == 0  # the process that logs, checkpoints, keeps the average and decides on the schedule
        t_start = time.time()
        threads_own = max(1, int(cfg["threads"]) // world)  # the threads are shared among the processes
        torch.set_num_threads(threads_own)
        torch.manual_seed(self.seed)
        tr, va = corpora if corpora is not None else self.corpora()
        self.val = va
        if world > 1:
            import datetime

            import torch.distributed as dist

            # gloo on the CPU; a process that stops answering fails the others' all-reduce after the timeout
            dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                                    timeout=datetime.timedelta(minutes=10))
        model = build_model(cfg, fresh=self.init_state is None)
        if self.init_state is not None:
            model.load_state_dict(self.init_state)
        o = cfg["optim"]
        opt = torch.optim.AdamW(model.parameters(), lr=o["lr"], weight_decay=o["weight_decay"])
        ckpt_path = self.run_dir / "last.pt"
        ema_decay = float(o.get("ema_decay") or 0.0)
        ema = None
        step, total, elapsed_before = 0, None, 0.0
        budget_start = t_begin or t_start  # the time budget counts the data loading before the processes start too
        refit = False
        if resume and ckpt_path.exists():
            ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optim"])
            ema = ck.get("ema") if ema_decay > 0 and lead else None
            step, total = int(ck["step"]), ck.get("total_steps")
            self.init_info = ck.get("init") or self.init_info
            elapsed_before = float(ck.get("train_seconds", 0.0))
            if isinstance(cfg["steps"], int) and int(cfg["steps"]) != total:
                total = int(cfg["steps"])  # an explicit step count extends or shortens the schedule
            refit = self.refit_steps and not isinstance(cfg["steps"], int)
            if refit:
                # a first count from the run's own pace so far (the same in every process, and the learning
                # rate never meets a schedule without an end); the timing probes below correct it
                sec = elapsed_before / step if step and elapsed_before > 0 else None
                if sec:
                    total = fitted_steps(step, 60 * (cfg["time_budget_min"] - cfg["reserve_min"]), sec)
            if lead:
                self.log(f"resumed from {ckpt_path} at step {step}/{total}"
                         + (f" (the steps fitted to {cfg['time_budget_min']:g} minutes from now)" if refit else ""))
        elif isinstance(cfg["steps"], int):
            total = int(cfg["steps"])
        auto = not isinstance(cfg["steps"], int) and (total is None or refit)
        if ema_decay > 0 and ema is None and lead:  # starts as the weights it averages (a checkpoint without one: from there)
            ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
        nparam = sum(p.numel() for p in model.parameters())
        if lead:
            self.log(f"SSRSTF {cfg['model']} ({nparam / 1e6:.2f} M parameters), T={cfg['clip_len']}, "
                     f"batch {cfg['batch_size']}, seed {self.seed}"
                     + (f", {world} processes of {threads_own} thread(s)" if world > 1 else ""))
        deadline = budget_start + 60 * (cfg["time_budget_min"] - cfg["reserve_min"])
        B, T = cfg["batch_size"], cfg["clip_len"]
        B_own = B // world  # this process's windows of each step
        params = list(model.parameters())
        pending_total, pending_stop = None, False  # the first process's decisions, shared at the next all-reduce
        interrupted = None  # the signal that stopped the run (Ctrl-C, SIGTERM), if one did
        model.train()
        last_ckpt = time.time()
        hist: list[float] = []
        t_loop = time.time()
        samples, data_time = 0, 0.0
        step_times: list[float] = []
        stopped_early = False

        def save(reason: str):
            if not lead:
                return
            _save_atomic({"model": model.state_dict(), "optim": opt.state_dict(), "step": step, "total_steps": total,
                          "config": cfg, "seed": self.seed, "cmu_only": self.cmu_only,
                          "data": [str(d) for d in self.data], "init": self.init_info,
                          "train_seconds": elapsed_before + time.time() - t_loop,
                          **({"ema": ema, "ema_decay": ema_decay} if ema is not None else {}),
                          "loss_recent": float(np.mean(hist[-50:])) if hist else None}, ckpt_path)
            self.log(f"checkpoint ({reason}) step {step} -> {ckpt_path}")

        with StopOnSignal() as stop_signal, Progress(
                TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=self.console, transient=False) as prog:
            task = prog.add_task("train", total=total or 0, completed=step, loss=float("nan"))
            while total is None or step < total:
                t0 = time.time()
                rng = np.random.default_rng([self.seed, step] if world == 1 else [self.seed, step, rank])
                b = make_batch(rng, tr, B_own, T, cfg)
                x = torch.from_numpy(b["input"][b["ok"]])
                y = torch.from_numpy(b["target"][b["ok"]])
                t1 = time.time()
                pred = model(x)
                loss, parts = lifter_loss(pred, y, cfg["loss"])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                loss_value = float(loss.detach())
                stop_now = False
                if world > 1:
                    control = ([float(pending_total or 0), float(pending_stop), float(stop_signal.signum or 0)]
                               if lead else [0.0, 0.0, 0.0])
                    loss_value, control = average_gradients(params, loss_value, control, world)
                    if control[0] > 0:
                        total, pending_total = int(round(control[0])), None
                    stop_now = control[1] > 0
                    if control[2] > 0:  # the first process was signalled before this step's all-reduce
                        interrupted = int(round(control[2]))
                lr = lr_at(step, total or 10 ** 9, o)
                for g in opt.param_groups:
                    g["lr"] = lr
                if o.get("grad_clip"):
                    torch.nn.utils.clip_grad_norm_(model.parameters(), o["grad_clip"])
                opt.step()
                if ema is not None:
                    update_ema(ema, model, ema_decay_at(step, ema_decay))
                step += 1
                samples += len(x)
                data_time += t1 - t0
                step_times.append(time.time() - t0)
                hist.append(loss_value)
                # steps: auto -> measure, then keep re-measuring while the run is young (the
                # machine's load changes); the cosine barely moves in that phase.
                probe = cfg["probe_steps"]
                # (the first probe always sets a count: a budget already spent would otherwise train forever)
                if lead and auto and step >= probe and step % probe == 0 and (
                        (total is None and pending_total is None) or (time.time() - t_loop) < 0.3 * (deadline - t_loop)):
                    recent = step_times[-4 * probe:] if len(step_times) > probe else step_times
                    sec = float(np.mean(recent[1:] if len(recent) > 2 else recent))
                    left = deadline - time.time()
                    new_total = fitted_steps(step, left, sec)
                    if total is None or abs(new_total - total) > 0.02 * total:
                        if world == 1:
                            total = new_total
                        else:  # all processes take it at the next step's all-reduce
                            pending_total = new_total
                        self.log(f"timing probe: {sec:.2f} s/step ({B / sec:.1f} windows/s, {B * T / sec:.0f} frames/s, "
                                 f"data {1000 * data_time / step:.0f} ms/step) -> {new_total} steps in total")
                        prog.update(task, total=new_total)
                prog.update(task, completed=step, loss=float(np.mean(hist[-20:])))
                if lead and step % cfg["log_every"] == 0:
                    el = time.time() - t_loop
                    self.log(f"step {step}/{total} loss {np.mean(hist[-cfg['log_every']:]):.4f} "
                             f"(mpjpe {parts['mpjpe']:.4f} n {parts['n_mpjpe']:.4f} vel {parts['vel']:.4f}"
                             + (f" p {parts['p_mpjpe']:.4f}" if "p_mpjpe" in parts else "") + ") "
                             f"lr {lr:.2e} {world * samples / el:.1f} windows/s")
                if world == 1 and stop_signal.signum is not None:
                    interrupted = stop_signal.signum
                if interrupted is not None:  # before the periodic checkpoint: the step is saved once, below
                    if lead:
                        self.log(f"{signal.Signals(interrupted).name}: stopped after step {step}/{total}")
                    break
                if time.time() - last_ckpt > 60 * cfg["checkpoint_minutes"]:
                    save("periodic")
                    last_ckpt = time.time()
                if stop_now:  # the first process's deadline, shared by the all-reduce of this step
                    stopped_early = True
                    break
                if lead and auto and not pending_stop and time.time() > deadline and total is not None and step < total:
                    self.log(f"time budget reached at step {step}/{total}: stopping early"
                             + (" (after the next step, with the other processes)" if world > 1 else ""))
                    if world == 1:
                        stopped_early = True
                        break
                    pending_stop = True
        save("interrupted" if interrupted is not None else "final" if not stopped_early else "deadline")
        el = time.time() - t_loop
        if world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
        samples *= world  # every process did as many windows
        return {"steps": step, "total_steps": total, "stopped_early": stopped_early,
                **({"interrupted": signal.Signals(interrupted).name} if interrupted is not None else {}),
                "train_minutes_by_source": {k: round(float(tr.lengths[[s == k for s in tr.sources]].sum())
                                                     / cfg["fps"] / 60, 2) for k in sorted(set(tr.sources))},
                "train_seconds": round(elapsed_before + el, 1),
                "windows_per_s": round(samples / max(el, 1e-9), 2),
                "frames_per_s": round(samples * T / max(el, 1e-9), 1),
                "final_loss": float(np.mean(hist[-50:])) if hist else None,
                **({"init": self.init_info} if self.init_info else {})}


def export_weights(model, cfg: dict, out: Path, summary: dict) -> str:
    """Write the weights file (plain values + tensors; torch.load(weights_only=True)); returns sha256."""
    obj = {
        "format": "vid2pose.lifter", "version": 1, "model": "SSRSTF",
        "config": _plain(dict(cfg["model"])),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "norm": "box", "fps": float(cfg["fps"]), "clip_len": int(cfg["clip_len"]), "flip": True,
        "train": _plain(summary),
    }
    out = Path(out)
    _save_atomic(obj, out)
    torch.load(out, map_location="cpu", weights_only=True)  # proves the format
    return sha256_of(out)


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, Path):
        return str(x)
    return x
