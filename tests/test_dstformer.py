"""DSTformer against the upstream golden data (spec shared/specs/ssr-stf.md, section 4).

Golden folder: ``<repo>/../shared/golden`` or ``$VID2POSE_GOLDEN``; the golden
tests skip when it is absent.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from vid2pose.models import DSTformer

GOLDEN_DIR = Path(os.environ.get("VID2POSE_GOLDEN")
                  or Path(__file__).resolve().parents[2] / "shared" / "golden")
SMALL = GOLDEN_DIR / "dstformer_small.pt"
KEYS = GOLDEN_DIR / "dstformer_keys.json"
TOL = dict(rtol=1e-4, atol=5e-5)  # golden README, "How to use" step 4

try:  # shared helper, if present; otherwise the official flip (spec 2.5) below
    from vid2pose.models.flip import flip_average
except ImportError:
    _SWAP = [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]

    def _flip_pose(x: torch.Tensor) -> torch.Tensor:
        x = x[..., _SWAP, :].clone()
        x[..., 0] = -x[..., 0]
        return x

    def flip_average(model, x: torch.Tensor) -> torch.Tensor:
        return (model(x) + _flip_pose(model(_flip_pose(x)))) / 2


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # The golden models are tiny: on a busy machine, intra-op thread hand-offs
    # cost ~20x more than the arithmetic (0.9 s vs 0.04 s per forward measured).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _need(path: Path) -> None:
    if not path.is_file():
        pytest.skip(f"golden file {path} not found (set VID2POSE_GOLDEN to the golden folder)")


@pytest.fixture(scope="module")
def golden():
    _need(SMALL)
    return torch.load(SMALL, weights_only=True)


@pytest.fixture(scope="module")
def model(golden):
    m = DSTformer(**golden["config"])
    m.load_state_dict(golden["state_dict"], strict=True)
    return m.eval()


def test_state_dict_names_and_order(golden, model):
    sd = model.state_dict()
    assert list(sd) == list(golden["state_dict"])
    for k, v in golden["state_dict"].items():
        assert sd[k].shape == v.shape and sd[k].dtype == v.dtype, k


def test_intermediates(golden, model):
    """Compare in forward order so that a failure names the first divergence."""
    got = {}
    hooks = [model.blocks_st[0].register_forward_pre_hook(
        lambda m, args: got.__setitem__("embedded", args[0]))]
    for i in range(model.depth):
        hooks.append(model.blocks_st[i].register_forward_hook(
            lambda m, a, out, i=i: got.__setitem__(f"depth{i}.x_st", out)))
        hooks.append(model.blocks_ts[i].register_forward_hook(
            lambda m, a, out, i=i: got.__setitem__(f"depth{i}.x_ts", out)))
        hooks.append(model.ts_attn[i].register_forward_hook(
            lambda m, a, out, i=i: got.__setitem__(f"depth{i}.alpha", out.softmax(-1))))
    hooks.append(model.norm.register_forward_hook(
        lambda m, a, out: got.__setitem__("final_norm", out)))
    try:
        with torch.no_grad():
            model(golden["input"])
    finally:
        for h in hooks:
            h.remove()
    order = ["embedded"] + [f"depth{i}.{n}" for i in range(model.depth)
                            for n in ("x_st", "x_ts", "alpha")] + ["final_norm"]
    ref = golden["intermediates"]
    assert set(order) == set(ref)
    for name in order:
        torch.testing.assert_close(got[name], ref[name], **TOL, msg=lambda m, n=name: f"{n}: {m}")


def test_output_and_rep(golden, model):
    with torch.no_grad():
        torch.testing.assert_close(model(golden["input"]), golden["output"], **TOL)
        rep = model(golden["input"], return_rep=True)
        torch.testing.assert_close(rep, golden["rep"], **TOL)
        torch.testing.assert_close(model.get_representation(golden["input"]), rep)


def test_flip_average(golden, model):
    with torch.no_grad():
        torch.testing.assert_close(flip_average(model, golden["input"]), golden["output_flip"], **TOL)


def test_short_clip_cuts_temporal_embedding(golden, model):
    assert golden["input_short"].shape[1] < golden["config"]["maxlen"]
    with torch.no_grad():
        torch.testing.assert_close(model(golden["input_short"]), golden["output_short"], **TOL)


def test_batch_elements_are_independent(golden, model):
    # Guards the batch-major (B*T) regrouping of the temporal attention.
    x = golden["input"]
    with torch.no_grad():
        joint = model(x)
        single = torch.cat([model(x[i:i + 1]) for i in range(x.shape[0])])
    torch.testing.assert_close(joint, single, rtol=1e-5, atol=1e-6)


def test_rejects_clip_longer_than_maxlen():
    m = DSTformer(dim_feat=16, dim_rep=8, depth=1, num_heads=2, maxlen=5).eval()
    assert m(torch.zeros(1, 5, 17, 3)).shape == (1, 5, 17, 3)
    with pytest.raises(ValueError, match="maxlen"):
        m(torch.zeros(1, 6, 17, 3))


def test_train_mode_with_dropouts_backprops():
    torch.manual_seed(0)
    m = DSTformer(dim_feat=16, dim_rep=8, depth=2, num_heads=2, maxlen=9, drop_rate=0.1,
                  attn_drop_rate=0.1, drop_path_rate=0.2).train()
    m(torch.randn(2, 9, 17, 3)).square().mean().backward()
    assert all(p.grad is not None for p in m.parameters())


def _released():
    if not KEYS.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"golden file {KEYS} not found (set VID2POSE_GOLDEN to the golden folder)"))]
    cfgs = json.loads(KEYS.read_text())["configs"]
    return [pytest.param(c, id=name.split()[0]) for name, c in cfgs.items()]


@pytest.mark.parametrize("cfg", _released())
def test_released_config_keys_and_param_count(cfg):
    with torch.device("meta"):  # shapes only: no 170 MB allocation, no slow init
        m = DSTformer(**cfg["constructor_kwargs"])
        out = m(torch.zeros(cfg["input_shape"]))
        short = m(torch.zeros(1, 100, 17, 3))
    assert list(out.shape) == cfg["output_shape"]
    assert list(short.shape) == cfg["output_shape_for_input_1x100x17x3"]
    params = dict(m.named_parameters())
    got = [(k, list(v.shape), str(v.dtype).removeprefix("torch."),
            "parameter" if k in params else "buffer") for k, v in m.state_dict().items()]
    want = [(k["name"], k["shape"], k["dtype"], k["kind"]) for k in cfg["keys"]]
    assert got == want
    assert len(got) == cfg["n_state_dict_entries"]
    assert sum(p.numel() for p in m.parameters()) == cfg["n_params"]
