"""SPIN's ResNet-50 trunk: torchvision/SPIN key names, loading a SPIN-layout checkpoint."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vid2pose.errors import WeightsError
from vid2pose.models.resnet50 import FEATURE_DIM, SpinResNet50, spin_trunk_state_dict


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def random_trunk(seed: int = 0) -> SpinResNet50:
    """A trunk whose weights and BatchNorm statistics are all non-trivial."""
    torch.manual_seed(seed)
    m = SpinResNet50()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.0)
                mod.bias.normal_(0, 0.05)
                mod.running_mean.normal_(0, 0.05)
                mod.running_var.uniform_(1.0, 2.0)
                mod.num_batches_tracked.fill_(1234)
    return m.eval()


def spin_checkpoint(trunk: SpinResNet50, prefix: str = "") -> dict:
    """SPIN's trainer layout: {'model': HMR state_dict (trunk + head), 'optimizer': ..., counters}."""
    sd = {prefix + k: v.clone() for k, v in trunk.state_dict().items()}
    head = {"fc1.weight": torch.randn(1024, 2048 + 157), "fc1.bias": torch.randn(1024),
            "fc2.weight": torch.randn(1024, 1024), "fc2.bias": torch.randn(1024),
            "decpose.weight": torch.randn(144, 1024), "decpose.bias": torch.randn(144),
            "decshape.weight": torch.randn(10, 1024), "decshape.bias": torch.randn(10),
            "deccam.weight": torch.randn(3, 1024), "deccam.bias": torch.randn(3),
            "init_pose": torch.randn(1, 144), "init_shape": torch.randn(1, 10), "init_cam": torch.randn(1, 3)}
    sd.update({prefix + k: v for k, v in head.items()})
    return {"model": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 5e-5, "params": [0, 1]}]},
            "epoch": 7, "batch_idx": 0, "batch_size": 64, "total_step_count": 1000,
            "dataset_perm": torch.randperm(10)}


def test_keys_are_torchvision_names():
    sd = SpinResNet50().state_dict()
    assert len(sd) == 318  # torchvision resnet50 minus fc.weight / fc.bias
    for key in ("conv1.weight", "bn1.running_var", "bn1.num_batches_tracked", "layer1.0.conv1.weight",
                "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_mean",
                "layer2.3.bn3.bias", "layer3.5.conv2.weight", "layer4.2.conv3.weight",
                "layer4.0.downsample.0.weight"):
        assert key in sd, key
    assert not any(k.startswith(("fc", "avgpool")) for k in sd)
    assert sum(p.numel() for p in SpinResNet50().parameters()) == 23_508_032
    m = SpinResNet50()
    # v1.5: the stride sits on the 3x3 conv of the first block of layers 2-4
    assert m.layer2[0].conv2.stride == (2, 2) and m.layer2[0].conv1.stride == (1, 1)
    assert m.layer1[0].conv2.stride == (1, 1) and m.layer4[0].downsample[0].stride == (2, 2)
    assert m.layer1[1].downsample is None


def test_loads_spin_checkpoint_file_and_extracts_features(tmp_path):
    src = random_trunk()
    path = tmp_path / "spin_model_checkpoint.pth.tar"
    torch.save(spin_checkpoint(src), path)
    model = SpinResNet50.from_checkpoint(path)  # safe loading: tensors and plain containers only
    assert not model.training
    for k, v in src.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=0, atol=0, msg=k)

    x = torch.randn(2, 3, 224, 224)
    feats = model.features(x, batch_size=1)
    assert feats.shape == (2, FEATURE_DIM) and bool((feats >= 0).all()) and torch.isfinite(feats).all()
    with torch.no_grad():
        torch.testing.assert_close(feats, src(x))


def test_prefix_head_and_missing_keys():
    src = random_trunk(1)
    sd = spin_trunk_state_dict(spin_checkpoint(src, prefix="module."))
    assert set(sd) == set(src.state_dict())  # head keys dropped, DataParallel prefix stripped

    # old files without num_batches_tracked still load strictly
    ckpt = spin_checkpoint(src)
    ckpt["model"] = {k: v for k, v in ckpt["model"].items() if "num_batches_tracked" not in k}
    SpinResNet50().load_spin(ckpt)

    broken = spin_checkpoint(src)
    del broken["model"]["layer3.2.conv2.weight"]
    with pytest.raises(WeightsError, match="does not match"):
        SpinResNet50().load_spin(broken)
    with pytest.raises(WeightsError, match="no ResNet-50 trunk"):
        SpinResNet50().load_spin({"model": {"fc1.weight": torch.zeros(1)}})


def test_untrusted_pickle_needs_trust(tmp_path):
    ckpt = spin_checkpoint(random_trunk(2))
    ckpt["dataset_perm"] = np.arange(10)  # a numpy array: the safe loader refuses it
    path = tmp_path / "spin.pth.tar"
    torch.save(ckpt, path)
    with pytest.raises(WeightsError, match="trust"):
        SpinResNet50.from_checkpoint(path)
    SpinResNet50.from_checkpoint(path, trust=True)
