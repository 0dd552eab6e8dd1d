import pytest

from convbench.workload import spec
from convbench.core.errors import UsageError
from convbench.workload.spec import Workload


def test_presets_reproduce_the_original_shapes():
    fat = spec.preset("fat")
    assert fat.output_shape() == (80, 3, 1022, 1022)
    light = spec.preset("light")
    assert light.output_shape() == (160000, 1, 30, 30)
    assert {"fat", "light", "resnet", "tiny"} <= set(spec.preset_names())


def test_shapes_flops_and_bytes():
    w = Workload("t", batch=2, c_in=3, c_out=4, height=10, width=8, kh=3, kw=2,
                 stride_h=2, stride_w=1, pad_h=1, pad_w=0)
    assert (w.out_height, w.out_width) == (5, 7)
    assert w.flops("forward") == 2 * 2 * 4 * 5 * 7 * 3 * 3 * 2
    assert w.flops("backward") == 2 * w.flops("forward")
    assert w.flops("train") == 3 * w.flops("forward")
    assert w.bytes_moved("forward") == 4 * (2 * 3 * 80 + 2 * 4 * 35 + 4 * 3 * 6)
    assert w.with_batch(5).batch == 5 and w.batch == 2


def test_memory_estimate_scatter_holds_whole_batch_on_rank0():
    fat = spec.preset("fat")
    r0, r = fat.memory_per_rank("forward", "scatter", 8)
    r0l, rl = fat.memory_per_rank("forward", "local", 8)
    assert r == rl and r0l == rl
    # rank 0 holds the whole batch of x and y, its own shard inside it (MPI_IN_PLACE)
    assert r0 - r == (80 - 10) * (3 * 1024 * 1024 + 3 * 1022 * 1022) * 4
    weights = (3 * 3 * 3 * 3 + 3) * 4
    assert r0 == 80 * (3 * 1024 * 1024 + 3 * 1022 * 1022) * 4 + weights
    assert fat.memory_total("forward", "local", 8) == 8 * rl


@pytest.mark.parametrize("kwargs,needle", [
    (dict(batch=0), "batch must be"),
    (dict(c_in=-1), "c_in must be"),
    (dict(kh=40), "larger than the padded image"),
    (dict(stride_h=0), "stride_h must be"),
    (dict(pad_w=-1), "pad_w must be"),
    (dict(batch=2**40), "elements"),
])
def test_bad_workloads_are_refused(kwargs, needle):
    base = dict(name="t", batch=2, c_in=1, c_out=1, height=8, width=8, kh=3, kw=3)
    with pytest.raises(UsageError, match=needle):
        Workload(**{**base, **kwargs})


def test_config_file_round_trip(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('batch = 4\nc_in = 2\nc_out = 3\nheight = 9\nwidth = 7\nkernel = [3, 2]\n'
                 'stride = [1, 2]\npadding = 1\nseed = 5\n')
    w = spec.load_config(f)
    assert (w.name, w.kh, w.kw, w.stride_w, w.pad_h, w.seed) == ("mine", 3, 2, 2, 1, 5)


@pytest.mark.parametrize("text,needle", [
    ("batch = 4\nc_in = 1\nc_out = 1\nheight = 8\nwidth = 8\nkernel = 3\nbogus = 1\n", "unknown key"),
    ("batch = [\n", "not valid TOML"),
    ("batch = 4\n", "missing key"),
    ("batch = 4\nc_in = 1\nc_out = 1\nheight = 8\nwidth = 8\nkernel = 'x'\n", "kernel must be"),
    ("batch = 4\nc_in = 1\nc_out = 1\nheight = 8\nwidth = 8\nkernel = 3\nstride = 0\n", "stride_h must be"),
])
def test_bad_config_files(tmp_path, text, needle):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(UsageError, match=needle):
        spec.load_config(f)


def test_missing_config_and_unknown_preset(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        spec.load_config(tmp_path / "nope.toml")
    with pytest.raises(UsageError, match="unknown preset 'nope'; presets are: bigimage, fat"):
        spec.preset("nope")
