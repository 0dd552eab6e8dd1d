"""Spatial decomposition: each rank computes a block of output rows of every image, with a halo
of input rows exchanged by Sendrecv. It must agree with the batch decomposition: the same
outputs (identical checksum) and the same gradients, at P = 1..4, uneven row splits, K = 1, 3,
5, stride 1 and 2."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

from convbench.workload import datagen
from convbench.workload import halo
from convbench.engine import sweep
from convbench.workload.spec import Workload


@given(h=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 3), p=st.integers(0, 3),
       procs=st.integers(1, 9))
def test_rows_are_owned_once_and_every_needed_row_arrives(h, k, s, p, procs):
    if k > h + 2 * p:
        return
    oh = (h + 2 * p - k) // s + 1
    rows = halo.split(h, oh, k, s, p, procs)
    owned = [i for r in rows for i in range(r.own0, r.own1)]
    assert sorted(owned) == list(range(h))                      # each input row: one owner
    assert [r.out_rows for r in rows] == [len(range(r.out0, r.out1)) for r in rows]
    assert sum(r.out_rows for r in rows) == oh
    moves = halo.transfers(rows)
    for rank, r in enumerate(rows):
        if r.out_rows == 0:
            continue
        assert r.slab_rows == (r.out_rows - 1) * s + k           # exactly the kernel's input
        got = {i for i in range(r.own0, r.own1) if r.need0 <= i < r.need1}
        for src, dst, a, b in moves:
            if dst == rank:
                assert rows[src].own0 <= a < b <= rows[src].own1
                got |= set(range(a, b))
        assert got == set(range(r.need0, r.need1))


@pytest.mark.parametrize("shape,r0,r1", [((3, 7, 5), 1, 4), ((2, 6, 4), 0, 6), ((1, 9, 9), 3, 9), ((1, 5, 3), 2, 2)])
def test_generated_rows_equal_the_rows_of_whole_images(shape, r0, r1):
    full = datagen.images(3, datagen.INPUT, 2, 4, shape)
    np.testing.assert_array_equal(datagen.rows(3, datagen.INPUT, 2, 4, shape, r0, r1), full[:, :, r0:r1])


def close(got, want):
    """Float32 sums taken in another order: equal to 1e-5 of the largest element."""
    want = np.asarray(want)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


def layer(k: int, s: int, height: int = 13) -> Workload:
    return Workload("spatial-test", batch=3, c_in=2, c_out=3, height=height, width=11, kh=k, kw=k,
                    stride_h=s, stride_w=s, pad_h=k // 2, pad_w=k // 2, seed=4)


def sweep_of(tmp_path, wl, decomp, procs, pass_):
    plan = sweep.SweepPlan.of(mode="strong", workload=wl, procs=procs, pass_=pass_, data="local", launches=1, order="sequential",
                              decomp=decomp, repeats=1, warmup=0, out=str(tmp_path / decomp), timeout=120)
    res = sweep.run(plan, argv=["test"])
    assert not res.failed, res.rows
    return [json.loads((res.path / "points" / f"p{p:04d}" / "l000" / "result.json").read_text()) for p in procs]


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("k,s", [(1, 1), (3, 1), (5, 1), (1, 2), (3, 2), (5, 2)])
def test_spatial_train_step_equals_batch(tmp_path, k, s):
    wl = layer(k, s)
    [ref] = sweep_of(tmp_path, wl, "batch", (1,), "train")
    for res in sweep_of(tmp_path, wl, "spatial", (1, 2, 3, 4), "train"):
        assert res["checksum"] == ref["checksum"], res["procs"]            # forward: bit-identical
        close(res["dw"], ref["dw"])
        close(res["db"], ref["db"])
        assert res["verified"] and res["decomp"] == "spatial"


@pytest.mark.mpi
@pytest.mark.parametrize("k,s", [(3, 2), (5, 1)])
def test_spatial_input_gradient_equals_batch(tmp_path, k, s):
    wl = layer(k, s)
    [ref] = sweep_of(tmp_path, wl, "batch", (1,), "backward")
    for res in sweep_of(tmp_path, wl, "spatial", (2, 4), "backward"):
        assert res["checksum"] == pytest.approx(ref["checksum"], abs=1e-5 * res["checksum_abs"])
        close(res["dw"], ref["dw"])


@pytest.mark.mpi
def test_more_ranks_than_output_rows_leaves_ranks_idle(tmp_path):
    wl = layer(3, 2, height=5)                  # 3 output rows
    [res] = sweep_of(tmp_path, wl, "spatial", (4,), "forward")
    assert res["idle_ranks"] == [3] and res["verified"]
    [ref] = sweep_of(tmp_path, wl, "batch", (1,), "forward")
    assert res["checksum"] == ref["checksum"]


def test_spatial_needs_local_data(tmp_path):
    from convbench.core.errors import UsageError
    plan = sweep.SweepPlan.of(mode="strong", workload=layer(3, 1), procs=(2,), decomp="spatial", launches=1, order="sequential",
                              data="scatter", out=str(tmp_path))
    with pytest.raises(UsageError, match="needs --data local"):
        sweep.validate(plan)
