"""The validation split, held out by performer. Never train on it.

``VALIDATION`` is the table (pattern on the file's POSIX path -> reason). A file whose path
matches any pattern is validation; everything else is training.

CMU (performers are known per file, PROVENANCE.md and manifest.csv):

* subject 7 (iClone CC_Base retarget, walks: normal, slow, brisk), all 12 takes;
* subject 131 (cgspeed 3dsMax-friendly BVH, start/walk/stop and hop), all 3 takes: also the
  only file family of its kind, so it tests an unseen skeleton convention as well;
* subject 11 (original ASF/AMC, soccer kick).

Bandai Namco (3 professional actors, *not labelled per file*; upstream post-processing
retargets every take onto one skeleton, so body proportions cannot leak). No subset can be
guaranteed performer-disjoint. Documented choice: hold out whole style groups, recorded as
separate acting sessions: dataset-1 style ``childish`` (all its contents) and dataset-2 style
``youthful`` (all its contents and takes). Their numbers are reported per source, separately
from the CMU ones, which are the clean held-out-performer figures.

Note: CMU subject 1 appears three times (iClone 001_*, cgspeed 01_01, ASF 01_01, the same take
in two of them): all of it stays on the training side, together.
"""
from __future__ import annotations

import re
from pathlib import Path

VALIDATION: tuple[tuple[str, str], ...] = (
    (r"iclone_cc/007/", "CMU subject 7 (walks), iClone retarget"),
    (r"cgspeed_bvh/131_\d+", "CMU subject 131 (start/walk/stop, hop), cgspeed 3dsMax skeleton"),
    (r"asf_amc/11_\d+\.amc$", "CMU subject 11 (soccer kick), ASF/AMC"),
    (r"bandai_namco/dataset-1/.*_childish_", "Bandai Namco ds-1 style 'childish' (actor unknown)"),
    (r"bandai_namco/dataset-2/.*_youthful_", "Bandai Namco ds-2 style 'youthful' (actor unknown)"),
)


def is_validation(path: str | Path) -> bool:
    p = Path(path).as_posix()
    return any(re.search(pat, p) for pat, _ in VALIDATION)


def source_of(path: str | Path) -> str:
    """Short source name for per-source metrics."""
    p = Path(path).as_posix()
    for key in ("acrnn_daz", "iclone_cc", "cgspeed_bvh", "asf_amc"):
        if f"/{key}/" in p:
            return f"cmu_{key}"
    if "bandai_namco" in p:
        return "bandai_namco"
    return "other"


def is_cmu(path: str | Path) -> bool:
    return source_of(path).startswith("cmu_")


def split_files(files: list[Path]) -> tuple[list[Path], list[Path]]:
    train = [f for f in files if not is_validation(f)]
    val = [f for f in files if is_validation(f)]
    return train, val
