"""MotionAGFormer against the upstream golden data (shared/golden) and flip helpers."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from vid2pose.models.flip import flip_average, flip_pose
from vid2pose.models.motionagformer import MotionAGFormer

GOLDEN = Path(os.environ.get("VID2POSE_GOLDEN", Path(__file__).resolve().parents[2] / "shared" / "golden"))
TOL = dict(rtol=1e-4, atol=5e-5)  # shared/golden/README.md


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread avoids OpenMP hand-off stalls on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _golden_file(name: str) -> Path:
    path = GOLDEN / name
    if not path.is_file():
        pytest.skip(f"golden file {path} not found (set VID2POSE_GOLDEN to the shared/golden folder)")
    return path


@pytest.fixture(scope="module")
def golden():
    return torch.load(_golden_file("motionagformer_small.pt"), weights_only=True)


@pytest.fixture(scope="module")
def golden_model(golden):
    model = MotionAGFormer(**golden["config"])
    model.load_state_dict(golden["state_dict"], strict=True)
    return model.eval()


def test_constructor_takes_exactly_the_config_keys(golden):
    import inspect
    params = set(inspect.signature(MotionAGFormer.__init__).parameters) - {"self"}
    assert params == set(golden["config"])


def test_state_dict_names_and_order(golden, golden_model):
    mine = golden_model.state_dict()
    assert list(mine) == list(golden["state_dict"])
    for k, v in golden["state_dict"].items():
        assert mine[k].shape == v.shape and mine[k].dtype == v.dtype, k


def test_forward_matches_golden(golden, golden_model):
    with torch.no_grad():
        out = golden_model(golden["input"])
        rep = golden_model(golden["input"], return_rep=True)
    assert out.shape == golden["input"].shape[:-1] + (3,)
    torch.testing.assert_close(rep, golden["rep"], **TOL)
    torch.testing.assert_close(out, golden["output"], **TOL)


def test_flip_average_matches_golden(golden, golden_model):
    with torch.no_grad():
        out = flip_average(golden_model, golden["input"])
    torch.testing.assert_close(out, golden["output_flip"], **TOL)


def test_intermediates_match_golden(golden, golden_model):
    """Sub-block outputs of layer 0, every layer output and the final norm (localises a regression)."""
    got = {}

    def keep(name):
        return lambda _m, _i, out: got.__setitem__(name, out)

    hooks = [golden_model.joints_embed.register_forward_hook(keep("joints_embed")),
             golden_model.norm.register_forward_hook(keep("final_norm"))]
    for i, layer in enumerate(golden_model.layers):
        hooks.append(layer.register_forward_hook(keep(f"layer{i}.out")))
        for sub in ("att_spatial", "att_temporal", "graph_spatial", "graph_temporal"):
            hooks.append(getattr(layer, sub).register_forward_hook(keep(f"layer{i}.{sub}")))
    try:
        with torch.no_grad():
            golden_model(golden["input"])
    finally:
        for h in hooks:
            h.remove()
    inter = golden["intermediates"]
    got["embed_plus_pos"] = got["joints_embed"] + golden_model.pos_embed.detach()
    layer0 = golden_model.layers[0]
    with torch.no_grad():
        got["layer0.fusion_alpha"] = layer0.fusion.weights(got["layer0.att_temporal"], got["layer0.graph_temporal"])
    # Walk in forward order so the first failure is the first divergence.
    order = ["joints_embed", "embed_plus_pos", "layer0.att_spatial", "layer0.att_temporal",
             "layer0.graph_spatial", "layer0.graph_temporal", "layer0.fusion_alpha"]
    order += [f"layer{i}.out" for i in range(len(golden_model.layers))] + ["final_norm"]
    assert set(order) >= set(inter), set(inter) - set(order)
    for name in order:
        if name in inter:
            torch.testing.assert_close(got[name], inter[name], **TOL, msg=lambda m, n=name: f"{n}: {m}")


def _released_configs():
    path = GOLDEN / "motionagformer_keys.json"
    if not path.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{path} not found (set VID2POSE_GOLDEN)"))]
    configs = json.loads(path.read_text())["configs"]
    return [pytest.param(c, id=name.split()[0]) for name, c in configs.items()]


@pytest.mark.parametrize("cfg", _released_configs())
def test_released_configs_keys_shapes_counts(cfg):
    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = MotionAGFormer(**cfg["constructor_kwargs"])
    sd = model.state_dict()
    buffers = {name for name, _ in model.named_buffers()}
    mine = [(k, list(v.shape), str(v.dtype).removeprefix("torch."), "buffer" if k in buffers else "parameter")
            for k, v in sd.items()]
    ref = [(k["name"], k["shape"], k["dtype"], k["kind"]) for k in cfg["keys"]]
    assert mine == ref
    assert len(sd) == cfg["n_state_dict_entries"]
    assert sum(p.numel() for p in model.parameters()) == cfg["n_params"]


def test_small_model_shapes_and_wrong_length():
    model = MotionAGFormer(n_layers=1, dim_feat=16, dim_rep=24, num_heads=2, n_frames=9).eval()
    x = torch.randn(3, 9, 17, 3)
    with torch.no_grad():
        assert model(x).shape == (3, 9, 17, 3)
        assert model(x, return_rep=True).shape == (3, 9, 17, 24)
    with pytest.raises(ValueError, match="n_frames"):
        model(torch.randn(1, 8, 17, 3))


def test_act_layer_as_class_and_unsupported_flags():
    kw = dict(n_layers=1, dim_feat=16, dim_rep=8, num_heads=2, n_frames=5)
    a = MotionAGFormer(act_layer="gelu", **kw)
    b = MotionAGFormer(act_layer=torch.nn.GELU, **kw)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 5, 17, 3)
    with torch.no_grad():
        torch.testing.assert_close(a.eval()(x), b.eval()(x))
    for flag, value in (("hierarchical", True), ("use_tcn", True), ("graph_only", True),
                        ("use_adaptive_fusion", False), ("use_temporal_similarity", False)):
        with pytest.raises(NotImplementedError, match=flag):
            MotionAGFormer(**kw, **{flag: value})


def test_flip_pose_definition():
    x = torch.randn(2, 4, 17, 3)
    y = flip_pose(x)
    pairs = [(1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16)]
    perm = list(range(17))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    torch.testing.assert_close(y[..., 0], -x[..., perm, 0], rtol=0, atol=0)
    torch.testing.assert_close(y[..., 1:], x[..., perm, 1:], rtol=0, atol=0)
    torch.testing.assert_close(flip_pose(y), x, rtol=0, atol=0)  # involution
    assert flip_pose(torch.randn(17, 2)).shape == (17, 2)
    with pytest.raises(ValueError):
        flip_pose(torch.randn(3, 16, 3))


def test_flip_average_is_flip_equivariant():
    torch.manual_seed(0)
    model = MotionAGFormer(n_layers=1, dim_feat=16, dim_rep=16, num_heads=2, n_frames=7).eval()
    x = torch.randn(2, 7, 17, 3)
    with torch.no_grad():
        lhs = flip_pose(flip_average(model, flip_pose(x)))
        rhs = flip_average(model, x)
    torch.testing.assert_close(lhs, rhs, rtol=1e-5, atol=1e-6)
