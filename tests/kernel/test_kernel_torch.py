"""The C kernel against torch.nn.functional.conv2d and its autograd (skipped without torch)."""
from __future__ import annotations

import numpy as np
import pytest

from convbench import kernel
from test_kernel import assert_close

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("n,c,k,h,w,kh,kw,stride,padding", [
    (2, 3, 3, 30, 41, 3, 3, 1, 0),
    (4, 1, 1, 32, 32, 3, 3, 1, 0),
    (1, 2, 5, 17, 23, 5, 2, (2, 3), (1, 2)),
    (3, 4, 2, 9, 12, 1, 1, 2, 1),
    (1, 1, 2, 6, 7, 8, 9, 1, (1, 1)),
    (2, 3, 6, 20, 50, 4, 7, (1, 2), (2, 0)),
])
def test_matches_torch(n, c, k, h, w, kh, kw, stride, padding):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    wt = rng.standard_normal((k, c, kh, kw), dtype=np.float32)
    b = rng.standard_normal(k, dtype=np.float32)

    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(wt, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding)
    y = kernel.forward(x, wt, b, stride=stride, padding=padding)
    assert y.shape == tuple(ty.shape)
    assert_close(y, ty.detach().numpy())

    dy = rng.standard_normal(y.shape, dtype=np.float32)
    ty.backward(torch.tensor(dy, dtype=torch.float64))
    dx, dw, db = kernel.backward(x, wt, dy, stride=stride, padding=padding)
    assert_close(dx, tx.grad.numpy())
    assert_close(dw, tw.grad.numpy())
    assert_close(db, tb.grad.numpy())
