"""What one convolution layer computes: its shapes (its FLOPs and bytes: workload/cost.py).

A :class:`Workload` is plain, validated data. Presets live as TOML files in ``configs/``
(installed as ``convbench.configs``); a user's TOML file has the same keys, and an unknown key
is an error. Nothing here imports MPI or the kernel, so the worker starts fast.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from convbench.core.errors import UsageError
from convbench.workload import cost
from convbench.core.parse import int_pair

PASSES = ("forward", "backward", "train")
DATA_MODES = ("scatter", "local")
#: element counts above this are refused: int64 byte counts and MPI counts stay far from overflow
MAX_ELEMENTS = 2**40

_KEYS = {
    "name", "description", "batch", "c_in", "c_out", "height", "width",
    "kernel", "stride", "padding", "seed",
}


@dataclass(frozen=True)
class Workload:
    """One convolution layer applied to a batch of NCHW float32 images."""

    name: str            # preset or config name, shown in titles and directory names
    batch: int           # N: images in the whole batch (strong) or per point (weak)
    c_in: int            # input channels
    c_out: int           # output channels
    height: int          # input image height H
    width: int           # input image width W
    kh: int              # kernel height
    kw: int              # kernel width
    stride_h: int = 1
    stride_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    seed: int = 0        # image i of the batch is generated from (seed, i) alone
    description: str = ""

    def __post_init__(self) -> None:
        for field in ("batch", "c_in", "c_out", "height", "width", "kh", "kw", "stride_h", "stride_w"):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UsageError(f"workload {self.name!r}: {field} must be an integer >= 1, got {v!r}")
        for field in ("pad_h", "pad_w", "seed"):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise UsageError(f"workload {self.name!r}: {field} must be an integer >= 0, got {v!r}")
        ph, pw = self.height + 2 * self.pad_h, self.width + 2 * self.pad_w
        if self.kh > ph or self.kw > pw:
            raise UsageError(
                f"workload {self.name!r}: kernel {self.kh}x{self.kw} is larger than the padded "
                f"image {ph}x{pw}"
            )
        for what, n in (("input", self.batch * self.image_elems),
                        ("output", self.batch * self.out_image_elems),
                        ("weight", self.weight_elems)):
            if n > MAX_ELEMENTS:
                raise UsageError(f"workload {self.name!r}: the {what} has {n} elements, more than "
                                 f"the {MAX_ELEMENTS} convbench supports")

    # ---- shapes -------------------------------------------------------------------------
    @property
    def out_height(self) -> int:
        return (self.height + 2 * self.pad_h - self.kh) // self.stride_h + 1

    @property
    def out_width(self) -> int:
        return (self.width + 2 * self.pad_w - self.kw) // self.stride_w + 1

    @property
    def image_elems(self) -> int:
        """Elements of one input image (C_in x H x W)."""
        return self.c_in * self.height * self.width

    @property
    def out_image_elems(self) -> int:
        """Elements of one output image (C_out x OH x OW)."""
        return self.c_out * self.out_height * self.out_width

    @property
    def weight_elems(self) -> int:
        return self.c_out * self.c_in * self.kh * self.kw

    def input_shape(self, n: int | None = None) -> tuple[int, int, int, int]:
        return (self.batch if n is None else n, self.c_in, self.height, self.width)

    def output_shape(self, n: int | None = None) -> tuple[int, int, int, int]:
        return (self.batch if n is None else n, self.c_out, self.out_height, self.out_width)

    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.c_out, self.c_in, self.kh, self.kw)

    @property
    def stride(self) -> tuple[int, int]:
        return (self.stride_h, self.stride_w)

    @property
    def padding(self) -> tuple[int, int]:
        return (self.pad_h, self.pad_w)

    def describe(self) -> str:
        """One line: the layer as a person reads it."""
        s = f"{self.name}: batch {self.batch}, {self.c_in}->{self.c_out} ch, {self.height}x{self.width}, K {self.kh}x{self.kw}"
        if self.stride != (1, 1):
            s += f", stride {self.stride_h}x{self.stride_w}"
        if self.padding != (0, 0):
            s += f", pad {self.pad_h}x{self.pad_w}"
        return s

    def with_batch(self, batch: int) -> "Workload":
        return dataclasses.replace(self, batch=batch)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Workload":
        return cls(**d)

    # ---- cost model: thin delegates to convbench.workload.cost, where each count lives ------
    def flops(self, pass_: str, n: int | None = None) -> int:
        """Floating-point operations (multiply and add counted separately) for n images."""
        return cost.flops(self, pass_, n)

    def bytes_moved(self, pass_: str, n: int | None = None) -> int:
        """The kernel's compulsory memory traffic (bytes read + written) for n images."""
        return cost.kernel_bytes(self, pass_, n)

    def memory_per_rank(self, pass_: str, data: str, procs: int,
                        decomp: str = "batch") -> tuple[int, int]:
        """Estimated bytes of workload buffers (rank 0, the largest other rank) at P ranks."""
        c = cost.cost(self, pass_, data, decomp, procs)
        return c.rank0_bytes, c.other_rank_bytes

    def memory_total(self, pass_: str, data: str, procs: int, decomp: str = "batch") -> int:
        return cost.cost(self, pass_, data, decomp, procs).total_held_bytes


# ---- presets and TOML configs -------------------------------------------------------------
def _preset_dir():
    """configs/: installed as the package convbench.configs; in a source tree (an editable
    install puts the checkout itself on the path) it is the checkout's configs/ folder."""
    from importlib import resources     # here, not at import: a rank never reads a preset
    try:
        d = resources.files("convbench.configs")
        if d.is_dir():
            return d
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[2] / "configs"


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in _preset_dir().iterdir() if p.name.endswith(".toml"))


def preset(name: str) -> Workload:
    """A shipped preset by name (``fat``, ``light``, ...)."""
    path = _preset_dir().joinpath(f"{name}.toml")
    if not path.is_file():
        raise UsageError(f"unknown preset {name!r}; presets are: {', '.join(preset_names())}")
    return _parse(path.read_text(encoding="utf-8"), source=f"preset {name!r}", default_name=name)


def load_config(path: str | Path) -> Workload:
    """A workload from a user's TOML file (the same keys as the presets)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"config file {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"config file {str(p)!r} cannot be read: {e}") from None
    return _parse(text, source=f"config file {str(p)!r}", default_name=p.stem)


def _parse(text: str, *, source: str, default_name: str) -> Workload:
    if sys.version_info >= (3, 11):     # here, not at import: a rank never parses TOML
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{source} is not valid TOML: {e}") from None
    unknown = sorted(set(d) - _KEYS)
    if unknown:
        raise UsageError(f"{source}: unknown key(s) {', '.join(unknown)}; "
                         f"known keys are {', '.join(sorted(_KEYS))}")
    missing = sorted({"batch", "c_in", "c_out", "height", "width", "kernel"} - set(d))
    if missing:
        raise UsageError(f"{source}: missing key(s) {', '.join(missing)}")
    for key in ("name", "description"):
        if key in d and not isinstance(d[key], str):
            raise UsageError(f"{source}: {key} must be a string")
    kh, kw = int_pair(f"{source}: kernel", d["kernel"], error=UsageError)
    sh, sw = int_pair(f"{source}: stride", d.get("stride", 1), error=UsageError)
    ph, pw = int_pair(f"{source}: padding", d.get("padding", 0), error=UsageError)
    return Workload(
        name=d.get("name", default_name), description=d.get("description", ""),
        batch=d["batch"], c_in=d["c_in"], c_out=d["c_out"], height=d["height"], width=d["width"],
        kh=kh, kw=kw, stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw, seed=d.get("seed", 0),
    )
