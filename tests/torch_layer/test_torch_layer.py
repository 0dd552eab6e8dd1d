"""convbench.torch: the C kernel as a PyTorch layer, and the torch backend of the MPI worker.

All but the first test need torch and are skipped without it; the first checks the message
of the ImportError without torch."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_clear_import_error_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"       # `import torch` now fails
            "for name in ('convbench.torch', 'convbench.torch.backend'):\n"
            "    try:\n"
            "        __import__(name)\n"
            "    except ImportError as e:\n"
            "        print('MESSAGE', e)\n"
            "    else:\n"
            "        print('IMPORTED', name)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    assert ("MESSAGE convbench.torch needs PyTorch: pip install 'convbench[torch]' "
            "(torch==2.13.0)") in p.stdout, p.stdout + p.stderr
    assert p.stdout.count("MESSAGE convbench.torch needs PyTorch") == 2, p.stdout  # the backend imports the package first
    assert "IMPORTED" not in p.stdout


try:
    import torch
except ImportError:                       # every test below but the first one needs torch
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs torch: pip install 'convbench[torch]'")

if torch is not None:
    from convbench.kernel import ConvError
    from convbench.torch import Conv2d, ConvFunction, backend_backward, backend_forward

    torch.set_num_threads(1)      # two shared cores; the C kernel is single-threaded too

    class TinyCNN(torch.nn.Module):
        def __init__(self, conv):
            super().__init__()
            self.c1 = conv(3, 6, 3, padding=1)
            self.c2 = conv(6, 4, (3, 2), stride=2, padding=(0, 1))
            self.fc = torch.nn.Linear(4 * 7 * 9, 5)

        def forward(self, x):
            x = torch.relu(self.c1(x))
            x = torch.tanh(self.c2(x))
            return self.fc(x.flatten(1))


def _train(conv, steps=6):
    torch.manual_seed(1234)
    model = TinyCNN(conv)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(8, 3, 16, 16, generator=g)
    target = torch.randint(0, 5, (8,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


@needs_torch
def test_training_matches_torch_conv2d():
    ref_model, ref = _train(torch.nn.Conv2d, steps=0)
    ours_model, _ = _train(Conv2d, steps=0)
    for (n1, p1), (n2, p2) in zip(ref_model.named_parameters(), ours_model.named_parameters()):
        assert n1 == n2 and p1.shape == p2.shape and torch.equal(p1, p2), n1   # same init
    _, ref = _train(torch.nn.Conv2d)
    _, ours = _train(Conv2d)
    assert ref[-1] < ref[0]                                   # it learns something
    np.testing.assert_allclose(ours, ref, rtol=1e-5)


@needs_torch
def test_state_dict_interchangeable():
    torch.manual_seed(0)
    ours = Conv2d(2, 3, 3, bias=False)
    ref = torch.nn.Conv2d(2, 3, 3, bias=False)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 2, 7, 6)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)
    assert ours(x[0]).shape == ref(x[0]).shape == (3, 5, 4)   # unbatched input
    assert "kernel_size=(3, 3)" in repr(ours)


@needs_torch
def test_gradcheck_float32():
    """Float32 only, so gradcheck runs in float32 with a large step: the convolution is linear in
    each input, so central differences are exact but for float32 rounding."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 2, 6, 5, generator=g, requires_grad=True)
    w = torch.randn(3, 2, 3, 2, generator=g, requires_grad=True)
    b = torch.randn(3, generator=g, requires_grad=True)
    fn = lambda x, w, b: ConvFunction.apply(x, w, b, (2, 1), (1, 0))  # noqa: E731
    with pytest.warns(UserWarning, match="double precision"):
        assert torch.autograd.gradcheck(fn, (x, w, b), eps=0.05, atol=2e-3, rtol=2e-3)


@needs_torch
def test_gradients_match_torch_in_float64():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 9, 11), dtype=np.float32)
    w = rng.standard_normal((4, 2, 3, 3), dtype=np.float32)
    b = rng.standard_normal(4, dtype=np.float32)
    dy = rng.standard_normal((3, 4, 5, 6), dtype=np.float32)
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = ConvFunction.apply(*tensors, 2, 1)
    y.backward(torch.from_numpy(dy))
    ref = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b)]
    y64 = torch.nn.functional.conv2d(*ref, stride=2, padding=1)
    y64.backward(torch.from_numpy(dy).double())
    torch.testing.assert_close(y.double(), y64, rtol=1e-5, atol=1e-5)
    for t, r in zip(tensors, ref):
        torch.testing.assert_close(t.grad.double(), r.grad, rtol=1e-5, atol=1e-4)


@needs_torch
def test_inputs_refused_clearly():
    conv = Conv2d(2, 2, 3)
    with pytest.raises(TypeError, match="float32 only.*torch.float64"):
        conv(torch.randn(1, 2, 5, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="3-D .* or 4-D"):
        conv(torch.randn(5, 5))
    with pytest.raises(ConvError, match="channels"):
        conv(torch.randn(1, 3, 5, 5))
    y = conv(torch.randn(1, 2, 9, 9).transpose(2, 3))          # non-contiguous: copied, fine
    assert y.shape == (1, 2, 7, 7)


@needs_torch
@pytest.mark.parametrize("kwargs,name", [
    (dict(groups=2), "groups"),
    (dict(dilation=2), "dilation"),
    (dict(dilation=(1, 2)), "dilation"),
    (dict(padding_mode="reflect"), "padding_mode"),
    (dict(padding_mode="mirror"), "padding_mode"),
    (dict(padding="full"), "padding"),
    (dict(padding=-1), "padding"),
    (dict(padding="same", stride=2), "padding='same'"),
    (dict(kernel_size=2, padding="same"), "padding='same'"),
    (dict(dtype="float64"), "dtype"),
    (dict(device="meta"), "device"),
    (dict(stride=0), "stride"),
    (dict(kernel_size=(3, 3, 3)), "kernel_size"),
])
def test_constructor_refusals(kwargs, name):
    args = dict(in_channels=2, out_channels=2, kernel_size=3)
    args.update(kwargs)
    if "dtype" in args:
        args["dtype"] = getattr(torch, args["dtype"])
    with pytest.raises(ValueError, match=name.replace("(", r"\(")):
        Conv2d(**args)


@needs_torch
def test_padding_strings():
    x = torch.randn(1, 2, 8, 7)
    same = Conv2d(2, 3, (3, 5), padding="same")
    assert same.padding == "same" and same(x).shape == (1, 3, 8, 7)
    ref = torch.nn.Conv2d(2, 3, (3, 5), padding="same")
    ref.load_state_dict(same.state_dict())
    torch.testing.assert_close(same(x), ref(x), rtol=1e-5, atol=1e-6)
    assert Conv2d(2, 3, 3, padding="valid")(x).shape == (1, 3, 6, 5)
    assert Conv2d(2, 3, 3, dilation=(1, 1), device="cpu", dtype=torch.float32).dilation == (1, 1)


@needs_torch
def test_backend_matches_kernel_and_autograd():
    from convbench import kernel
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 2, 12, 10), dtype=np.float32)
    w = rng.standard_normal((4, 2, 3, 4), dtype=np.float32)
    b = rng.standard_normal(4, dtype=np.float32)
    kw = dict(stride=(2, 1), padding=(1, 2))
    y = backend_forward(x, w, b, **kw)
    np.testing.assert_allclose(y, kernel.forward(x, w, b, **kw), rtol=1e-5, atol=1e-5)
    out = np.full_like(y, np.nan)
    assert backend_forward(x, w, b, (2, 1), (1, 2), out=out) is out
    np.testing.assert_array_equal(out, y)
    assert backend_forward(x, w, None, **kw).shape == y.shape

    dy = rng.standard_normal(y.shape, dtype=np.float32)
    dx, dw, db = backend_backward(x, w, dy, **kw)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride=(2, 1), padding=(1, 2))
    gx, gw, gb = torch.autograd.grad(ty, (tx, tw, tb), torch.from_numpy(dy))
    np.testing.assert_allclose(dx, gx.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw, gw.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(db, gb.numpy(), rtol=1e-5, atol=1e-5)
    kdx, kdw, kdb = kernel.backward(x, w, dy, **kw)
    np.testing.assert_allclose(dx, kdx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, kdw, rtol=1e-4, atol=1e-3)
    bufs = [np.full_like(a, np.nan) for a in (x, w, b)]
    got = backend_backward(x, w, dy, (2, 1), (1, 2), dx=bufs[0], dw=bufs[1], db=bufs[2])
    assert all(g is buf for g, buf in zip(got, bufs))
    np.testing.assert_array_equal(bufs[1], dw)
    with pytest.raises(ConvError, match="float32"):
        backend_forward(x.astype(np.float64), w, b)
    with pytest.raises(ConvError, match="dy has shape"):
        backend_backward(x, w, dy[:, :, 1:], **kw)
