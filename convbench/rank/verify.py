"""Verification: every output row computed exactly once, finite, and right.

Every output row of every image is summed in float64 on the rank that owns it; rank 0
assembles the (image, channel, row) table, checks that every row was produced exactly once and
is finite (outputs are NaN before each step), and adds the table exactly (math.fsum), so the
checksum is identical whatever the decomposition and P. Sample images are compared with the
float64 numpy reference on every rank (:func:`check_sample`).
"""
from __future__ import annotations

import math

import numpy as np

from convbench.core.numeric import rel_err
from convbench.rank.setup import idle_barrier

#: the largest relative error a result may have against the float64 reference
RTOL = 1e-4
#: the whole-batch weight gradient goes into the result up to this many elements
MAX_DW_LISTED = 4096



def check_sample(point, x, y, dy, dx, label: str, **geometry) -> str | None:
    """One image's result against the float64 numpy reference (x: 1 image or slab); the
    error message, or None."""
    from convbench.kernel import reference      # numpy's reference: only where samples are checked
    wl = point.wl
    geo = {"stride": wl.stride, "padding": wl.padding, **geometry}
    w64, x64 = point.w.astype(np.float64), x.astype(np.float64)
    if y is not None:
        ref = reference.conv2d_forward(x64, w64, point.b.astype(np.float64), **geo)
        e = rel_err(y, ref)
        if not e <= RTOL:
            return f"{label}: forward output differs from the reference (relative error {e:.2e})"
    if dy is not None:
        rdx, rdw, rdb = reference.conv2d_backward(x64, w64, dy.astype(np.float64), **geo)
        e = rel_err(dx, rdx)
        if not e <= RTOL:
            return f"{label}: input gradient differs from the reference (relative error {e:.2e})"
        kdw = np.zeros_like(point.w)
        kdb = np.zeros(wl.c_out, dtype=np.float32)
        point.backend.backward(x, point.w, dy, np.zeros_like(x), kdw, kdb, **geometry)
        e = max(rel_err(kdw, rdw), rel_err(kdb, rdb))
        if not e <= RTOL:
            return f"{label}: weight gradient differs from the reference (relative error {e:.2e})"
    return None


def verify(point) -> dict:
    """Gather every rank's checks on rank 0: row coverage, finiteness, checksums, dW. Returns
    (on rank 0; {} elsewhere) the verification fields of RankResult, verify_errors included."""
    comm, wl = point.comm, point.wl
    errors = point.samples()
    blocks = point.row_sums()
    idle_barrier(comm)              # rank 0 may still be summing the gathered batch
    exact = point.checksum_exact
    abs_sums = None if exact else comm.gather(point.abs_sum(), root=0)
    dw, db = point.weight_grad()
    all_errors = comm.gather(errors, root=0)
    all_blocks = comm.gather(blocks, root=0)
    if not point.root:
        return {}
    errs = [e for rank_errs in all_errors for e in rank_errs]
    main = point.pass_ in ("forward", "train")
    shape = (wl.batch, wl.c_out, wl.out_height) if main else (wl.batch, wl.c_in, wl.height)
    table = np.full(shape, np.nan)
    cover = np.zeros(shape, dtype=np.int32)
    for i0, i1, r0, r1, sums in (b for rank_blocks in all_blocks for b in rank_blocks):
        table[i0:i1, :, r0:r1] = sums
        cover[i0:i1, :, r0:r1] += 1
    if (cover > 1).any():
        i = int(np.argwhere(cover > 1)[0][0])
        errs.append(f"rows of image {i} were computed by more than one rank")
    bad = np.flatnonzero(~np.isfinite(table).all(axis=(1, 2)))
    if bad.size:
        errs.append(f"{bad.size} of {wl.batch} images have rows with no finite result "
                    f"(never computed?), first: image {int(bad[0])}")
    k = point.spec.checksum_images or wl.batch
    out = {
        "checksum": math.fsum(table.ravel().tolist()) if not bad.size else math.nan,
        "checksum_ref": math.fsum(table[:k].ravel().tolist()) if not bad.size else math.nan,
        "verify_errors": errs,
        "checksum_exact": exact,
    }
    if not exact:
        out["checksum_abs"] = math.fsum(abs_sums)
    if dw is not None:
        out["dw_checksum"] = math.fsum(dw.astype(np.float64).ravel().tolist())
        out["db_checksum"] = math.fsum(db.astype(np.float64).ravel().tolist())
        if dw.size <= MAX_DW_LISTED:
            out["dw"] = dw.ravel().tolist()
            out["db"] = db.ravel().tolist()
    return out
