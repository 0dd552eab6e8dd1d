import json

import pytest

from convbench.results import store
from convbench.core.errors import ConvbenchError, UsageError


def test_atomic_write_replaces_whole_file_and_leaves_no_temporaries(tmp_path):
    f = tmp_path / "summary.csv"
    store.write_csv(f, [{"procs": 1, "time_s": 0.5, "verified": True, "mem_per_rank_mb": [1.0, 2.5]}],
                      ["procs", "time_s", "verified", "mem_per_rank_mb", "absent"])
    assert f.read_text() == "procs,time_s,verified,mem_per_rank_mb,absent\n1,0.5,true,1.0 2.5,\n"
    store.write_json(tmp_path / "m.json", {"a": float("nan")})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": None}      # strict JSON
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "summary.csv"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("old\n")
    (tmp_path / "blocker").mkdir()
    with pytest.raises(ConvbenchError, match="cannot write"):
        store.atomic_write(tmp_path / "blocker", "new\n")     # a directory cannot be replaced by a file
    assert f.read_text() == "old\n"
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_sweep_directories_are_never_reused(tmp_path):
    a = store.new_sweep_dir(tmp_path, "strong", "fat")
    b = store.new_sweep_dir(tmp_path, "strong", "fat")
    assert a != b and a.is_dir() and b.is_dir() and (a / "points").is_dir()
    assert store.new_sweep_dir(tmp_path, "weak", "../../etc").parent == tmp_path


def test_out_must_be_a_writable_directory(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="not a directory"):
        store.prepare_out(tmp_path / "file")
    with pytest.raises(UsageError, match="cannot be created"):
        store.prepare_out(tmp_path / "file" / "below")
