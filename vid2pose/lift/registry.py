"""One registry of lifters: what each network is, how it is fed, and where its weights come from.

Weights files themselves are registered in vid2pose.weights (shown by `vid2pose weights`);
an entry here names its file by that registry key.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from vid2pose.weights import WeightsSpec, register


@dataclass(frozen=True)
class LifterSpec:
    name: str
    model: str  # class name in vid2pose.models
    config: dict  # constructor kwargs (a project-trained file carries its own)
    weights: str  # key in vid2pose.weights.WEIGHTS
    norm: str  # "screen" or "box" (vid2pose.lift.normalize)
    fps: float  # frame rate the network was trained at
    clip_len: int  # T of the training windows
    short_clips: str  # how a track shorter than clip_len is fed: "resample", "cut" or "pad"
    flip: bool = True  # flip test-time augmentation, as the released configs do
    # Windows start every clip_len // hops frames, so each frame is lifted by about hops windows
    # (`--windows-per-frame`). 4 hides window borders even for an untrained network. ssr-stf uses 3:
    # no border jump already at 2 (border/elsewhere acceleration 1.10-1.12), and on the held-out spans
    # as run (stage 12) 2 -> 3 -> 4 -> 9 windows give MPJPE 45.3 -> 45.0 -> 45.0 -> 44.9 mm, on the CMU
    # performers 52.1 -> 51.8 -> 51.5 -> 51.3, for 1.9 -> 2.3 -> 4.3 -> 7.4 ms per frame on 2 CPU cores
    # (benchmarks/lift.py --windows-per-frame; the default 2D stage takes 21 ms).
    hops: int = 4
    training_data: str = ""
    notes: str = ""
    extra: dict = field(default_factory=dict)


_MAGF_COMMON = dict(dim_in=3, dim_rep=512, dim_out=3, mlp_ratio=4, act_layer="gelu", attn_drop=0.0, drop=0.0,
                    drop_path=0.0, use_layer_scale=True, layer_scale_init_value=1e-5, use_adaptive_fusion=True,
                    num_heads=8, qkv_bias=False, qkv_scale=None, hierarchical=False, num_joints=17,
                    use_temporal_similarity=True, temporal_connection_len=1, use_tcn=False, graph_only=False,
                    neighbour_num=2)
_MAGF_SIZES = {"xs": (12, 64, 27), "s": (26, 64, 81), "b": (16, 128, 243), "l": (26, 128, 243)}
_MAGF_DRIVE = {  # Google Drive links from the MotionAGFormer README (Human3.6M weights)
    "xs": "https://drive.google.com/file/d/1Pab7cPvnWG8NOVd0nnL1iqAfYCUY4hDH/view",
    "s": "https://drive.google.com/file/d/1DrF7WZdDvRPsH12gQm5DPXbviZ4waYFf/view",
    "b": "https://drive.google.com/file/d/1Iii5EwsFFm9_9lKBUPfN8bV5LmfkNUMP/view",
    "l": "https://drive.google.com/file/d/1WI8QSsD84wlXIdK1dLp6hPZq4FPozmVZ/view",
}
H36M_TERMS = ("code Apache-2.0; weights trained on Human3.6M, whose licence allows research use only")

LIFTERS: dict[str, LifterSpec] = {}


def _add(spec: LifterSpec, weights: WeightsSpec) -> None:
    register(weights)
    LIFTERS[spec.name] = spec


_add(LifterSpec(
    name="ssr-stf", model="SSRSTF", config={}, weights="ssr-stf", norm="box", fps=30.0, clip_len=27,
    short_clips="pad", hops=3,
    training_data="real motion capture (CMU + Bandai Namco) seen through virtual cameras with a 2D noise model",
    notes="the project's own training of its SSR-STF design (no official code or weights exist); the file "
          "carries its config, frame rate and clip length"),
    WeightsSpec(name="ssr-stf", task="lifter", filename="ssr-stf.pt",
                source="trained by this project (vid2pose train-lifter); ships in weights/ with a model card",
                licence="see weights/ssr-stf.md (training data include CC BY-NC 4.0 motion)",
                description="SSR-STF 2D-to-3D lifter, the default"))

for _size, (_layers, _dim, _t) in _MAGF_SIZES.items():
    _add(LifterSpec(
        name=f"motionagformer-{_size}", model="MotionAGFormer",
        config=dict(_MAGF_COMMON, n_layers=_layers, dim_feat=_dim, n_frames=_t),
        weights=f"motionagformer-{_size}", norm="screen", fps=50.0, clip_len=_t, short_clips="resample",
        training_data="Human3.6M (2D from a fine-tuned Stacked Hourglass)"),
        WeightsSpec(name=f"motionagformer-{_size}", task="lifter", filename=f"motionagformer-{_size}-h36m.pth.tr",
                    source=f"MotionAGFormer README (TaatiTeam/MotionAGFormer), {_MAGF_DRIVE[_size]}",
                    licence=H36M_TERMS, description=f"MotionAGFormer-{_size.upper()}, T={_t}"))

_add(LifterSpec(
    name="motionbert", model="DSTformer",
    config=dict(dim_in=3, dim_out=3, dim_feat=512, dim_rep=512, depth=5, num_heads=8, mlp_ratio=2, num_joints=17,
                maxlen=243, layernorm_eps=1e-6),
    weights="motionbert", norm="screen", fps=50.0, clip_len=243, short_clips="cut",
    training_data="Human3.6M (pretrained on H36M, AMASS, PoseTrack, InstaVariety; fine-tuned on H36M)",
    notes="MB_ft_h36m: root-relative 3D pose"),
    WeightsSpec(name="motionbert", task="lifter", filename="motionbert-ft-h36m.bin",
                source="MotionBERT README (Walter0807/MotionBERT), 3D pose H36M fine-tuned: "
                       "https://1drv.ms/f/s!AvAdh0LSjEOlgSoTqtyR5Zsgi8_Z?e=rn4VJf (best_epoch.bin, rename it)",
                licence=H36M_TERMS, description="MotionBERT DSTformer, MB_ft_h36m"))

_add(LifterSpec(
    name="motionbert-lite", model="DSTformer",
    config=dict(dim_in=3, dim_out=3, dim_feat=256, dim_rep=512, depth=5, num_heads=8, mlp_ratio=4, num_joints=17,
                maxlen=243, layernorm_eps=1e-6),
    weights="motionbert-lite", norm="box", fps=50.0, clip_len=243, short_clips="cut",
    training_data="Human3.6M (MotionBERT-Lite pretraining, fine-tuned on H36M in the 'global' setting)",
    notes="MB_ft_h36m_global_lite, the model of MotionBERT's in-the-wild script; its image-plane output is made "
          "root-relative here"),
    WeightsSpec(name="motionbert-lite", task="lifter", filename="motionbert-lite-ft-h36m-global.bin",
                source="MotionBERT README (Walter0807/MotionBERT), in-the-wild lite model: "
                       "https://1drv.ms/f/s!AvAdh0LSjEOlgT67igq_cIoYvO2y?e=bfEc73 (best_epoch.bin, rename it)",
                licence=H36M_TERMS, description="MotionBERT-Lite DSTformer, MB_ft_h36m_global_lite"))

DEFAULT_LIFTER = "ssr-stf"
