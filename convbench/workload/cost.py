"""The cost model of a workload: what a pass costs in arithmetic and in bytes, and the bound the
machine's roofline puts on its time.
"""
from __future__ import annotations


def roofline_bound(flops: float, nbytes: float, roof: dict, cores: int = 1) -> float:
    """The roofline bound of a computation on `cores` cores: max(FLOPs / peak, bytes /
    bandwidth), peak = cores x the single-core peak (at most the machine's cores), bandwidth
    measured with that many cores. `roof` is convbench.kernel.roofline.roofline()'s record."""
    usable = min(max(1, cores), int(roof.get("cores") or cores))
    return max(flops / (float(roof["peak_gflops_1core"]) * 1e9 * usable),
               nbytes / (bandwidth(roof, cores) * 1e9))


def bandwidth(roof: dict, cores: int) -> float:
    """GB/s measured with `cores` cores (the largest measured count if more)."""
    bw = {int(k): float(v) for k, v in roof["bandwidth_gbs_by_cores"].items()}
    return bw[min(max(1, cores), max(bw))]
