"""Small helpers for the backends that run ONNX models through onnxruntime."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import numpy as np

from vid2pose.errors import MissingDependencyError, WeightsError

log = logging.getLogger(__name__)

ORT_INSTALL = 'pip install "vid2pose[rtm]"  (onnxruntime; use onnxruntime-gpu for CUDA)'


def import_onnxruntime(backend: str):
    try:
        import onnxruntime
    except ImportError as e:
        raise MissingDependencyError(
            f"the {backend} backend needs onnxruntime, which is not installed: {ORT_INSTALL}") from e
    return onnxruntime


def providers_for(ort, device: str) -> list:
    """onnxruntime execution providers for a vid2pose device name ("cpu", "cuda", "cuda:1")."""
    device = (device or "cpu").lower()
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" in ort.get_available_providers():
            dev_id = int(device.split(":", 1)[1]) if ":" in device else 0
            # CPU stays in the list so operators without a CUDA kernel still run.
            return [("CUDAExecutionProvider", {"device_id": dev_id}), "CPUExecutionProvider"]
        log.warning("onnxruntime has no CUDA provider here (install onnxruntime-gpu); running on CPU")
    return ["CPUExecutionProvider"]


def open_session(path: Path, device: str, backend: str):
    """An InferenceSession for ``path``; a file onnxruntime cannot load becomes a one-line WeightsError."""
    ort = import_onnxruntime(backend)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # keep onnxruntime's graph-optimiser warnings off the console
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=providers_for(ort, device))
    except Exception as e:  # onnxruntime raises its own Exception subclasses (InvalidProtobuf, Fail, ...)
        detail = " ".join(str(e).split())[:200]
        raise WeightsError(f"{Path(path).name} is not a valid ONNX model ({type(e).__name__}: {detail})") from e


def dim_or(value, default: int | None) -> int | None:
    """A static ONNX dimension as int, or ``default`` for a symbolic/unknown one."""
    return value if isinstance(value, int) and value > 0 else default


def fixed_batch(shape) -> int | None:
    """The model's batch size if it is fixed, None if it is dynamic."""
    return dim_or(shape[0] if shape else None, None)


def run_chunked(session, x: np.ndarray, max_batch: int, names: list[str] | None = None
                ) -> Iterator[tuple[slice, list[np.ndarray]]]:
    """Run ``session`` on the rows of ``x`` in as few calls as the model allows.

    A dynamic batch dimension takes up to ``max_batch`` rows per call (the cap bounds memory);
    a fixed one takes exactly its size, so the last chunk is padded with zeros and the padding
    rows are cut from the outputs. Yields (rows of x, outputs for those rows).
    """
    inp = session.get_inputs()[0]
    fixed = fixed_batch(inp.shape)
    step = fixed or max_batch
    for start in range(0, len(x), step):
        part = x[start:start + step]
        n = len(part)
        if fixed and n < fixed:
            part = np.concatenate([part, np.zeros((fixed - n,) + part.shape[1:], part.dtype)])
        outs = session.run(names, {inp.name: part})
        yield slice(start, start + n), [o[:n] for o in outs]


def outputs_by_name(session) -> dict[str, object]:
    return {o.name: o for o in session.get_outputs()}
