"""SSRSTF (our working design, spec ssr-stf.md 1.4): shapes, any T, gradients, sizes, SSRA locality."""
from __future__ import annotations

import pytest
import torch

from vid2pose.models.flip import flip_average, flip_pose
from vid2pose.models.ssrstf import SSRA, SSRSTF, SSRSTF_SIZES, SSRSTF_SPEC_PARAMS

TINY = dict(n_layers=2, dim_feat=16, dim_rep=32, num_heads=2)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread avoids OpenMP hand-off stalls on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


def _spec_formula(n_layers, dim_feat, dim_rep=512, joint_kernels=(3, 3, 2), frame_kernels=(5, 7, 3),
                  select_kernel=7, **_):
    """Spec 1.4.5: N (47 C^2 + 62 C + C sum(K) + 4 sum(S) + 6) + 535 C + 2051, where the
    last two terms are (23 + R) C + 4 R + 3 for dim_rep R = 512 (dim_in 3, 17 joints)."""
    c = dim_feat
    sum_k = joint_kernels[0] + joint_kernels[1] + frame_kernels[0] + frame_kernels[1]
    top = (23 + dim_rep) * c + 4 * dim_rep + 3
    return n_layers * (47 * c * c + 62 * c + c * sum_k + 4 * 2 * select_kernel + 6) + top


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return SSRSTF(**TINY).eval()


@pytest.mark.parametrize("T", [1, 5, 27, 81])
def test_any_clip_length(tiny, T):
    x = torch.randn(2, T, 17, 3)
    with torch.no_grad():
        out = tiny(x)
        rep = tiny(x, return_rep=True)
    assert out.shape == (2, T, 17, 3)
    assert rep.shape == (2, T, 17, TINY["dim_rep"])
    assert torch.isfinite(out).all()


def test_no_parameter_depends_on_T():
    """n_frames is only a hint: same shapes for any value, and no buffers at all."""
    a, b = SSRSTF(**TINY, n_frames=27), SSRSTF(**TINY, n_frames=243)
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
    assert not list(a.buffers())


def test_batch_items_are_independent(tiny):
    x = torch.randn(3, 6, 17, 3)
    with torch.no_grad():
        joint = tiny(x)
        single = torch.cat([tiny(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(joint, single, rtol=1e-5, atol=1e-6)


def test_gradients_reach_every_parameter():
    torch.manual_seed(1)
    model = SSRSTF(**TINY).train()
    x = torch.randn(2, 9, 17, 3, requires_grad=True)
    model(x).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    zero = [n for n, p in model.named_parameters() if p.grad.abs().sum() == 0]
    assert not zero, zero
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(SSRSTF_SIZES))
def test_named_sizes_match_spec_counts(name):
    with torch.device("meta"):  # counting only
        model = SSRSTF.from_size(name)
    assert _n_params(model) == SSRSTF_SPEC_PARAMS[name] == _spec_formula(**SSRSTF_SIZES[name])


def test_kernel_options_follow_formula_and_config_dict():
    cfg = dict(TINY, joint_kernels=[3, 5, 2], frame_kernels=[3, 3, 2], select_kernel=5, act_layer="gelu")
    model = SSRSTF(**cfg)  # lists, as a YAML/JSON config gives them
    assert _n_params(model) == _spec_formula(**cfg)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 4, 17, 3)).shape == (1, 4, 17, 3)


def test_state_dict_round_trip(tiny):
    other = SSRSTF(**TINY).eval()
    other.load_state_dict(tiny.state_dict(), strict=True)
    x = torch.randn(1, 5, 17, 3)
    with torch.no_grad():
        torch.testing.assert_close(other(x), tiny(x), rtol=0, atol=0)
    names = list(tiny.state_dict())
    assert {"pos_embed", "joints_embed.weight", "norm.weight", "rep_logit.fc.weight", "head.weight",
            "layers.0.fusion.weight", "layers.0.ssr_temporal.mixer.select.weight"} <= set(names)


def test_flip_average_is_flip_equivariant(tiny):
    x = torch.randn(2, 11, 17, 3)
    with torch.no_grad():
        lhs = flip_pose(flip_average(tiny, flip_pose(x)))
        rhs = flip_average(tiny, x)
    torch.testing.assert_close(lhs, rhs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", ["temporal", "spatial"])
def test_ssra_mixes_only_along_its_axis_and_within_reach(axis):
    torch.manual_seed(2)
    k1, k2, d, ks = (5, 7, 3, 7) if axis == "temporal" else (3, 3, 2, 7)
    mixer = SSRA(16, axis, k1, k2, d, ks).eval()
    # Output at t depends on p within (k1-1)/2 + d(k2-1)/2 (a2), widened by (ks-1)/2 (selection).
    reach = (k1 - 1) // 2 + d * (k2 - 1) // 2 + (ks - 1) // 2
    T, J = 40, 17
    z = torch.randn(2, T, J, 16)
    t0, j0 = 20, 8
    z2 = z.clone()
    z2[1, t0, j0] += 1.0
    with torch.no_grad():
        diff = (mixer(z2) - mixer(z)).abs().amax(-1)  # (B, T, J)
    assert diff[0].max() == 0  # no mixing across the batch
    changed = diff[1] > 0
    if axis == "temporal":
        assert changed[:, j0].any() and not changed[:, torch.arange(J) != j0].any()
        ts = changed[:, j0].nonzero().squeeze(1)
        assert (ts - t0).abs().max() <= reach
    else:
        assert changed[t0].any() and not changed[torch.arange(T) != t0].any()
        js = changed[t0].nonzero().squeeze(1)
        assert (js - j0).abs().max() <= reach


def test_rejects_bad_input(tiny):
    with pytest.raises(ValueError):
        tiny(torch.randn(1, 0, 17, 3))
    with pytest.raises(ValueError):
        tiny(torch.randn(1, 4, 16, 3))
    with pytest.raises(ValueError):
        SSRSTF.from_size("xxl")


@pytest.mark.parametrize("axis,k2,d", [("temporal", 7, 3), ("spatial", 3, 2), ("temporal", 4, 3), ("spatial", 5, 1)])
def test_the_spread_wide_kernel_is_the_dilated_convolution(axis, k2, d):
    """SSRA.wide (the dilated kernel spread out with zeros) gives dw_wide's values and gradients, also with
    an even spread length ((4 - 1) * 3 + 1 = 10: "same" padding split unevenly) and without dilation."""
    torch.manual_seed(4)
    mixer = SSRA(8, axis, 3, k2, d, 7)
    x = torch.randn(2, 8, 19, 17, requires_grad=True)
    ref = mixer.dw_wide(x)
    gx_ref, gw_ref = torch.autograd.grad((ref * ref).sum(), (x, mixer.dw_wide.weight))
    out = mixer.wide(x)
    gx, gw = torch.autograd.grad((out * out).sum(), (x, mixer.dw_wide.weight))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-5, atol=1e-5)
