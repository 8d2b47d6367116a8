"""2D person detection + keypoints. Backends are chosen by name from BACKENDS."""
from __future__ import annotations

from importlib import import_module
from pathlib import Path

from vid2pose.errors import UsageError
from vid2pose.pose2d.base import Pose2DBackend

# --pose2d name -> (module, factory function). Imported only when chosen, so a
# missing optional package only matters to the user who picks that backend.
BACKENDS: dict[str, tuple[str, str]] = {
    "mediapipe": ("vid2pose.pose2d.mediapipe_backend", "create"),
    "rtmpose": ("vid2pose.pose2d.rtmpose_backend", "create"),
    "yolo": ("vid2pose.pose2d.yolo_backend", "create"),
}
DEFAULT_BACKEND = "mediapipe"
PICKLED_WEIGHTS = {"yolo"}  # backends whose weights files are Python pickles
# Options when the 2D feeds a lifter (`run`). MediaPipe's landmark filter (one-euro) lags fast limbs,
# and the lifter, trained on lag-free noisy 2D, smooths over its own window: on the 12 rendered bench
# clips the unfiltered 2D was closer to the truth (median limb error 1.56 vs 1.67 % of the height) and
# lifted better (P-MPJPE 57.7 vs 58.8 mm, acceleration error 5.5 vs 5.7).
FOR_LIFTING: dict[str, dict] = {"mediapipe": {"smooth": False}}


def create_backend(name: str, weights: Path | None = None, device: str = "cpu",
                   trust: bool = False, for_lifting: bool = False) -> Pose2DBackend:
    """Build the backend called ``name``; ``weights`` overrides its model file (--pose2d-weights).

    ``trust`` (--trust-weights) lets a backend whose files are pickles (yolo's .pt) load
    ones that hold arbitrary Python objects; the others have no code in their files.
    ``for_lifting``: the 2D feeds a lifter (FOR_LIFTING options).
    """
    if name not in BACKENDS:
        raise UsageError(f"unknown 2D backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    module, factory = BACKENDS[name]
    extra = {"trust": True} if trust and name in PICKLED_WEIGHTS else {}
    if for_lifting:
        extra.update(FOR_LIFTING.get(name, {}))
    return getattr(import_module(module), factory)(weights=weights, device=device, **extra)
