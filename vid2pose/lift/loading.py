"""Build a lifter network and load its weights file (official checkpoints unchanged, or ours)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from vid2pose.errors import UsageError, WeightsError
from vid2pose.lift.registry import LIFTERS, LifterSpec
from vid2pose.types import WeightsIdentity
from vid2pose.weights import identity, load_torch_checkpoint, resolve

OUR_FORMAT = "vid2pose.lifter"


@dataclass
class LoadedLifter:
    spec: LifterSpec  # with config/fps/clip_len as found in the file for project-trained weights
    model: torch.nn.Module
    weights: WeightsIdentity
    device: str


def extract_state_dict(ckpt) -> tuple[dict, dict]:
    """The state dict inside a checkpoint, as the official trainers and ours save them.

    MotionAGFormer saves it under "model", MotionBERT under "model_pos", both from a
    DataParallel wrapper (every key starts with "module."). Ours: {"format": ..., "state_dict"}.
    Returns (state_dict, metadata of our own format or {}).
    """
    if not isinstance(ckpt, dict):
        raise WeightsError("the file holds no state dict")
    meta = {}
    if ckpt.get("format") == OUR_FORMAT:
        meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
        sd = ckpt["state_dict"]
    else:
        for key in ("model", "model_pos", "state_dict", "model_state_dict"):
            if isinstance(ckpt.get(key), dict):
                sd = ckpt[key]
                break
        else:
            sd = ckpt  # a bare state dict
    if not sd or not all(isinstance(k, str) for k in sd):
        raise WeightsError("the file holds no state dict")
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd, meta


def build_model(spec: LifterSpec) -> torch.nn.Module:
    from vid2pose import models

    return getattr(models, spec.model)(**spec.config)


def load_lifter(name: str, weights: Path | str | None = None, device: str = "cpu",
                trust: bool = False) -> LoadedLifter:
    """The lifter called ``name`` with its weights (``weights`` overrides the registry's file)."""
    if name not in LIFTERS:
        raise UsageError(f"unknown lifter {name!r}; choose one of: {', '.join(LIFTERS)}")
    spec = LIFTERS[name]
    path = resolve(spec.weights, weights, flag="--weights")
    ckpt = load_torch_checkpoint(path, trust=trust)
    try:
        sd, meta = extract_state_dict(ckpt)
    except WeightsError as e:
        raise WeightsError(f"{Path(path).name} is not a {name} checkpoint: {e}") from e
    if meta:  # our own files say how they were trained
        if meta.get("model") != spec.model:
            raise WeightsError(f"{Path(path).name} holds a {meta.get('model')} lifter, not {spec.model} ({name})")
        spec = replace(spec, config=dict(meta["config"]), fps=float(meta.get("fps", spec.fps)),
                       clip_len=int(meta.get("clip_len", spec.clip_len)), norm=meta.get("norm", spec.norm),
                       flip=bool(meta.get("flip", spec.flip)))
    elif not spec.config:
        raise WeightsError(f"{Path(path).name} is not a vid2pose {name} weights file (no 'format' field)")
    model = build_model(spec)
    try:
        missing, unexpected = model.load_state_dict(sd, strict=False)
    except RuntimeError as e:  # shapes differ: another size or another model
        first = str(e).strip().splitlines()[-1].strip()
        raise WeightsError(f"{Path(path).name} does not fit {name}: {first}") from e
    if missing or unexpected:
        detail = (f"{len(missing)} missing (e.g. {missing[0]})" if missing else "") + \
                 (", " if missing and unexpected else "") + \
                 (f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "")
        raise WeightsError(f"{Path(path).name} does not fit {name}: {detail} keys; is it the right file?")
    model.eval().to(device)
    return LoadedLifter(spec=spec, model=model, weights=identity(spec.weights, path), device=device)
