"""`vid2pose train-lifter` / `eval-lifter` end to end on a tiny motion-capture folder the test writes (our own
BVH export of made-up walks, which is also what a user's BVH folder looks like), with a tiny config."""
from __future__ import annotations

import json
import shutil

import torch
from typer.testing import CliRunner

from support_motion import walk, world_to_camera
from vid2pose.cli import app
from vid2pose.export.bvh import write_bvh

TINY = """
model: {n_layers: 1, dim_feat: 16, dim_rep: 32, mlp_ratio: 2, num_heads: 2, use_layer_scale: true,
        layer_scale_init_value: 0.1}
clip_len: 9
batch_size: 4
steps: 6
probe_steps: 2
checkpoint_minutes: 0.0
log_every: 2
threads: 1
eval: {seed: 1, max_per_clip: 3, flip: true}
noise: {outlier_scale: 0.5}
"""


def mocap_folder(root):
    # the split holds out CMU subject 7 by path (vid2pose/train/split.py): one held-out take, two training takes
    for rel, turn in (("cmu/iclone_cc/001/001_01.bvh", 0.0), ("cmu/iclone_cc/003/003_01.bvh", 60.0),
                      ("cmu/iclone_cc/007/007_01.bvh", 30.0)):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bvh(path, world_to_camera(walk(60, turn_deg=turn)), 30.0, units="cm")
    return root


def train_tiny(tmp_path, out, run_name):
    """The tiny config trained with seed 3 on the made-up mocap folder: (data folder, config file)."""
    data = mocap_folder(tmp_path / "mocap")
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    res = CliRunner().invoke(app, ["train-lifter", "--data", str(data), "--out", str(out), "--config", str(config),
                                   "--run-dir", str(tmp_path / run_name), "--seed", "3"])
    assert res.exit_code == 0, res.output
    return data, config


def test_train_then_eval_from_the_command_line(tmp_path):
    out = tmp_path / "w" / "tiny.pt"
    data, config = train_tiny(tmp_path, out, "run")
    runner = CliRunner()
    obj = torch.load(out, weights_only=True)
    assert obj["model"] == "SSRSTF" and obj["clip_len"] == 9
    assert obj["config"]["dim_feat"] == 16
    card = out.with_suffix(".md").read_text()
    assert "sha256" in card and "--config tiny.yaml --seed 3" in card and "--steps 6" in card
    assert "cmu_iclone_cc" in card  # the held-out take was evaluated
    assert " min on 1 CPU thread,\n" in card  # the config's threads: 1, as trained
    assert "lifted as `vid2pose run` lifts a track" in card and obj["train"]["metrics_as_run_mm"]["overall"]["windows"] == 4
    # the as-run figures say how many windows each frame was blended from (`run`'s default for ssr-stf)
    assert obj["train"]["as_run_windows_per_frame"] == 3 and "blend of the 3 overlapping windows" in card

    res = runner.invoke(app, ["eval-lifter", str(out), "--data", str(data), "--json"])
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output[res.output.index("{"):])["metrics_mm"]
    assert metrics["overall"]["windows"] > 0 and 0 < metrics["overall"]["mpjpe"] < 2000
    as_run = json.loads(res.output[res.output.index("{"):])["metrics_as_run_mm"]
    # the 60-frame take whole, under the default 4 camera draws
    assert as_run["overall"]["windows"] == 4 and 0 < as_run["overall"]["mpjpe"] < 2000
    assert json.loads(res.output[res.output.index("{"):])["as_run_windows_per_frame"] == 3

    # the ceiling: the same windows and cameras with the true 2D, the noise model off
    res = runner.invoke(app, ["eval-lifter", str(out), "--data", str(data), "--json", "--exact-2d"])
    assert res.exit_code == 0, res.output
    exact = json.loads(res.output[res.output.index("{"):])
    assert exact["input_2d"] == "exact 2D" and "held-out performers, exact 2D" in res.output
    assert exact["metrics_mm"]["overall"]["windows"] == metrics["overall"]["windows"]
    assert exact["metrics_mm"]["overall"]["mpjpe"] != metrics["overall"]["mpjpe"]

    # evaluating reads only the held-out takes: a folder holding nothing else gives the same figures
    held_out = tmp_path / "held_out" / "cmu/iclone_cc/007/007_01.bvh"
    held_out.parent.mkdir(parents=True)
    shutil.copy(data / "cmu/iclone_cc/007/007_01.bvh", held_out)
    res = runner.invoke(app, ["eval-lifter", str(out), "--data", str(tmp_path / "held_out"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output[res.output.index("{"):])["metrics_mm"] == metrics

    # a finished run resumes to the same end without training further
    res = runner.invoke(app, ["train-lifter", "--data", str(data), "--out", str(out), "--config", str(config),
                              "--run-dir", str(tmp_path / "run"), "--seed", "3", "--resume"])
    assert res.exit_code == 0, res.output


def test_train_lifter_refuses_a_missing_folder(tmp_path):
    res = CliRunner().invoke(app, ["train-lifter", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "w.pt")])
    assert res.exit_code == 2
    assert "does not exist" in res.output and res.output.count("\n") == 1

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "take.bvh").write_text("HIERARCHY\nnot really\n")
    res = CliRunner().invoke(app, ["train-lifter", "--data", str(junk), "--out", str(tmp_path / "w.pt"),
                                   "--run-dir", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert "error: no training take" in res.output
    assert not (tmp_path / "w.pt").exists()


def test_fine_tuning_starts_from_the_given_weights_and_the_card_chains_both_commands(tmp_path):
    first = tmp_path / "w" / "first.pt"
    data, _ = train_tiny(tmp_path, first, "run1")
    runner = CliRunner()

    # learning rate zero: the fine-tuned weights must be the first run's, bit for bit
    frozen = tmp_path / "frozen.yaml"
    frozen.write_text(TINY.replace("steps: 6", "steps: 2") + "optim: {lr: 0.0}\n")
    second = tmp_path / "w" / "second.pt"
    res = runner.invoke(app, ["train-lifter", "--data", str(data), "--out", str(second), "--config", str(frozen),
                              "--run-dir", str(tmp_path / "run2"), "--seed", "4", "--init", str(first)])
    assert res.exit_code == 0, res.output
    a = torch.load(first, weights_only=True)["state_dict"]
    b = torch.load(second, weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    card = second.with_suffix(".md").read_text()
    repro = card[card.index("## Reproduce"):]
    from vid2pose.train.train import sha256_of
    assert sha256_of(first) in repro
    assert repro.index("--out weights/first.pt --config tiny.yaml --seed 3 --steps 6") < repro.index(
        "--out weights/second.pt --config frozen.yaml --seed 4 --steps 2 --init weights/first.pt")

    # resumed without --init, the finished run still knows what it started from
    res = runner.invoke(app, ["train-lifter", "--data", str(data), "--out", str(second), "--config", str(frozen),
                              "--run-dir", str(tmp_path / "run2"), "--seed", "4", "--resume"])
    assert res.exit_code == 0, res.output
    card = second.with_suffix(".md").read_text()
    assert sha256_of(first) in card[card.index("## Reproduce"):]

    # the card can be written again from the summary inside the weights file (same text, weights untouched)
    from vid2pose.train.commands import main as train_main
    sha = sha256_of(second)
    second.with_suffix(".md").unlink()
    assert train_main(["card", str(second)]) == 0
    assert second.with_suffix(".md").read_text() == card and sha256_of(second) == sha

    # a different architecture is refused with one line, before any training
    other = tmp_path / "other.yaml"
    other.write_text(TINY.replace("dim_feat: 16", "dim_feat: 8"))
    res = runner.invoke(app, ["train-lifter", "--data", str(data), "--out", str(tmp_path / "w" / "x.pt"),
                              "--config", str(other), "--run-dir", str(tmp_path / "run3"), "--init", str(first)])
    assert res.exit_code == 2
    assert "same architecture" in res.output and res.output.count("\n") <= 2
    assert not (tmp_path / "w" / "x.pt").exists()

    # another frame rate is refused too; another window length is not (no temporal position embedding)
    other.write_text(TINY + "fps: 25.0\n")
    res = runner.invoke(app, ["train-lifter", "--data", str(data), "--out", str(tmp_path / "w" / "x.pt"),
                              "--config", str(other), "--run-dir", str(tmp_path / "run4"), "--init", str(first)])
    assert res.exit_code == 2 and "trained at 30 fps, the config asks for 25" in res.output
    assert not (tmp_path / "w" / "x.pt").exists()
    longer = tmp_path / "longer.yaml"
    longer.write_text(TINY.replace("clip_len: 9", "clip_len: 15").replace("steps: 6", "steps: 1"))
    res = runner.invoke(app, ["train-lifter", "--data", str(data), "--out", str(tmp_path / "w" / "x.pt"),
                              "--config", str(longer), "--run-dir", str(tmp_path / "run5"), "--init", str(first)])
    assert res.exit_code == 0, res.output
    assert torch.load(tmp_path / "w" / "x.pt", weights_only=True)["clip_len"] == 15

    # more layers only with grow_init: the new layer starts as an identity, so with learning rate zero the
    # grown network computes the first one's function, and the card's chain says how it was grown
    deeper = tmp_path / "deeper.yaml"
    deeper.write_text(frozen.read_text().replace("n_layers: 1", "n_layers: 2"))
    res = runner.invoke(app, ["train-lifter", "--data", str(data), "--out", str(tmp_path / "w" / "d.pt"),
                              "--config", str(deeper), "--run-dir", str(tmp_path / "run6"), "--init", str(first)])
    assert res.exit_code == 2 and "grow_init: true to add layers" in res.output
    deeper.write_text(deeper.read_text() + "grow_init: true\n")
    res = runner.invoke(app, ["train-lifter", "--data", str(data), "--out", str(tmp_path / "w" / "d.pt"),
                              "--config", str(deeper), "--run-dir", str(tmp_path / "run7"), "--init", str(first)])
    assert res.exit_code == 0, res.output
    from vid2pose.train.commands import load_lifter
    nets = [load_lifter(f)[0] for f in (first, tmp_path / "w" / "d.pt")]
    assert len(nets[1].layers) == 2
    x = torch.randn(2, 9, 17, 3)
    with torch.no_grad():
        torch.testing.assert_close(nets[1](x), nets[0](x), rtol=0, atol=1e-5)
    grown = torch.load(tmp_path / "w" / "d.pt", weights_only=True)["train"]["init"]["grown"]
    assert grown == {"from_layers": 1, "to_layers": 2, "layers": [0, 0]}


def test_the_card_counts_the_training_time_of_every_run_in_the_init_chain():
    from vid2pose.train.commands import _training_time

    assert _training_time({"train_seconds": 600.0}) == "a training run of 10 minutes"
    chain = {"train_seconds": 1200.0, "init": {"train_seconds": 600.0, "init": {"train_seconds": 300.0}}}
    assert _training_time(chain) == "3 training runs, each fine-tuning the previous one (5 + 10 + 20 minutes, 35 in all)"
    # weights made before the file recorded its run time: said so, no total invented
    chain["init"]["init"] = {"seed": 0}
    assert _training_time(chain) == ("3 training runs, each fine-tuning the previous one "
                                     "(unrecorded + 10 + 20 minutes)")


def test_the_reproduce_chain_names_stages_written_to_the_same_file_apart():
    from vid2pose.train.commands import _reproduce_chain

    def run(sha, seed, steps, total, init=None):
        return {"file": "ssr-stf.pt", "sha256": sha, "seed": seed, "steps": steps, "total_steps": total,
                "config_file": "configs/x.yaml", "init": init}

    first = dict(run("a" * 64, 0, 100, 100), file="first.pt")
    middle = run("b" * 64, 1, 90, 120, first)  # stopped early by its time budget
    last = run("c" * 64, 2, 80, 80, middle)
    text = _reproduce_chain("ssr-stf.pt", dict(last, file=None, sha256=None, total_steps=50, steps=50, init=last))
    lines = text.splitlines()
    assert lines[0] == f"# -> first.pt, sha256 {'a' * 64}"
    assert "--out weights/first.pt" in lines[1] and "--init" not in lines[1]
    assert lines[2] == f"# -> ssr-stf-stage2.pt, sha256 {'b' * 64} (90 of 120 planned steps)"
    assert "--out weights/ssr-stf-stage2.pt" in lines[3] and "--steps 120 --init weights/first.pt" in lines[3]
    assert "--out weights/ssr-stf-stage3.pt" in lines[5] and "--init weights/ssr-stf-stage2.pt" in lines[5]
    assert lines[-1].endswith("--steps 50 --init weights/ssr-stf-stage3.pt") and "--out weights/ssr-stf.pt" in lines[-1]


def test_the_card_says_which_2d_the_metrics_were_measured_with():
    from pathlib import Path

    from vid2pose.train.commands import model_card

    t = torch.load(Path(__file__).resolve().parents[1] / "weights" / "ssr-stf.pt", weights_only=True)["train"]
    card = model_card(Path("w.pt"), "0" * 64, t["config"], t)
    assert "## Metrics (validation split, with the noise model," in card and "with the noise model's errors" in card
    exact = dict(t["config"], noise=dict(t["config"]["noise"], disable=True))
    card = model_card(Path("w.pt"), "0" * 64, exact, t)
    assert "## Metrics (validation split, with the exact 2D (noise model off)," in card
    assert "gives from 2D without errors" in card and "noise model's errors" not in card


def test_a_moving_average_of_the_weights_is_kept_resumed_and_exported(tmp_path):
    from vid2pose.train.train import ema_decay_at

    assert ema_decay_at(0, 0.999) == 0.1 and ema_decay_at(10 ** 6, 0.999) == 0.999
    data = mocap_folder(tmp_path / "mocap")
    config = tmp_path / "ema.yaml"
    config.write_text(TINY + "optim: {ema_decay: 0.5}\n")
    out, run = tmp_path / "w" / "ema.pt", tmp_path / "run"
    args = ["train-lifter", "--data", str(data), "--out", str(out), "--config", str(config), "--run-dir", str(run),
            "--seed", "3"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    ck = torch.load(run / "last.pt", weights_only=False)
    shipped = torch.load(out, weights_only=True)
    # the file holds the average, which is not the trained weights after 6 steps of lr 1e-3
    assert all(torch.equal(shipped["state_dict"][k], ck["ema"][k]) for k in ck["ema"])
    assert any(not torch.equal(ck["ema"][k], ck["model"][k]) for k in ck["model"])
    assert shipped["train"]["weights_exported"] == "moving average of the weights (decay 0.5)"
    assert "moving average of the weights" in out.with_suffix(".md").read_text()

    # the average by hand: start from the weights of step 0, then one update per step with ema_decay_at
    runs = tmp_path / "by_hand"
    res = CliRunner().invoke(app, args[:-4] + ["--run-dir", str(runs), "--seed", "3", "--steps", "1"])
    assert res.exit_code == 0, res.output
    one = torch.load(runs / "last.pt", weights_only=False)
    # after one step: 0.1 * initial + 0.9 * trained; the initial weights are the fresh seed-3 model's
    torch.manual_seed(3)
    from vid2pose.train.train import build_model, load_config
    init = build_model(load_config(config), fresh=True).state_dict()
    for k, v in init.items():
        torch.testing.assert_close(one["ema"][k], 0.1 * v + 0.9 * one["model"][k])

    # resumed for more steps, the average goes on from the checkpoint's (not from the weights)
    res = CliRunner().invoke(app, args[:-4] + ["--run-dir", str(runs), "--seed", "3", "--steps", "2", "--resume"])
    assert res.exit_code == 0, res.output
    two = torch.load(runs / "last.pt", weights_only=False)
    d = ema_decay_at(1, 0.5)
    for k in init:
        torch.testing.assert_close(two["ema"][k], d * one["ema"][k] + (1 - d) * two["model"][k])
    # off (the default): no average in the checkpoint, the trained weights exported
    plain = tmp_path / "plain.yaml"
    plain.write_text(TINY)
    res = CliRunner().invoke(app, ["train-lifter", "--data", str(data), "--out", str(tmp_path / "w" / "p.pt"),
                                   "--config", str(plain), "--run-dir", str(tmp_path / "run_plain"), "--seed", "3"])
    assert res.exit_code == 0, res.output
    ck = torch.load(tmp_path / "run_plain" / "last.pt", weights_only=False)
    shipped = torch.load(tmp_path / "w" / "p.pt", weights_only=True)
    assert "ema" not in ck and "weights_exported" not in shipped["train"]
    assert all(torch.equal(shipped["state_dict"][k], ck["model"][k]) for k in ck["model"])


def test_data_parallel_processes_take_the_step_of_their_averaged_gradients(tmp_path):
    """processes: 2 -> two processes, each drawing its half of every batch (rng [seed, step, rank]); the
    weights they end with are those of one process that averages the two halves' gradients by hand."""
    import numpy as np

    from vid2pose.train import train as tr
    from vid2pose.train.data import make_batch

    data = mocap_folder(tmp_path / "mocap")
    config = tmp_path / "dp.yaml"
    config.write_text(TINY.replace("threads: 1", "threads: 2\nprocesses: 2"))
    out, run = tmp_path / "w" / "dp.pt", tmp_path / "run"
    res = CliRunner().invoke(app, ["train-lifter", "--data", str(data), "--out", str(out), "--config", str(config),
                                   "--run-dir", str(run), "--seed", "3"])
    assert res.exit_code == 0, res.output
    ck = torch.load(run / "last.pt", weights_only=False)
    assert ck["step"] == 6 and not list(run.glob("processes-*"))  # the rendezvous file is gone
    assert "in 2 data-parallel processes" in out.with_suffix(".md").read_text()

    cfg = tr.load_config(config)
    corpus, _ = tr.Runner(cfg, [data], tmp_path / "by_hand", 3, False).corpora()
    torch.manual_seed(3)
    model = tr.build_model(cfg, fresh=True)
    o = cfg["optim"]
    opt = torch.optim.AdamW(model.parameters(), lr=o["lr"], weight_decay=o["weight_decay"])
    for step in range(6):
        halves = []
        for rank in range(2):
            b = make_batch(np.random.default_rng([3, step, rank]), corpus, 2, cfg["clip_len"], cfg)
            loss, _ = tr.lifter_loss(model(torch.from_numpy(b["input"][b["ok"]])),
                                     torch.from_numpy(b["target"][b["ok"]]), cfg["loss"])
            opt.zero_grad()
            loss.backward()
            halves.append([p.grad.clone() for p in model.parameters()])
        for p, g0, g1 in zip(model.parameters(), *halves):
            p.grad = (g0 + g1) / 2
        for g in opt.param_groups:
            g["lr"] = tr.lr_at(step, 6, o)
        torch.nn.utils.clip_grad_norm_(model.parameters(), o["grad_clip"])
        opt.step()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(ck["model"][k], v, rtol=1e-5, atol=1e-6)

    # a count that does not divide the batch is a clear error before anything starts
    config.write_text(TINY.replace("threads: 1", "processes: 3"))
    res = CliRunner().invoke(app, ["train-lifter", "--data", str(data), "--out", str(tmp_path / "x.pt"), "--config",
                                   str(config), "--run-dir", str(tmp_path / "run3"), "--seed", "3"])
    assert res.exit_code == 2 and "processes must be a divisor of batch_size (4), got 3" in res.output


def test_data_parallel_processes_share_the_first_one_s_time_budget_decisions(tmp_path):
    """With `steps: auto` the first process sets the step count and stops at the deadline; the other learns
    both at the next step's all-reduce, so the two leave the loop together (else one would wait forever).
    A budget spent before training starts (here: at once) still gets a step count at the first probe,
    step + 10, and stops at the deadline, one step after the others learn the count."""
    data = mocap_folder(tmp_path / "mocap")
    for procs, stopped_at in ((2, 4), (1, 2)):
        config = tmp_path / f"p{procs}.yaml"
        config.write_text(TINY.replace("threads: 1", f"threads: 2\nprocesses: {procs}").replace("steps: 6", "steps: auto")
                          + "time_budget_min: 0.0001\nreserve_min: 0.0\n")
        out, run = tmp_path / "w" / f"p{procs}.pt", tmp_path / f"run{procs}"
        res = CliRunner().invoke(app, ["train-lifter", "--data", str(data), "--out", str(out), "--config", str(config),
                                       "--run-dir", str(run), "--seed", "3"])
        assert res.exit_code == 0, res.output
        ck = torch.load(run / "last.pt", weights_only=False)
        assert (ck["step"], ck["total_steps"]) == (stopped_at, 12)
        assert torch.load(out, weights_only=True)["train"]["stopped_early"] is True


def test_a_data_parallel_run_resumed_ends_where_the_uninterrupted_one_does(tmp_path):
    """Stopped after 3 steps and resumed to 6, two processes end with the weights and moving average of the
    6-step run that was never stopped (a constant learning rate, so that both runs have one schedule): both
    processes restart from the checkpoint, the first alone keeps the average."""
    data = mocap_folder(tmp_path / "mocap")
    config = tmp_path / "dp.yaml"
    config.write_text(TINY.replace("threads: 1", "threads: 2\nprocesses: 2")
                      + "optim: {ema_decay: 0.5, warmup_steps: 1, lr_min_ratio: 1.0}\n")

    def train(run, *extra):
        res = CliRunner().invoke(app, ["train-lifter", "--data", str(data), "--out", str(tmp_path / "w" / f"{run}.pt"),
                                       "--config", str(config), "--run-dir", str(tmp_path / run), "--seed", "3", *extra])
        assert res.exit_code == 0, res.output
        return torch.load(tmp_path / run / "last.pt", weights_only=False)

    whole = train("whole")
    assert train("halves", "--steps", "3")["step"] == 3
    done = train("halves", "--steps", "6", "--resume")
    assert done["step"] == 6
    moved = False
    for k in whole["model"]:
        torch.testing.assert_close(done["model"][k], whole["model"][k], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(done["ema"][k], whole["ema"][k], rtol=1e-5, atol=1e-6)
        moved |= not torch.equal(done["ema"][k], done["model"][k])
    assert moved


def test_ctrl_c_or_sigterm_finishes_the_step_checkpoints_and_resume_gives_the_uninterrupted_weights(tmp_path, monkeypatch):
    """A signal while a step is under way (sent here from the third batch's drawing): that step is finished,
    checkpointed, the command exits 130 with where to resume, and `--resume` ends with the uninterrupted run's
    weights. With two processes the first passes the stop on with that step's all-reduce: both stop after it."""
    import os
    import signal

    from vid2pose.train import data as train_data

    data = mocap_folder(tmp_path / "mocap")
    real_make_batch = train_data.make_batch

    def run(name, config_text, *extra, signal_at=None, signum=signal.SIGINT):
        calls = []

        def make_batch(*a, **k):  # this process's batches only (other processes import their own)
            calls.append(1)
            if len(calls) == signal_at:
                os.kill(os.getpid(), signum)
            return real_make_batch(*a, **k)

        monkeypatch.setattr(train_data, "make_batch", make_batch)
        config = tmp_path / f"{name}.yaml"
        config.write_text(config_text)
        out = tmp_path / "w" / f"{name}.pt"
        res = CliRunner().invoke(app, ["train-lifter", "--data", str(data), "--out", str(out), "--config", str(config),
                                       "--run-dir", str(tmp_path / name), "--seed", "3", *extra])
        return res, out, torch.load(tmp_path / name / "last.pt", weights_only=False)

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    _, whole_out, whole = run("whole", TINY)
    res, out, ck = run("stopped", TINY, signal_at=3)
    assert res.exit_code == 130, res.output
    assert "interrupted (SIGINT) after step 3/6" in res.output and "--resume" in res.output
    assert ck["step"] == 3 and not out.exists()  # no weights file that looks finished
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # handlers given back
    res, out, ck = run("stopped", TINY, "--resume")
    assert res.exit_code == 0, res.output
    assert ck["step"] == 6
    for k, v in whole["model"].items():
        torch.testing.assert_close(ck["model"][k], v, rtol=1e-5, atol=1e-6)
    assert out.exists() and whole_out.exists()

    dp = TINY.replace("threads: 1", "threads: 2\nprocesses: 2")
    res, out, ck = run("dp", dp, signal_at=3, signum=signal.SIGTERM)
    assert res.exit_code == 130, res.output
    assert "interrupted (SIGTERM) after step 3/6" in res.output and "did not stop" not in res.output
    assert ck["step"] == 3 and not out.exists() and not list((tmp_path / "dp").glob("processes-*"))
    res, out, ck = run("dp", dp, "--resume")
    assert res.exit_code == 0 and ck["step"] == 6 and out.exists(), res.output


def test_minutes_fits_the_step_count_to_a_wall_time(tmp_path):
    """--minutes replaces the config's fixed step count with one fitted to the time (here a budget spent at
    once: the first probe gives step + 10 and the deadline stops the run); --steps with it is a usage error."""
    data = mocap_folder(tmp_path / "mocap")
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY + "reserve_min: 0.0\n")
    out, run = tmp_path / "w" / "m.pt", tmp_path / "run"
    res = CliRunner().invoke(app, ["train-lifter", "--data", str(data), "--out", str(out), "--config", str(config),
                                   "--run-dir", str(run), "--seed", "3", "--minutes", "0.0001"])
    assert res.exit_code == 0, res.output
    ck = torch.load(run / "last.pt", weights_only=False)
    assert (ck["step"], ck["total_steps"]) == (2, 12)  # not the config's 6
    assert "--steps 12" in out.with_suffix(".md").read_text()  # the card's command fixes the fitted count
    # with --resume the minutes count from now: the step count is fitted anew (a spent budget again stops the
    # run after one step; the checkpoint's 12 would have run 10 more)
    res = CliRunner().invoke(app, ["train-lifter", "--data", str(data), "--out", str(out), "--config", str(config),
                                   "--run-dir", str(run), "--seed", "3", "--minutes", "0.0001", "--resume"])
    ck = torch.load(run / "last.pt", weights_only=False)
    assert res.exit_code == 0 and ck["step"] == 3 and "fitted to 0.0001" in " ".join(res.output.split()), res.output
    # a finished fixed-length run goes on for the given time
    fixed = tmp_path / "fixed"
    args = ["train-lifter", "--data", str(data), "--out", str(tmp_path / "f.pt"), "--config", str(config),
            "--run-dir", str(fixed), "--seed", "3"]
    assert CliRunner().invoke(app, [*args, "--steps", "4"]).exit_code == 0
    res = CliRunner().invoke(app, [*args, "--minutes", "0.02", "--resume"])
    ck = torch.load(fixed / "last.pt", weights_only=False)
    assert res.exit_code == 0 and ck["step"] > 4 and ck["total_steps"] >= 14, res.output
    for extra in (["--steps", "3", "--minutes", "5"], ["--minutes", "0"]):
        res = CliRunner().invoke(app, ["train-lifter", "--data", str(data), "--out", str(tmp_path / "x.pt"),
                                       "--config", str(config), "--run-dir", str(tmp_path / "x"), *extra])
        assert res.exit_code == 2 and "error: " in res.output, res.output
