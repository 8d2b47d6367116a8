"""Plain ``torch.nn.Module`` networks (no file or video I/O here).

Imported lazily so that ``import vid2pose`` stays fast and a CLI command that
needs no network never pays for importing torch.
"""
from importlib import import_module

_WHERE = {
    "MotionAGFormer": "vid2pose.models.motionagformer",
    "DSTformer": "vid2pose.models.dstformer",
    "SSRSTF": "vid2pose.models.ssrstf",
    "GLoT": "vid2pose.models.glot",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'vid2pose.models' has no attribute {name!r}")
