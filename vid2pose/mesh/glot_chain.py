"""Pure pre/post-processing helpers of the official GLoT demo chain.

Written from ``shared/specs/glot.md`` section 1 (no file or video I/O here):

* :func:`demo_windows` / :func:`gather_windows` - the demo's 16-frame windows,
  including its static (repeated-frame) windows at both track ends (1.5);
* :func:`crop_affine` / :func:`demo_crop` / :func:`normalize_crops` - square
  box crop at scale 1.2 to 224x224 with ImageNet normalisation (1.3);
  :func:`warp_affine_opencv4` reproduces OpenCV 4.x's fixed-point bilinear
  ``warpAffine`` (the official demo's environment), because OpenCV 5 warps with
  more precise coordinates and differs by up to ~6 grey levels on textured images;
* :func:`demo_cam` - weak-perspective crop camera -> original-image camera (1.7).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "demo_windows",
    "gather_windows",
    "crop_affine",
    "warp_affine_opencv4",
    "demo_crop",
    "normalize_crops",
    "demo_cam",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def demo_windows(num_frames: int, seqlen: int = 16) -> np.ndarray:
    """(num_frames, seqlen) int64 track-local frame indices, one row per output frame.

    The model predicts window index ``seqlen // 2``.  Frames with a full window
    around them get the true sliding window; the official demo gives every other
    frame (the first ``seqlen // 2`` and last ``seqlen - seqlen // 2 - 1``) a
    window made of that frame repeated (quirk, no temporal context).  Gaps in a
    track are ignored by the caller: indices are positions in the track.
    """
    if num_frames < 1 or seqlen < 1:
        raise ValueError("num_frames and seqlen must be positive")
    mid = seqlen // 2
    r = np.arange(num_frames, dtype=np.int64)[:, None]
    sliding = r + np.arange(-mid, seqlen - mid, dtype=np.int64)[None, :]
    full = (r >= mid) & (r + (seqlen - mid - 1) <= num_frames - 1)
    return np.where(full, sliding, r).astype(np.int64)


def gather_windows(features: torch.Tensor, seqlen: int = 16) -> torch.Tensor:
    """Per-frame features (N, C) of one track -> model inputs (N, seqlen, C)."""
    idx = torch.from_numpy(demo_windows(features.shape[0], seqlen)).to(features.device)
    return features[idx]


def crop_affine(bboxes_cxcywh: np.ndarray, scale: float = 1.2, crop_size: int = 224) -> np.ndarray:
    """(N, 4) boxes (cx, cy, w, h) -> (N, 2, 3) float64 affine maps image -> crop.

    Follows the official construction: three float32 source points (centre,
    centre + half-height down, centre + half-width right) of the box scaled by
    ``scale``, mapped to the crop's centre / bottom-centre / right-centre with
    ``cv2.getAffineTransform``.  Analytically u = c/2 + (x - cx) * c / (scale*w),
    but going through float32 points + OpenCV reproduces the official matrices
    to the last bits.
    """
    boxes = np.asarray(bboxes_cxcywh, dtype=np.float64).reshape(-1, 4)
    half = crop_size * 0.5
    dst = np.array([[half, half], [half, crop_size], [crop_size, half]], dtype=np.float32)
    out = np.empty((len(boxes), 2, 3), dtype=np.float64)
    for i, (cx, cy, w, h) in enumerate(boxes):
        centre = np.array([cx, cy], dtype=np.float32)
        down = np.array([0.0, scale * h * 0.5], dtype=np.float32)
        right = np.array([scale * w * 0.5, 0.0], dtype=np.float32)
        src = np.stack([centre, centre + down, centre + right]).astype(np.float32)
        out[i] = cv2.getAffineTransform(src, dst)
    return out


def normalize_crops(crops_rgb_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 RGB -> (N, 3, H, W) float32, /255 then ImageNet mean/std."""
    x = torch.as_tensor(crops_rgb_uint8).permute(0, 3, 1, 2).float().div(255.0)
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


# OpenCV 4.x warpAffine constants: coordinates in 1/1024 px, bilinear table of
# 1/32 px steps, 15-bit interpolation weights.
_AB_BITS, _INTER_BITS, _COEF_BITS = 10, 5, 15


def warp_affine_opencv4(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear ``warpAffine`` (BORDER_CONSTANT 0) with OpenCV 4.x fixed-point numerics.

    image (H, W[, C]) uint8, matrix (2, 3) forward map image -> output,
    size (width, height).  OpenCV 4 inverts the matrix, rounds source
    coordinates to 1/1024 px, quantises them to 1/32 px and blends the 2x2
    neighbours with integer weights that sum to 2**15; doing the same here makes
    the crops independent of the installed OpenCV version (numpy only).
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise TypeError("warp_affine_opencv4 expects a uint8 image")
    squeeze = img.ndim == 2
    if squeeze:
        img = img[..., None]
    m = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    # inverse map output -> source, as OpenCV computes it
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    det = 1.0 / det if det != 0 else 0.0
    a00, a01 = m[1, 1] * det, -m[0, 1] * det
    a10, a11 = -m[1, 0] * det, m[0, 0] * det
    b0 = -a00 * m[0, 2] - a01 * m[1, 2]
    b1 = -a10 * m[0, 2] - a11 * m[1, 2]

    out_w, out_h = size
    ab = float(1 << _AB_BITS)
    rnd = 1 << (_AB_BITS - _INTER_BITS - 1)  # round to the nearest 1/32 px
    x = np.arange(out_w, dtype=np.float64)[None, :]
    y = np.arange(out_h, dtype=np.float64)[:, None]
    # np.rint rounds half to even like OpenCV's saturate_cast<int>
    sx = (np.rint(a00 * x * ab).astype(np.int64)
          + np.rint((a01 * y + b0) * ab).astype(np.int64) + rnd) >> (_AB_BITS - _INTER_BITS)
    sy = (np.rint(a10 * x * ab).astype(np.int64)
          + np.rint((a11 * y + b1) * ab).astype(np.int64) + rnd) >> (_AB_BITS - _INTER_BITS)
    tab = 1 << _INTER_BITS
    ix, fx = sx >> _INTER_BITS, sx & (tab - 1)
    iy, fy = sy >> _INTER_BITS, sy & (tab - 1)
    # (tab - f) * (tab - g) * 2**(15 - 2*5): exact integers summing to 2**15
    unit = 1 << (_COEF_BITS - 2 * _INTER_BITS)
    h, w, ch = img.shape
    # one-pixel zero frame: every neighbour outside the image reads the border value 0
    flat = np.pad(img, ((1, 1), (1, 1), (0, 0))).reshape(-1, ch)
    acc = np.full((out_h * out_w, ch), 1 << (_COEF_BITS - 1), dtype=np.int32)  # + rounding
    for dy, wy in ((0, tab - fy), (1, fy)):
        rows = (np.clip(iy + dy, -1, h) + 1) * (w + 2)
        for dx, wx in ((0, tab - fx), (1, fx)):
            idx = (rows + np.clip(ix + dx, -1, w) + 1).ravel()
            acc += np.take(flat, idx, axis=0) * (wy * wx * unit).astype(np.int32).reshape(-1, 1)
    # weights sum to 2**15, so the result is already within [0, 255]
    res = (acc >> _COEF_BITS).astype(np.uint8).reshape(out_h, out_w, ch)
    return res[..., 0] if squeeze else res


def demo_crop(image_rgb: np.ndarray, bboxes_cxcywh: np.ndarray, scale: float = 1.2,
              crop_size: int = 224, backend: str = "opencv4"
              ) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Crop every box of one RGB frame like the official demo.

    Returns ``(affine (N,2,3) float64, crops (N,crop,crop,3) uint8 RGB,
    normalised (N,3,crop,crop) float32)``.  Bilinear warp, black outside the
    image, no rotation / flip (test time).  ``backend="opencv4"`` (default)
    reproduces the official OpenCV 4.x pixels exactly; ``backend="cv2"`` calls
    the installed ``cv2.warpAffine`` (faster, but OpenCV 5 pixels differ).
    """
    img = np.ascontiguousarray(np.asarray(image_rgb))
    aff = crop_affine(bboxes_cxcywh, scale, crop_size)
    if backend == "opencv4":
        warp = lambda a: warp_affine_opencv4(img, a, (crop_size, crop_size))  # noqa: E731
    elif backend == "cv2":
        warp = lambda a: cv2.warpAffine(  # noqa: E731
            img, a, (crop_size, crop_size), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    else:
        raise ValueError(f"unknown backend {backend!r} (use 'opencv4' or 'cv2')")
    crops = (np.stack([warp(a) for a in aff]) if len(aff)
             else np.zeros((0, crop_size, crop_size) + img.shape[2:], dtype=np.uint8))
    return aff, crops, normalize_crops(crops)


def demo_cam(pred_cam: np.ndarray, bboxes_cxcywh: np.ndarray, img_width: float,
             img_height: float, bbox_scale: float = 1.2) -> np.ndarray:
    """Crop camera (s, tx, ty) -> original-image camera (sx, sy, tx', ty'), (N, 4).

    ``bboxes_cxcywh`` are the tracker boxes; like the demo they are first scaled
    by ``bbox_scale`` so that h equals the crop side.  In pixels the result means
    u = cx + (h/2) s (X + tx), v = cy + (h/2) s (Y + ty).
    """
    cam = np.asarray(pred_cam, dtype=np.float64).reshape(-1, 3)
    box = np.asarray(bboxes_cxcywh, dtype=np.float64).reshape(-1, 4)
    cx, cy, h = box[:, 0], box[:, 1], box[:, 3] * bbox_scale
    hw, hh = img_width / 2.0, img_height / 2.0
    sx = cam[:, 0] * h / img_width
    sy = cam[:, 0] * h / img_height
    tx = (cx - hw) / hw / sx + cam[:, 1]
    ty = (cy - hh) / hh / sy + cam[:, 2]
    return np.stack([sx, sy, tx, ty], axis=-1)
