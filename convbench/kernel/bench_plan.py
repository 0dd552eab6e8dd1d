"""What ``convbench kernels`` is asked, validated before anything is measured: the shapes
(a preset name or a benchdnn-style descriptor -> a Workload), passes, thread counts and the
implementations to compare (convbench.kernel.bench is the public face of these modules).
"""
from __future__ import annotations

import re

from convbench.core.errors import UsageError
from convbench.workload import spec as wl_mod

IMPLS = ("convbench", "naive", "numpy", "torch", "stream")
PASSES = ("forward", "backward")
#: batch of the "fat" shape here (the full workload has 80; its per-image cost is the same)
FAT_BATCH = 8
_KEYS = ("mb", "ic", "ih", "iw", "oc", "kh", "kw", "sh", "sw", "ph", "pw")
_TOKEN = re.compile(r"(mb|ic|ih|iw|oc|kh|kw|sh|sw|ph|pw)(\d+)")


# ---- parsing ----------------------------------------------------------------------------------

def parse_shape(text: str) -> wl_mod.Workload:
    """A preset name or a benchdnn-style descriptor -> Workload.

    Descriptor: ``mb`` (batch) ``ic`` ``ih`` [``iw``] ``oc`` ``kh`` [``kw``] [``sh`` ``sw``
    ``ph`` ``pw``], each followed by its number, in any order, e.g. ``mb32ic64ih56oc64kh3ph1``.
    Defaults: iw = ih, kw = kh, stride 1, padding 0; as in benchdnn a given sh or ph also sets
    sw or pw unless those are given too.
    """
    t = (text or "").strip().lower()
    if not t:
        raise UsageError("empty --shape; give a preset (fat, light, resnet) or a descriptor "
                         "like mb32ic64ih56oc64kh3ph1")
    if t.isidentifier() and not _TOKEN.match(t):
        name = "fat" if t in ("fat", f"fat{FAT_BATCH}") else t
        wl = wl_mod.preset(name)
        return wl.with_batch(FAT_BATCH) if name == "fat" and wl.batch > FAT_BATCH else wl
    values: dict[str, int] = {}
    pos = 0
    for m in _TOKEN.finditer(t):
        if m.start() != pos:
            break
        key = m.group(1)
        if key in values:
            raise UsageError(f"shape descriptor {text!r}: {key} is given twice")
        values[key] = int(m.group(2))
        pos = m.end()
    if pos != len(t):
        raise UsageError(f"shape descriptor {text!r}: cannot parse {t[pos:]!r} (expected "
                         f"keys {' '.join(_KEYS)} each followed by a number, e.g. "
                         "mb32ic64ih56oc64kh3ph1)")
    missing = [k for k in ("mb", "ic", "ih", "oc", "kh") if k not in values]
    if missing:
        raise UsageError(f"shape descriptor {text!r}: missing {', '.join(missing)}")
    v = values
    sh, ph = v.get("sh", 1), v.get("ph", 0)
    return wl_mod.Workload(
        name=t, batch=v["mb"], c_in=v["ic"], c_out=v["oc"], height=v["ih"],
        width=v.get("iw", v["ih"]), kh=v["kh"], kw=v.get("kw", v["kh"]), stride_h=sh,
        stride_w=v.get("sw", sh), pad_h=ph, pad_w=v.get("pw", ph))


def describe(wl: wl_mod.Workload) -> str:
    """The benchdnn descriptor of a workload (the inverse of parse_shape)."""
    return (f"mb{wl.batch}ic{wl.c_in}ih{wl.height}iw{wl.width}oc{wl.c_out}kh{wl.kh}kw{wl.kw}"
            f"sh{wl.stride_h}sw{wl.stride_w}ph{wl.pad_h}pw{wl.pad_w}")


def parse_compare(text: str) -> tuple[str, ...]:
    """'naive,numpy,torch' -> the implementations besides convbench (validated, in order)."""
    names = [s.strip().lower() for s in (text or "").split(",") if s.strip()]
    bad = [n for n in names if n not in IMPLS]
    if bad:
        raise UsageError(f"unknown implementation(s) in --compare: {', '.join(bad)}; "
                         f"choose from {', '.join(IMPLS[1:])}")
    return tuple(dict.fromkeys(n for n in names if n != "convbench"))


def parse_threads(text: str) -> tuple[int, ...]:
    """'1' or '1,2' -> thread counts (each >= 1)."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise UsageError(f"--threads must be integers >= 1 (e.g. 1 or 1,2), got {text!r}")
        out.append(int(part))
    return tuple(dict.fromkeys(out))


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means: not available
        return False
    return True


def plan(shapes: str, passes: str = "forward", threads: str = "1",
         compare: str = "naive,torch,stream", repeats: int = 5,
         budget_s: float = 30.0) -> tuple[list, list[str], tuple[int, ...], tuple[str, ...],
                                           list[str]]:
    """Validate what ``convbench kernels`` was asked, measuring nothing: returns (shapes as
    (name, Workload) pairs, passes, thread counts, implementations, notes); raises UsageError."""
    wls = [(name.strip(), parse_shape(name)) for name in shapes.split(",") if name.strip()]
    if not wls:
        raise UsageError("--shape is empty")
    ps = [p.strip().lower() for p in passes.split(",") if p.strip()]
    bad = [p for p in ps if p not in PASSES]
    if bad or not ps:
        raise UsageError(f"--pass must be forward or backward (or both: forward,backward), "
                         f"got {passes!r}")
    ts = parse_threads(threads)
    impls = parse_compare(compare)
    if repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {repeats}")
    if not budget_s > 0:
        raise UsageError(f"--budget must be > 0 seconds, got {budget_s}")
    notes = []
    if "torch" in impls and not torch_available():
        notes.append("torch is not importable here: skipped")
        impls = tuple(i for i in impls if i != "torch")
    if "numpy" in impls:
        notes.append("numpy = convbench.kernel.reference (float64, BLAS threads as configured)")
    return wls, list(dict.fromkeys(ps)), ts, impls, notes
