import numpy as np
import pytest

from convbench.workload import datagen


@pytest.mark.parametrize("shape", [(3, 5, 5), (2, 3, 3), (1, 32, 32), (1, 1, 1)])
def test_a_range_equals_images_made_one_by_one(shape):
    """Image i depends on (seed, i) alone: any rank can make any range, at any P."""
    bulk = datagen.images(7, datagen.INPUT, 3, 10, shape)
    one = np.stack([datagen.images(7, datagen.INPUT, i, 1, shape)[0] for i in range(3, 13)])
    assert bulk.dtype == np.float32 and bulk.shape == (10, *shape)
    np.testing.assert_array_equal(bulk, one)
    assert bulk.min() >= -1.0 and bulk.max() < 1.0


def test_seeds_and_streams_differ():
    a = datagen.images(1, datagen.INPUT, 0, 2, (4, 4))
    assert not np.array_equal(a, datagen.images(2, datagen.INPUT, 0, 2, (4, 4)))
    assert not np.array_equal(a, datagen.images(1, datagen.GRAD_OUTPUT, 0, 2, (4, 4)))
    assert not np.array_equal(a[0], a[1])


def test_out_buffer_and_empty_range():
    out = np.zeros((3, 2, 2), dtype=np.float32)
    r = datagen.images(0, 0, 5, 3, (2, 2), out=out)
    assert r is out and np.any(out != 0)
    assert datagen.images(0, 0, 5, 0, (2, 2)).shape == (0, 2, 2)


def test_weights_are_deterministic_and_scaled():
    w1, b1 = datagen.weights(3, (4, 2, 3, 3))
    w2, b2 = datagen.weights(3, (4, 2, 3, 3))
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(b1, b2)
    assert w1.shape == (4, 2, 3, 3) and b1.shape == (4,)
    assert np.abs(w1).max() <= 1 / np.sqrt(18)


def _one_draw(seed, stream, start, count, shape):
    """The definition: images [start, start + count) as one bulk draw of the (seed, stream)
    PCG64 stream after start * ceil(E / 2) 64-bit draws (odd E: E + 1 per image, last dropped)."""
    elems = int(np.prod(shape))
    per = (elems + 1) // 2
    bitgen = np.random.PCG64(np.random.SeedSequence([seed, stream]))
    bitgen.advance(start * per)
    v = np.random.Generator(bitgen).random((count, 2 * per), dtype=np.float32)[:, :elems]
    return (v * np.float32(2.0) - np.float32(1.0)).reshape(count, *shape)


@pytest.mark.parametrize("shape", [(3, 6, 5), (1, 3, 3)])
@pytest.mark.parametrize("threads", [1, 3])
def test_pieces_and_threads_give_the_definition(monkeypatch, shape, threads):
    """Made in pieces (here of 8 elements, across image boundaries) by several threads, the
    values are those of one bulk draw: the data depend on (seed, i) alone."""
    monkeypatch.setattr(datagen, "PIECE", 8)
    got = datagen.images(5, datagen.INPUT, 4, 7, shape, threads=threads)
    np.testing.assert_array_equal(got, _one_draw(5, datagen.INPUT, 4, 7, shape))
    np.testing.assert_array_equal(got, datagen.images(5, datagen.INPUT, 4, 7, shape))
