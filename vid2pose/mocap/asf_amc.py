"""Acclaim ASF/AMC reader (skeleton + motion) and forward kinematics (numpy).

Handles the CMU files in ``shared/data/mocap/cmu/asf_amc`` and the usual dialect:

* CRLF or LF line endings; ``#`` comment lines anywhere (fairmotion added one);
* ``:units`` with ``length`` (CMU: 0.45, i.e. file units are inches * 0.45, so
  1 unit = 2.54 / 0.45 cm = 5.644 cm) and ``angle deg|rad``;
* per-bone ``axis ax ay az ORDER`` and ``dof`` lists (any subset/order of rx ry rz;
  translation dofs tx/ty/tz/l are read and ignored);
* ``:root`` with ``order`` (e.g. TX TY TZ RX RY RZ) and ``axis`` (e.g. XYZ).

Forward kinematics follows the Acclaim convention: a bone's world rotation is
``R_parent @ C @ M @ C^-1`` where ``C`` is the bone's ``axis`` rotation and ``M`` the
rotation made of the frame's dof values; the bone's end is its start plus
``length * R @ direction`` (``direction`` is given in the world frame of the rest pose).
Euler angles listed in an order ``a b c`` are applied ``a`` first about fixed axes, so the
matrix is ``R_c @ R_b @ R_a``.

Output joints: ``root`` (the root position) and, per bone, its start point named after the
bone (``lfemur`` = hip joint, ``ltibia`` = knee, ...) plus ``<bone>_End`` for bones with no
child. Positions are returned in metres (``units_to_m``) and in file units.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["AsfSkeleton", "AmcMotion", "read_asf", "read_amc", "parse_asf", "parse_amc"]

_INCH = 0.0254


def _clean_lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for ln in text.split("\n"):
        s = ln.strip()
        if not s or s.startswith("#"):
            continue
        out.append(s)
    return out


def _rot(axis: str, theta: np.ndarray) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    m = np.zeros(np.shape(theta) + (3, 3))
    i = "xyz".index(axis.lower())
    j, k = (i + 1) % 3, (i + 2) % 3
    m[..., i, i] = 1.0
    m[..., j, j] = c
    m[..., k, k] = c
    m[..., k, j] = s
    m[..., j, k] = -s
    return m


def _euler_fixed(angles: np.ndarray, order: str) -> np.ndarray:
    """Angles (..., n) in radians about fixed axes listed in ``order`` (first applied first)."""
    angles = np.asarray(angles, np.float64)
    out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for k, ax in enumerate(order.lower()):
        out = _rot(ax, angles[..., k]) @ out
    return out


@dataclass
class AsfBone:
    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray  # degrees/radians as in file (converted to radians in parse)
    axis_order: str
    dof: tuple[str, ...]
    parent: str = "root"
    children: list[str] = field(default_factory=list)


@dataclass
class AsfSkeleton:
    name: str
    length_unit: float  # ":units length" value (CMU 0.45)
    angle_unit: str  # "deg" or "rad"
    root_order: tuple[str, ...]
    root_axis: str
    root_position: np.ndarray
    root_orientation: np.ndarray  # radians
    bones: dict[str, AsfBone]  # in file order; parents precede children after _ordered()

    @property
    def units_to_m(self) -> float:
        """Metres per file length unit: inches * length_unit are the file units."""
        return _INCH / self.length_unit

    def ordered_bones(self) -> list[str]:
        order: list[str] = []
        stack = [b for b in self.children_of("root")][::-1]
        while stack:
            b = stack.pop()
            order.append(b)
            stack.extend(self.children_of(b)[::-1])
        return order

    def children_of(self, name: str) -> list[str]:
        if name == "root":
            return [b.name for b in self.bones.values() if b.parent == "root"]
        return list(self.bones[name].children)


def parse_asf(text: str) -> AsfSkeleton:
    lines = _clean_lines(text)
    name = "asf"
    length_unit, angle_unit = 1.0, "deg"
    root_order: tuple[str, ...] = ("TX", "TY", "TZ", "RX", "RY", "RZ")
    root_axis = "XYZ"
    root_pos = np.zeros(3)
    root_ori = np.zeros(3)
    bones: dict[str, AsfBone] = {}
    section = None
    i = 0
    cur: dict | None = None
    limits_open = False
    while i < len(lines):
        ln = lines[i]
        i += 1
        if ln.startswith(":"):
            parts = ln.split()
            section = parts[0][1:].lower()
            if section == "name" and len(parts) > 1:
                name = parts[1]
            continue
        parts = ln.split()
        key = parts[0].lower()
        if section == "units":
            if key == "length":
                length_unit = float(parts[1])
            elif key == "angle":
                angle_unit = parts[1].lower()
        elif section == "root":
            if key == "order":
                root_order = tuple(p.upper() for p in parts[1:])
            elif key == "axis":
                root_axis = parts[1].upper()
            elif key == "position":
                root_pos = np.array([float(v) for v in parts[1:4]])
            elif key == "orientation":
                root_ori = np.array([float(v) for v in parts[1:4]])
        elif section == "bonedata":
            if key == "begin":
                cur = {"dof": ()}
                limits_open = False
            elif key == "end":
                assert cur is not None
                bones[cur["name"]] = AsfBone(
                    name=cur["name"], direction=np.asarray(cur.get("direction", np.zeros(3)), float),
                    length=float(cur.get("length", 0.0)), axis=np.asarray(cur.get("axis", np.zeros(3)), float),
                    axis_order=cur.get("axis_order", "XYZ"), dof=tuple(cur["dof"]))
                cur = None
            elif cur is not None:
                if key == "name":
                    cur["name"] = parts[1]
                elif key == "direction":
                    cur["direction"] = [float(v) for v in parts[1:4]]
                elif key == "length":
                    cur["length"] = float(parts[1])
                elif key == "axis":
                    cur["axis"] = [float(v) for v in parts[1:4]]
                    cur["axis_order"] = parts[4].upper() if len(parts) > 4 else "XYZ"
                elif key == "dof":
                    cur["dof"] = tuple(p.lower() for p in parts[1:])
                elif key == "limits":
                    limits_open = True
                # lines of further limits "(a b)" and id/bodymass/cofmass are ignored
        elif section == "hierarchy":
            if key in ("begin", "end"):
                continue
            parent = parts[0]
            for child in parts[1:]:
                if child in bones:
                    bones[child].parent = parent
                    if parent != "root" and parent in bones:
                        bones[parent].children.append(child)
    del limits_open
    to_rad = np.pi / 180 if angle_unit.startswith("deg") else 1.0
    for b in bones.values():
        b.axis = b.axis * to_rad
    return AsfSkeleton(name=name, length_unit=length_unit, angle_unit=angle_unit, root_order=root_order,
                       root_axis=root_axis, root_position=root_pos, root_orientation=root_ori * to_rad,
                       bones=bones)


def read_asf(path: str | Path) -> AsfSkeleton:
    return parse_asf(Path(path).read_text(encoding="utf-8", errors="replace"))


@dataclass
class AmcMotion:
    """Motion of an ASF skeleton: per-frame dof values, and forward kinematics."""

    skeleton: AsfSkeleton
    values: dict[str, np.ndarray]  # bone/root -> (F, n_dof) as in file
    fps: float = 120.0  # Acclaim has no frame rate field; CMU captured at 120 fps

    @property
    def num_frames(self) -> int:
        return int(self.values["root"].shape[0])

    def joint_names(self) -> list[str]:
        names = ["root"]
        for b in self.skeleton.ordered_bones():
            names.append(b)
            if not self.skeleton.children_of(b):
                names.append(f"{b}_End")
        return names

    def forward_kinematics(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """(names, parents (J,), world rotations (F, J, 3, 3), world positions (F, J, 3) file units).

        A bone's start carries the bone's own world rotation (the orientation of the bone
        after this frame's dofs), so e.g. ``head``'s rotation turns with the head.
        """
        sk = self.skeleton
        F = self.num_frames
        to_rad = np.pi / 180 if sk.angle_unit.startswith("deg") else 1.0
        root_vals = self.values["root"]
        pos = np.zeros((F, 3))
        rot_cols, rot_axes = [], ""
        for k, ch in enumerate(sk.root_order):
            if ch.startswith("T"):
                pos[:, "XYZ".index(ch[1])] = root_vals[:, k]
            elif ch.startswith("R"):
                rot_cols.append(k)
                rot_axes += ch[1].lower()
        C_root = _euler_fixed(sk.root_orientation, sk.root_axis)
        M_root = _euler_fixed(root_vals[:, rot_cols] * to_rad, rot_axes) if rot_cols else np.eye(3)
        R_root = C_root @ M_root @ C_root.T
        names = ["root"]
        parents = [-1]
        rots = [np.broadcast_to(R_root, (F, 3, 3))]
        poss = [pos]
        end_of: dict[str, tuple[np.ndarray, np.ndarray]] = {"root": (R_root * np.ones((F, 1, 1)), pos)}
        index = {"root": 0}
        for b in sk.ordered_bones():
            bone = sk.bones[b]
            pR, pend = end_of[bone.parent]
            C = _euler_fixed(bone.axis, bone.axis_order)
            vals = self.values.get(b)
            rdofs = [(k, d[1]) for k, d in enumerate(bone.dof) if d in ("rx", "ry", "rz")]
            if vals is not None and rdofs:
                M = _euler_fixed(vals[:, [k for k, _ in rdofs]] * to_rad, "".join(a for _, a in rdofs))
            else:
                M = np.broadcast_to(np.eye(3), (F, 3, 3))
            R = pR @ (C @ M @ C.T)
            end = pend + bone.length * np.einsum("fab,b->fa", R, bone.direction)
            index[b] = len(names)
            names.append(b)
            parents.append(index[bone.parent])
            rots.append(R)
            poss.append(pend)
            end_of[b] = (R, end)
            if not sk.children_of(b):
                names.append(f"{b}_End")
                parents.append(index[b])
                rots.append(R)
                poss.append(end)
        return names, np.array(parents), np.stack(rots, 1), np.stack(poss, 1)


def parse_amc(text: str, skeleton: AsfSkeleton, fps: float = 120.0) -> AmcMotion:
    lines = _clean_lines(text)
    frames: list[dict[str, list[float]]] = []
    cur: dict[str, list[float]] | None = None
    for ln in lines:
        if ln.startswith(":"):
            continue
        parts = ln.split()
        if len(parts) == 1 and parts[0].isdigit():
            cur = {}
            frames.append(cur)
            continue
        if cur is None:
            continue
        cur[parts[0]] = [float(v) for v in parts[1:]]
    if not frames:
        raise ValueError("AMC file has no frames")
    keys = frames[0].keys()
    values = {}
    for k in keys:
        n = len(frames[0][k])
        values[k] = np.array([fr.get(k, [0.0] * n) for fr in frames], dtype=np.float64).reshape(len(frames), n)
    if "root" not in values:
        raise ValueError("AMC file has no root values")
    return AmcMotion(skeleton=skeleton, values=values, fps=fps)


def read_amc(path: str | Path, asf: str | Path | AsfSkeleton | None = None, fps: float = 120.0) -> AmcMotion:
    """Read an AMC file; ``asf`` defaults to the ``.asf`` beside it (``01_01.amc`` -> ``01.asf``)."""
    path = Path(path)
    if asf is None:
        asf = find_asf(path)
    sk = asf if isinstance(asf, AsfSkeleton) else read_asf(asf)
    return parse_amc(path.read_text(encoding="utf-8", errors="replace"), sk, fps)


def find_asf(amc_path: str | Path) -> Path:
    """The ASF of an AMC: same stem, the stem before '_' (CMU naming), or the only .asf in the folder."""
    p = Path(amc_path)
    cands = [p.with_suffix(".asf"), p.parent / (p.stem.split("_")[0] + ".asf")]
    for c in cands:
        if c.exists():
            return c
    asfs = sorted(p.parent.glob("*.asf"))
    if len(asfs) == 1:
        return asfs[0]
    raise FileNotFoundError(f"no ASF skeleton found for {p}")
