"""benchmarks/train_step.py runs the training step as train-lifter does (its helpers come from
vid2pose/train/train.py): one process, and two processes with the gradients all-reduced."""
from __future__ import annotations

from pathlib import Path

import yaml

from test_train_cli import TINY  # the tiny model of the train-lifter tests
from vid2pose.train import train as tr

REPO = Path(__file__).resolve().parents[1]


def test_step_benchmark_times_every_phase_in_one_and_two_processes(monkeypatch):
    # benchmarks/ is not a package; the spawned timing processes import the module by name, so the path
    # stays for the whole test
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import train_step as bench

    cfg = tr.deep_update(tr.DEFAULTS, yaml.safe_load(TINY))
    one = bench.time_steps(cfg, cfg["batch_size"], 1, steps=2)
    assert set(one) == set(bench.PHASES)
    assert one["all-reduce"] < one["step"] and all(one[p] > 0 for p in ("forward", "backward", "optimiser"))
    assert one["step"] >= one["forward"] + one["backward"] + one["optimiser"] - 1e-6
    two = bench.in_processes(cfg, 2, steps=1, reduce=True)
    assert len(two) == 2 and all(r["all-reduce"] > 0 and r["step"] > 0 for r in two)
