"""Entry points for ``vid2pose train-lifter`` / ``eval-lifter`` (plain functions), plus a
stand-alone runner: ``python -m vid2pose.train.commands {train,eval,export,card} ...``
(``card``: rewrite a weights file's model card from the summary stored inside it; the weights
file itself, and so its sha256, stay as they are).

Exit codes: 0 done, 1 failure, 2 usage error (missing path, bad config), 130 interrupted.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import time
from pathlib import Path

import numpy as np
import torch

from vid2pose import atomic
from vid2pose.train import train as tr

DEFAULT_RUN_ROOT = Path.home() / ".cache" / "vid2pose" / "train-runs"


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _resolve_device(device: str) -> str:
    if device in (None, "", "auto"):
        return "cpu"  # training is designed for CPU; a GPU gains little for this model size
    return device


def _metrics_table(metrics: dict, title: str, unit: str = "windows"):
    from rich.table import Table

    t = Table(title=title)
    for c in ("source", unit, "MPJPE mm", "P-MPJPE mm", "N-MPJPE mm", "accel mm/f²"):
        t.add_column(c, justify="right" if c != "source" else "left")
    for name, m in metrics.items():
        t.add_row(name, str(m["windows"]), f"{m['mpjpe']:.1f}", f"{m['p_mpjpe']:.1f}", f"{m['n_mpjpe']:.1f}",
                  f"{m['accel']:.2f}")
    return t


def _evaluate(model, cfg: dict, val, console) -> tuple[dict, dict]:
    """The held-out metrics twice: windows lifted one by one (the lineage's metric), and spans
    lifted the way ``vid2pose run`` lifts a track. Both under the config's eval seed and draws."""
    from vid2pose.train.evaluate import evaluate_corpus, evaluate_sequences

    e = cfg.get("eval", {})
    seed, draws = int(e.get("seed", 1234)), int(e.get("draws", 1))
    t0 = time.time()
    windows = evaluate_corpus(model, val, cfg["clip_len"], cfg, seed=seed, flip=bool(e.get("flip", True)),
                              max_per_clip=e.get("max_per_clip"), draws=draws)
    t1 = time.time()
    as_run = evaluate_sequences(_as_lifter(model, cfg), val, cfg, seed=seed, span=_eval_span(cfg),
                                max_per_clip=e.get("spans_per_clip"), draws=draws)
    console.log(f"evaluation took {t1 - t0:.0f} s (windows) + {time.time() - t1:.0f} s (spans as run)")
    return windows, as_run


def _eval_span(cfg: dict) -> int:
    """Frames per held-out span lifted as `run` lifts (the config's, else the training defaults')."""
    return int(cfg.get("eval", {}).get("span", tr.DEFAULTS["eval"]["span"]))


def _as_lifter(model, cfg: dict):
    """The model as ``vid2pose run`` loads the file it becomes (registry spec, the config's T and fps)."""
    from dataclasses import replace

    from vid2pose.lift.loading import LoadedLifter
    from vid2pose.lift.registry import LIFTERS
    from vid2pose.weights import WeightsIdentity

    spec = replace(LIFTERS["ssr-stf"], config=dict(cfg["model"]), fps=float(cfg["fps"]),
                   clip_len=int(cfg["clip_len"]), flip=bool(cfg.get("eval", {}).get("flip", True)))
    return LoadedLifter(spec=spec, model=model, weights=WeightsIdentity("ssr-stf", "(in memory)", ""), device="cpu")


def _as_run_windows(model, cfg: dict) -> int:
    """Windows per frame that the as-run figures blend (`run`'s default for the lifter)."""
    return int(_as_lifter(model, cfg).spec.hops)


def _noise_off(cfg: dict) -> bool:
    """Whether the config feeds the lifter the true projections (noise model off)."""
    return bool(cfg.get("noise", {}).get("disable"))


def _input_2d(cfg: dict) -> str:
    """What the lifter was fed, as the tables and the JSON name it."""
    return "exact 2D" if _noise_off(cfg) else "noise model"


def _as_run_title(cfg: dict) -> str:
    return (f"spans of {_eval_span(cfg)} frames lifted as `vid2pose run` does (swap repair, overlapping windows, blended), "
            f"held-out performers, {_input_2d(cfg)}")


def run_train_lifter(data: list[Path], out: Path, config: Path | None, seed: int, resume: bool, cmu_only: bool,
                     device: str = "auto", run_dir: Path | None = None, steps: int | None = None,
                     init: Path | None = None, minutes: float | None = None) -> int:
    """Train SSR-STF on the mocap under ``data``, evaluate on the held-out performers, write
    ``out`` (weights) and ``out`` with ``.md`` (model card). Checkpoints go to ``run_dir``.
    ``init``: a lifter weights file to start from (fine-tuning); its architecture must be the
    config's, and its sha256 and own reproduce command go into the new card. ``minutes``: the run's wall time
    (training, evaluation, card), the step count fitted to it (``steps: auto``); with ``resume``, the time from
    now on, the resumed run's step count fitted anew."""
    console = _console()
    try:
        data = [Path(d) for d in data]
        for d in data:
            if not d.exists():
                console.print(f"error: {d} does not exist", soft_wrap=True)
                return 2
        if steps is not None and minutes is not None:
            console.print("error: give --steps or --minutes, not both", soft_wrap=True)
            return 2
        if minutes is not None and not minutes > 0:
            console.print(f"error: --minutes must be positive, got {minutes:g}", soft_wrap=True)
            return 2
        cfg = tr.load_config(config)
        if steps is not None:
            cfg["steps"] = int(steps)
        if minutes is not None:
            cfg["steps"], cfg["time_budget_min"] = "auto", float(minutes)
        out = Path(out)
        run_dir = Path(run_dir) if run_dir else DEFAULT_RUN_ROOT / out.stem
        dev = _resolve_device(device)
        if dev != "cpu":
            console.log(f"note: device {dev!r} requested; this trainer runs on the CPU")
        init_state, init_info = None, None
        if init is not None:
            init_state, init_info = _init_weights(Path(init), cfg)
            console.log(f"starting from {init} (sha256 {init_info['sha256'][:12]}…)")
        runner = tr.Runner(cfg, data, run_dir, seed, cmu_only, console, init_state=init_state, init_info=init_info,
                           refit_steps=minutes is not None)
        summary = runner.train(resume)
        if summary.get("interrupted"):
            console.print(f"interrupted ({summary['interrupted']}) after step {summary['steps']}/{summary['total_steps']}: "
                          f"checkpoint {run_dir / 'last.pt'}; the same command with --resume continues it", soft_wrap=True)
            return 130
        console.log(f"training done: {summary}")
        if config:
            summary["config_file"] = _repo_relative(Path(config))
        return _export(run_dir / "last.pt", out, runner.val, cfg, console, summary=summary)
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    except (FileNotFoundError, ValueError) as e:
        console.print(f"error: {e}", soft_wrap=True)
        return 2


def _init_weights(path: Path, cfg: dict) -> tuple[dict, dict]:
    """State dict and provenance of a weights file to fine-tune from (ValueError if unusable)."""
    _, obj = load_lifter(path)
    state, grown = obj["state_dict"], None
    theirs, ours = dict(obj["config"]), tr._plain(dict(cfg["model"]))
    if cfg.get("grow_init") and theirs != ours:
        # a deeper model from a shallower file: every trained layer kept, the new ones start as identities
        if {k: v for k, v in theirs.items() if k != "n_layers"} != {k: v for k, v in ours.items() if k != "n_layers"}:
            raise ValueError(f"{path}: its model {theirs} differs from the config's {ours} in more than n_layers; "
                             "grow_init adds layers only")
        state, order = tr.grow_layers(state, int(theirs["n_layers"]), int(ours["n_layers"]))
        grown = {"from_layers": int(theirs["n_layers"]), "to_layers": int(ours["n_layers"]), "layers": order}
    elif theirs != ours:
        raise ValueError(f"{path}: its model {obj['config']} is not the config's {cfg['model']}; "
                         "fine-tuning needs the same architecture (or grow_init: true to add layers)")
    # The window length may change (SSR-STF has no temporal position embedding, so the same weights
    # take windows of any length); the frame rate may not: the motion the model learnt is per frame.
    if float(obj["fps"]) != float(cfg["fps"]):
        raise ValueError(f"{path}: trained at {obj['fps']:g} fps, the config asks for {cfg['fps']:g}")
    t = obj.get("train", {})
    info = {"file": path.name, "sha256": tr.sha256_of(path), "seed": t.get("seed"), "steps": t.get("steps"),
            "total_steps": t.get("total_steps"),
            "config_file": t.get("config_file"), "cmu_only": t.get("cmu_only"), "init": t.get("init"),
            "train_seconds": t.get("train_seconds"), "metrics_mm": t.get("metrics_mm"),
            **({"grown": grown} if grown else {})}
    return state, info


def _reproduce_command(out_name: str, s: dict, init_name: str | None = None) -> str:
    """The train-lifter command that reproduces a run from its summary (paths machine-independent),
    fine-tuning from the file ``init_name`` when given (``_reproduce_chain`` names the chain's files).
    ``--steps`` is the planned step count (the learning-rate schedule follows it), also for a run its
    time budget stopped early."""
    cmd = (f"vid2pose train-lifter --data <path to shared/data/mocap> --out weights/{out_name} "
           f"--config {s.get('config_file') or 'configs/ssr-stf-default.yaml'} --seed {s.get('seed', 0)}"
           + (" --cmu-only" if s.get("cmu_only") else ""))
    steps = s.get("total_steps") or s.get("steps")
    if steps:
        cmd += f" --steps {steps}"
    if init_name:
        cmd += f" --init weights/{init_name}"
    return cmd


def _reproduce_chain(out_name: str, s: dict) -> str:
    """The commands that reproduce a run and, oldest first, the runs it was fine-tuned from. Weights
    files of the chain that share a name (each stage written to the same default file) are told apart
    as ``<stem>-stage<k>.pt``, k counting from the oldest run."""
    runs, init = [], s.get("init")
    while init:
        runs.insert(0, init)
        init = init.get("init")
    names, taken = [], {out_name}
    for k, run in reversed(list(enumerate(runs, 1))):  # newest first: the later files keep their names
        name = run["file"] if run["file"] not in taken else f"{Path(run['file']).stem}-stage{k}.pt"
        names.insert(0, name)
        taken.add(name)
    lines = []
    for k, (run, name) in enumerate(zip(runs, names)):
        done, planned = run.get("steps"), run.get("total_steps")
        early = f" ({done} of {planned} planned steps)" if planned and done and done < planned else ""
        lines += [f"# -> {name}, sha256 {run['sha256']}{early}",
                  _reproduce_command(name, run, names[k - 1] if k else None)]
    if runs:
        lines.append(f"# -> {out_name} (fine-tuned from the file above)")
    lines.append(_reproduce_command(out_name, s, names[-1] if runs else None))
    return "\n".join(lines)


def _export(ckpt_path: Path, out: Path, val, cfg: dict | None, console, summary: dict | None = None,
            data: list[Path] | None = None) -> int:
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    cfg = cfg or ck["config"]
    model = tr.build_model(cfg)
    # with an average of the weights (optim.ema_decay: the trainer checkpoints one only then), it is what ships
    use_ema = "ema" in ck
    model.load_state_dict(ck["ema"] if use_ema else ck["model"])
    model.eval()
    if val is None:
        runner = tr.Runner(cfg, data or [Path(p) for p in ck["data"]], ckpt_path.parent, ck["seed"], ck["cmu_only"], console)
        val = runner.validation()
    metrics, as_run = _evaluate(model, cfg, val, console) if val is not None else ({}, {})
    if metrics:
        console.print(_metrics_table(metrics, f"validation (held-out performers, {_input_2d(cfg)})"))
        console.print(_metrics_table(as_run, _as_run_title(cfg), unit="spans"))
    summary = dict(summary or {})
    summary.setdefault("steps", ck["step"])
    summary.setdefault("total_steps", ck.get("total_steps"))
    summary.setdefault("train_seconds", round(float(ck.get("train_seconds", 0.0)), 1))
    summary.update({
        "seed": ck["seed"], "cmu_only": ck["cmu_only"], "data": ck["data"], "metrics_mm": metrics,
        "metrics_as_run_mm": as_run,
        "as_run_windows_per_frame": _as_run_windows(model, cfg),  # the figures depend on it
        "config": cfg, "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "params": int(sum(p.numel() for p in model.parameters())),
        **({"weights_exported": f"moving average of the weights (decay {float(ck['ema_decay']):g})"} if use_ema else {}),
    })
    sha = tr.export_weights(model, cfg, out, summary)
    card = out.with_suffix(".md")
    atomic.write_text(card, model_card(out, sha, cfg, summary))
    console.log(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, sha256 {sha}) and {card}")
    return 0


def run_export(checkpoint: Path, out: Path, data: list[Path] | None = None) -> int:
    """Weights + model card from a checkpoint (e.g. to stop a run early)."""
    console = _console()
    return _export(Path(checkpoint), Path(out), None, None, console, data=data)


def run_card(weights: Path) -> int:
    """Write ``weights`` with ``.md`` again from the training summary stored in the weights file."""
    weights = Path(weights)
    _, obj = load_lifter(weights)
    t = obj.get("train") or {}
    cfg = t.get("config")
    if not cfg:
        raise ValueError(f"{weights} holds no training summary to write a card from")
    atomic.write_text(weights.with_suffix(".md"), model_card(weights, tr.sha256_of(weights), cfg, t))
    return 0


def load_lifter(weights: Path):
    if not Path(weights).is_file():
        raise ValueError(f"{weights}: no such file")
    try:
        obj = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, damaged, or needs full unpickling
        raise ValueError(f"{weights}: not a readable vid2pose weights file ({type(e).__name__})") from e
    if not isinstance(obj, dict) or obj.get("format") != "vid2pose.lifter" or obj.get("model") != "SSRSTF":
        raise ValueError(f"{weights} is not a vid2pose SSRSTF lifter file")
    from vid2pose.models.ssrstf import SSRSTF

    model = SSRSTF(**obj["config"])
    model.load_state_dict(obj["state_dict"])
    model.eval()
    return model, obj


def run_eval_lifter(weights: Path, data: list[Path], config: Path | None = None, json_out: bool = False,
                    cmu_only: bool = False, seed: int | None = None, exact_2d: bool = False) -> int:
    """Metrics of a weights file on the validation split of ``data`` (tables on stderr,
    JSON on stdout with ``json_out``). ``exact_2d``: feed the true projections, noise model off
    (the lifter's ceiling; the literature's "ground-truth 2D" protocol)."""
    console = _console()
    try:
        model, obj = load_lifter(Path(weights))
        cfg = tr.load_config(config) if config else tr.deep_update(tr.DEFAULTS, obj["train"].get("config", {}))
        cfg["model"] = dict(obj["config"])
        cfg["clip_len"], cfg["fps"] = int(obj["clip_len"]), float(obj["fps"])
        if seed is not None:
            cfg["eval"]["seed"] = int(seed)
        if exact_2d:
            cfg["noise"] = dict(cfg.get("noise", {}), disable=True)
        torch.set_num_threads(int(cfg["threads"]))
        runner = tr.Runner(cfg, [Path(d) for d in data], DEFAULT_RUN_ROOT / "eval", 0, cmu_only, console)
        val = runner.validation()
        if val is None:
            console.print("error: no validation files under the given data (see vid2pose/train/split.py)", soft_wrap=True)
            return 1
        metrics, as_run = _evaluate(model, cfg, val, console)
        console.print(_metrics_table(metrics, f"{Path(weights).name}: validation (held-out performers, {_input_2d(cfg)})"))
        console.print(_metrics_table(as_run, f"{Path(weights).name}: {_as_run_title(cfg)}", unit="spans"))
        if json_out:
            print(json.dumps({"weights": str(weights), "input_2d": _input_2d(cfg), "metrics_mm": metrics,
                              "metrics_as_run_mm": as_run,
                              "as_run_windows_per_frame": _as_run_windows(model, cfg)}, indent=2))
        return 0
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError) as e:
        console.print(f"error: {e}", soft_wrap=True)
        return 2


def _repo_relative(path: Path) -> str:
    """The config's path as the card prints it: relative to the checkout when inside it."""
    try:
        return path.resolve().relative_to(Path(__file__).resolve().parents[2]).as_posix()
    except ValueError:
        return path.name


def _cmu_line(m: dict) -> str:
    c = m.get("cmu_all")
    return (f"; on the CMU performers (the only ones known to be held out) {c['mpjpe']:.1f} / {c['p_mpjpe']:.1f} mm"
            if c else "")


def _training_time(s: dict) -> str:
    """The CPU time behind the weights: this run plus every run its starting weights came from."""
    runs, init = [s], s.get("init")
    while init:
        runs.append(init)
        init = init.get("init")
    minutes = [float(r["train_seconds"]) / 60 if r.get("train_seconds") is not None else None for r in reversed(runs)]
    if len(minutes) == 1:
        return f"a training run of {minutes[0]:.0f} minutes" if minutes[0] is not None else "one training run"
    parts = " + ".join("unrecorded" if m is None else f"{m:.0f}" for m in minutes)
    total = "" if None in minutes else f", {sum(minutes):.0f} in all"
    return f"{len(minutes)} training runs, each fine-tuning the previous one ({parts} minutes{total})"


def _card_rows(m: dict) -> str:
    return "\n".join(
        f"| {k} | {v['windows']} | {v['mpjpe']:.1f} | {v['p_mpjpe']:.1f} | {v['n_mpjpe']:.1f} | {v['accel']:.2f} |"
        for k, v in m.items())


def model_card(out: Path, sha: str, cfg: dict, s: dict) -> str:
    m = s.get("metrics_mm", {})
    rows = _card_rows(m)
    as_run = s.get("metrics_as_run_mm") or {}
    e = cfg.get("eval", {})
    exact = _noise_off(cfg)
    seen_2d = "the exact 2D (noise model off)" if exact else "the noise model"
    wpf = f"{s['as_run_windows_per_frame']} " if s.get("as_run_windows_per_frame") else ""  # older files: not recorded
    as_run_txt = "" if not as_run else f"""
Spans of {_eval_span(cfg)} frames lifted as `vid2pose run` lifts a track (up to {e.get('spans_per_clip')} spans per clip, each
seen through {e.get('draws', 1)} camera and noise draws): the span's 2D goes through `run`'s limb-swap repair, and
every frame is the blend of the {wpf}overlapping windows that see it, so this is the accuracy `vid2pose run`
gives from 2D {"without errors" if exact else "with the noise model's errors"}.

| source | spans | MPJPE | P-MPJPE | N-MPJPE | accel (mm/frame²) |
|---|---|---|---|---|---|
{_card_rows(as_run)}
"""
    ar = as_run.get("overall")
    as_run_line = "" if not ar else (f" Lifted as `vid2pose run` does: MPJPE {ar['mpjpe']:.1f} mm, P-MPJPE "
                                     f"{ar['p_mpjpe']:.1f} mm overall{_cmu_line(as_run)}.")
    cmu_only = s.get("cmu_only")
    by_src = s.get("train_minutes_by_source") or {}
    if by_src and not any(k.startswith("bandai") for k in by_src):
        cmu_only = True  # no CC BY-NC data was used, whatever the flag
    data_txt = ("CMU Graphics Lab Motion Capture Database only (`--cmu-only`): free for any use, "
                "commercial included (do not resell the data itself)."
                if cmu_only else
                "CMU Graphics Lab Motion Capture Database (free for any use) **and** the Bandai Namco Research "
                "Motiondataset (**CC BY-NC 4.0**, © Bandai Namco Research Inc.). Weights trained on CC BY-NC data "
                "are arguably non-commercial: use them for non-commercial purposes only, or retrain with "
                "`--cmu-only` for a CMU-only model.")
    steps_total = s.get("total_steps")
    threads = int(cfg.get("threads", tr.DEFAULTS["threads"]))
    procs = tr.processes_of(cfg)
    procs_txt = f" in {procs} data-parallel processes" if procs > 1 else ""
    # Machine-independent: no absolute paths of the machine that trained (the config is printed below).
    repro = _reproduce_chain(out.name, s)
    ov = m.get("overall", {})
    weights_line = ("" if not s.get("weights_exported") else
                    f"\n- weights: the {s['weights_exported']} over the run (`optim.ema_decay`), not its last step")
    return f"""# SSR-STF lifter weights: `{out.name}`

The project's own SSR-STF (our working design of spec ssr-stf.md 1.4; the paper's authors released
no code or weights), trained by `vid2pose/train/` on real motion capture. 2D H36M-17 keypoints
(x, y, confidence) of {cfg['clip_len']} frames at {cfg['fps']:g} fps, "box" normalisation per window
(`vid2pose/lift/normalize.py`) -> root-relative 3D in the same units; flip averaging at inference.

- file: `{out.name}`, sha256 `{sha}`
- model: `SSRSTF(**{json.dumps(cfg['model'])})`, {s.get('params', 0) / 1e6:.2f} M parameters
- trained: {s.get('date', '')}, seed {s.get('seed')}, {s.get('steps')} of {steps_total} steps
  ({'stopped early by the time budget' if s.get('stopped_early') else 'full schedule'}),
  {s.get('train_seconds', 0) / 60:.1f} min on {threads} CPU thread{'' if threads == 1 else 's'}{procs_txt},
  {s.get('windows_per_s', 'n/a')} windows/s ({s.get('frames_per_s', 'n/a')} frames/s){weights_line}

## Data and licences

{data_txt}

{"Training minutes per source: " + ", ".join(f"{k} {v:g}" for k, v in by_src.items()) if by_src else ""}

CMU acknowledgement: "The data used in this project was obtained from mocap.cs.cmu.edu. The database
was created with funding from NSF EIA-0196217."

Sources (see `shared/data/mocap/PROVENANCE.md`): CMU via the cgspeed Daz BVH (salsa at its true 60 fps,
Indian dance, martial arts), the iClone CC_Base retarget (subjects 1, 3, 5, 6), the cgspeed BVH and the
original ASF/AMC (subject 1); Bandai Namco datasets 1 and 2. Every source is mapped to the H36M 17
joints by `vid2pose/mocap/h36m.py`.

Validation split (never trained on, `vid2pose/train/split.py`): CMU subjects 7, 131 and 11 (held-out
performers); Bandai Namco ds-1 style "childish" and ds-2 style "youthful" (the actors are not labelled
per file, so these are held-out sessions, not guaranteed held-out performers).

## Training

Virtual cameras (phone and tripod framings, azimuth 0-360, elevation -10..40 deg), random bone
lengths, mirroring, speed changes 0.75-1.35x, a MediaPipe-like 2D noise model (`vid2pose/train/noise.py`)
applied to COCO-17 keypoints that go through the same COCO->H36M converter as inference.
Loss: MPJPE + 0.5 N-MPJPE + 20 velocity (model units). AdamW, warm-up + cosine.

Config:

```json
{json.dumps(cfg, indent=1, default=str)}
```

## Metrics (validation split, with {seen_2d}, flip averaging; mm, in metres via the true clip scale)

Windows of {cfg['clip_len']} frames, each lifted on its own (the metric of the lifter's lineage), each seen through
{e.get('draws', 1)} camera and noise draws (counted once per draw):

| source | windows | MPJPE | P-MPJPE | N-MPJPE | accel (mm/frame²) |
|---|---|---|---|---|---|
{rows}
{as_run_txt}
Target of the issue: MPJPE <= 50 mm and P-MPJPE <= 35 mm on held-out performers. Reached here: MPJPE
{ov.get('mpjpe', float('nan')):.1f} mm, P-MPJPE {ov.get('p_mpjpe', float('nan')):.1f} mm overall{_cmu_line(m)}.{as_run_line} Limits: ~60 minutes of motion (far less and
less varied than Human3.6M's 1.5 M frames), a small model sized for CPU inference, and {_training_time(s)}
on 2 shared CPU cores.

## Reproduce

```bash
{repro}
```

(`steps: auto` picks the step count from the machine's speed; `--steps {steps_total}` fixes it to this run's.)
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vid2pose.train.commands")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", type=Path, action="append", required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--config", type=Path, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--resume", action="store_true")
    t.add_argument("--cmu-only", action="store_true")
    t.add_argument("--device", default="auto")
    t.add_argument("--run-dir", type=Path, default=None)
    t.add_argument("--steps", type=int, default=None)
    t.add_argument("--init", type=Path, default=None)
    e = sub.add_parser("eval")
    e.add_argument("weights", type=Path)
    e.add_argument("--data", type=Path, action="append", required=True)
    e.add_argument("--config", type=Path, default=None)
    e.add_argument("--json", action="store_true")
    e.add_argument("--cmu-only", action="store_true")
    x = sub.add_parser("export")
    x.add_argument("checkpoint", type=Path)
    x.add_argument("--out", type=Path, required=True)
    x.add_argument("--data", type=Path, action="append", default=None)
    c = sub.add_parser("card")
    c.add_argument("weights", type=Path)
    a = p.parse_args(argv)
    if a.cmd == "train":
        return run_train_lifter(a.data, a.out, a.config, a.seed, a.resume, a.cmu_only, a.device, a.run_dir, a.steps,
                                init=a.init)
    if a.cmd == "eval":
        return run_eval_lifter(a.weights, a.data, a.config, a.json, a.cmu_only)
    if a.cmd == "card":
        return run_card(a.weights)
    return run_export(a.checkpoint, a.out, a.data)


if __name__ == "__main__":
    raise SystemExit(main())
