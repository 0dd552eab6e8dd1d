"""The cost model (convbench.workload.cost): known counts, properties that tie the byte counts
together, the halo against the receptive fields, and the memory estimate against the resident
memory real ranks measured."""
from __future__ import annotations

import csv
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_cli
from convbench.workload import cost, partition
from convbench.workload.cost import FLOAT_BYTES
from convbench.workload.spec import Workload

PASSES = ("forward", "backward", "train")


def small():
    return Workload("t", batch=8, c_in=2, c_out=3, height=10, width=10, kh=3, kw=3)


@st.composite
def workloads(draw):
    k = draw(st.integers(1, 5))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, 3))
    h = draw(st.integers(max(1, k - 2 * p), 24))
    return Workload("w", batch=draw(st.integers(1, 9)), c_in=draw(st.integers(1, 3)),
                    c_out=draw(st.integers(1, 3)), height=h, width=draw(st.integers(k, 9)),
                    kh=k, kw=k, stride_h=s, stride_w=1, pad_h=p, pad_w=0)


def test_known_counts():
    w = Workload("t", batch=2, c_in=3, c_out=4, height=10, width=8, kh=3, kw=2,
                 stride_h=2, stride_w=1, pad_h=1, pad_w=0)
    x, y, g = 2 * 3 * 80, 2 * 4 * 35, 4 * 3 * 6
    assert cost.flops(w, "forward") == 2 * 2 * 4 * 5 * 7 * 3 * 3 * 2
    assert cost.flops(w, "train") == 3 * cost.flops(w, "forward") == cost.flops(w, "forward", 4) * 3 // 2
    assert (cost.read_bytes(w, "forward"), cost.write_bytes(w, "forward")) == (4 * (x + g), 4 * y)
    assert (cost.read_bytes(w, "backward"), cost.write_bytes(w, "backward")) == (
        4 * (x + y + g), 4 * (x + g))
    assert cost.kernel_bytes(w, "train") == cost.kernel_bytes(w, "forward") + cost.kernel_bytes(w, "backward")
    c = cost.cost(w, "train", "scatter", "batch", 2)
    assert c.flops == cost.flops(w, "train") and c.kernel_bytes == cost.kernel_bytes(w, "train")
    assert (c.scatter_bytes, c.gather_bytes) == (4 * (x + y) // 2, 0)
    assert c.allreduce_bytes == pytest.approx(2 * 0.5 * (g + 4) * 4)
    assert c.comm_bytes == c.scatter_bytes + c.allreduce_bytes
    # the Workload's delegates read the same counts
    assert w.flops("backward") == cost.flops(w, "backward")
    assert w.bytes_moved("train") == cost.kernel_bytes(w, "train")
    assert w.memory_per_rank("train", "scatter", 2) == (c.rank0_bytes, c.other_rank_bytes)
    assert w.memory_total("train", "scatter", 2) == c.total_held_bytes == sum(c.held_bytes)


def test_the_halo_of_a_plain_split():
    # K - stride = 2 rows of every image at each of the 3 boundaries between 4 row blocks
    assert cost.halo_bytes(small(), "forward", "spatial", 4) == 3 * 2 * 8 * 2 * 10 * 4
    assert cost.halo_bytes(small(), "train", "spatial", 4) == 2 * 3 * 2 * 8 * 2 * 10 * 4


@settings(max_examples=150, deadline=None)
@given(workloads(), st.sampled_from(PASSES), st.integers(1, 12))
def test_byte_counts_are_consistent(wl, pass_, procs):
    x, y = wl.image_elems * FLOAT_BYTES, wl.out_image_elems * FLOAT_BYTES
    scat = cost.cost(wl, pass_, "scatter", "batch", procs)
    local = cost.cost(wl, pass_, "local", "batch", procs)
    spatial = cost.cost(wl, pass_, "local", "spatial", procs)
    one = cost.cost(wl, pass_, "scatter", "batch", 1)
    # one rank and local data move nothing but the Allreduce; no halo without spatial
    assert (one.scatter_bytes, one.gather_bytes, one.allreduce_bytes, one.halo_bytes) == (0, 0, 0, 0)
    assert (local.scatter_bytes, local.gather_bytes, local.halo_bytes) == (0, 0, 0)
    assert scat.halo_bytes == 0 and spatial.scatter_bytes == spatial.gather_bytes == 0
    assert cost.halo_bytes(wl, pass_, "spatial", 1) == 0
    assert local.allreduce_bytes == scat.allreduce_bytes == spatial.allreduce_bytes
    assert (local.allreduce_bytes > 0) == (pass_ == "train" and procs > 1)
    # rank 0's shard and what it scatters are the whole batch
    shards = partition.counts(wl.batch, procs)
    assert sum(shards) == wl.batch
    per_image = x + (y if pass_ != "forward" else 0)
    assert scat.scatter_bytes + shards[0] * per_image == wl.batch * per_image
    assert scat.gather_bytes == (0 if pass_ == "train" else
                                 (wl.batch - shards[0]) * (y if pass_ == "forward" else x))
    # every rank's shard buffers add up to the batch's, whatever P; the weights are per rank
    h1 = cost.cost(wl.with_batch(1), pass_).total_held_bytes
    h2 = cost.cost(wl.with_batch(2), pass_).total_held_bytes
    weights = 2 * h1 - h2
    assert weights == FLOAT_BYTES * (wl.weight_elems + wl.c_out) * (1 if pass_ == "forward" else 3)
    assert local.total_held_bytes == cost.cost(wl, pass_).total_held_bytes + (procs - 1) * weights
    assert local.rank0_bytes == max(local.held_bytes)       # the first ranks take the extras
    # scatter: rank 0 also holds the rest of the batch (its own shard lies in place inside the
    # whole batch: MPI_IN_PLACE); the others hold what they do with local data
    full = {"forward": x + y, "backward": 2 * x + y, "train": x + y}[pass_]
    assert scat.rank0_bytes - local.rank0_bytes == (wl.batch - shards[0]) * full
    if procs == 1:
        assert scat.held_bytes == local.held_bytes
    assert scat.held_bytes[1:] == local.held_bytes[1:]
    assert len(spatial.held_bytes) == procs and min(spatial.held_bytes) > 0


def _brute_halo_rows(wl: Workload, procs: int) -> int:
    """Input rows received, from the receptive fields: rank r computes output rows [o0, o1)
    and owns the input rows [clamp(o0 s - p), clamp(o0' s - p)) up to the next rank with
    output rows (the last owns up to H); each output row o needs [o s - p, o s - p + K)."""
    s, p, k, h = wl.stride_h, wl.pad_h, wl.kh, wl.height
    cnt = partition.counts(wl.out_height, procs)
    d = partition.displacements(cnt)
    start = [min(max(d[r] * s - p, 0), h) for r in range(procs)] + [h]
    start[0] = 0
    total = 0
    for r in range(procs):
        need = {i for o in range(d[r], d[r] + cnt[r]) for i in range(o * s - p, o * s - p + k)
                if 0 <= i < h}
        own = set(range(start[r], max(start[r], start[r + 1])))
        total += len(need - own)
    return total


@settings(max_examples=200, deadline=None)
@given(workloads(), st.integers(1, 30))
def test_halo_rows_are_the_rows_the_receptive_fields_miss(wl, procs):
    assert cost.halo_rows(wl, procs) == _brute_halo_rows(wl, procs)
    rows = cost.halo_rows(wl, procs)
    assert cost.halo_bytes(wl, "forward", "spatial", procs) == \
        rows * wl.batch * wl.c_in * wl.width * FLOAT_BYTES
    if wl.stride_h == 1 and wl.pad_h == 0:       # K - 1 rows at each boundary with rows both sides
        assert rows == min(procs - 1, wl.out_height) * (wl.kh - 1)


def test_roofline_bound():
    roof = {"peak_gflops_1core": 100.0, "bandwidth_gbs_by_cores": {1: 10.0, 2: 16.0},
            "cores": 2}
    assert cost.roofline_bound(1e9, 1e6, roof) == pytest.approx(0.01)       # compute bound
    assert cost.roofline_bound(1e6, 1e9, roof) == pytest.approx(0.1)        # memory bound
    assert cost.roofline_bound(1e9, 1e6, roof, 2) == pytest.approx(0.005)
    assert cost.roofline_bound(1e6, 1.6e9, roof, 2) == pytest.approx(0.1)
    assert cost.roofline_bound(1e6, 1.6e9, roof, 8) == pytest.approx(0.1)   # capped at 2
    assert cost.bandwidth(roof, 5) == 16.0


# ---- the estimate against real ranks ------------------------------------------------------------
#: 8 images of 4 x 256 x 256, 4 -> 4 channels: x and y are 8 MiB each, so a rank holds 4 to
#: 48 MiB of workload buffers across the cases below, and a point takes well under a second
MEM_TOML = """name = "mem"
batch = 8
c_in = 4
c_out = 4
height = 256
width = 256
kernel = 3
padding = 1
"""
#: rss_data_mb (VmHWM at the end of the timed steps - VmRSS before set-up) counts, besides the
#: workload's buffers, a fixed cost the estimate leaves out: numpy.random's extension modules,
#: loaded when the first image is made (about 7 MiB: RSS rises so much on the first
#: datagen.images of a 1 MiB image in a fresh process), and the kernel's per-image scratch (a
#: padded image copy, 1 MiB here). Measured on 2 cores, MPICH: 7.4 to 9.2 MiB on every rank and
#: P of these cases, within 0.6 MiB in one sweep. Pages (4 KiB) and malloc headers are noise.
OVERHEAD_MB = (0.0, 12.0)
#: in one sweep the fixed cost is the same on every rank and P: what differs is the workload's
#: buffers (from 4 to 48 MiB), which the estimate must follow to this much
SPREAD_MB = 2.0


@pytest.mark.mpi
@pytest.mark.parametrize("pass_,data,decomp", [
    ("forward", "scatter", "batch"), ("forward", "local", "batch"),
    ("train", "scatter", "batch"), ("train", "local", "batch"),
    ("forward", "local", "spatial"), ("train", "local", "spatial"),
])
def test_memory_estimate_matches_measured_rss(tmp_path, pass_, data, decomp):
    config = tmp_path / "mem.toml"
    config.write_text(MEM_TOML, encoding="utf-8")
    proc = run_cli("strong", "--launches", "1", "--order", "sequential", "--config", str(config), "--procs", "1,2,4", "--pass", pass_,
                   "--data", data, "--decomp", decomp, "--repeats", "1", "--warmup", "0",
                   "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (sweep,) = (tmp_path / "out").iterdir()
    wl = Workload.from_dict(json.loads((sweep / "manifest.json").read_text())["workload"])
    with open(sweep / "ranks.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["repeat"] == "0"]
    assert sorted({int(r["procs"]) for r in rows}) == [1, 2, 4] and len(rows) == 7
    overheads = []
    for r in rows:
        est = cost.cost(wl, pass_, data, decomp, int(r["procs"])).held_bytes[int(r["rank"])]
        over = float(r["rss_data_mb"]) - est / 2**20
        assert OVERHEAD_MB[0] <= over <= OVERHEAD_MB[1], (r, est / 2**20)
        overheads.append(over)
    assert max(overheads) - min(overheads) <= SPREAD_MB, overheads
