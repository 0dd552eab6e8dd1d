"""The typed records: columns defined once, strict JSON in and out, manifest versions."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from handmade import build, manifest, point
from convbench.core.errors import UsageError
from convbench.results import records, store
from convbench.results.records import (Manifest, PointRow, PointSpec, RankResult, RankRow,
                                       RecordError, StepTimes)
from convbench.workload import phases
from convbench.workload.spec import preset

#: the headers convbench 0.1.0 wrote (schema 1): a file with them still loads
RANKS_HEADER = ("procs,repeat,rank,host,start,end,images,time_s,compute_s,comm_s,scatter_s,"
                "halo_s,gather_s,allreduce_s,wait_s,rss_base_mb,rss_peak_mb,rss_data_mb")
SUMMARY_HEADER = ("mode,pass,data,procs,batch,images_per_rank,repeats,time_s,time_min_s,"
                  "time_max_s,compute_s,comm_s,speedup,efficiency,karp_flatt,gflops,gbs,"
                  "roofline_s,roofline_frac,bw_frac,mem_total_mb,mem_max_rank_mb,mem_rank0_mb,"
                  "mem_data_mb,mem_per_rank_mb,output_shape,checksum,oversubscribed,idle_ranks,"
                  "hosts,launch_s,verified,status,reason")


#: the columns summary.csv gained since: where a point's wall time goes (after launch_s)
STAGE_COLUMNS = "data_s,warmup_s,repeats_s,verify_s,write_s,wall_s"
#: schema 3 (a point is several launches): the tables as this convbench writes them
RANKS_HEADER_3 = ("procs,launch,round,position,repeat,rank,host,start,end,images,time_s,compute_s,"
                  "comm_s,scatter_s,halo_s,gather_s,allreduce_s,wait_s,rss_base_mb,rss_peak_mb,"
                  "rss_data_mb,t_wall,cpu,affinity")
SUMMARY_HEADER_3 = (
    "mode,pass,data,procs,batch,images_per_rank,repeats,launches,time_s,time_min_s,time_max_s,"
    "time_lo_s,time_hi_s,compute_s,comm_s,speedup,speedup_lo,speedup_hi,efficiency,"
    "efficiency_lo,efficiency_hi,ci_note,cv,flags,karp_flatt,gflops,gbs,roofline_s,"
    "roofline_frac,bw_frac,mem_total_mb,mem_max_rank_mb,mem_rank0_mb,mem_data_mb,"
    "mem_per_rank_mb,output_shape,checksum,oversubscribed,idle_ranks,hosts,launch_s,"
    "data_s,warmup_s,repeats_s,verify_s,write_s,wall_s,stopped,verified,status,reason")


def test_table_columns_are_the_records_fields_and_unchanged():
    assert ",".join(records.columns(RankRow)) == RANKS_HEADER_3 == ",".join(store.RANK_COLUMNS)
    assert ",".join(records.columns(PointRow)) == SUMMARY_HEADER_3 == ",".join(store.SUMMARY_COLUMNS)
    # what an older file lacks is exactly what was added since, and may be missing on load
    for cls, old in ((PointRow, SUMMARY_HEADER), (RankRow, RANKS_HEADER)):
        added = [c for c in records.columns(cls) if c not in old.split(",")]
        assert sorted(records.later_columns(cls)) == sorted(added)
        assert [c for c in records.columns(cls) if c in old.split(",")] == old.split(",")
    assert records.STAGES[0] == "launch_s" and set(records.STAGES[1:]) < set(STAGE_COLUMNS.split(","))
    kinds = records.column_kinds(PointRow)
    assert kinds["procs"] is int and kinds["time_s"] is float and kinds["verified"] is bool
    assert kinds["mem_per_rank_mb"] is list and kinds["pass"] is str
    assert "host" not in records.numeric_columns(RankRow)


def test_every_phase_has_a_column_and_a_step_time():
    step = records.columns(StepTimes)
    for ph in phases.PHASES:
        assert ph.column in records.columns(RankRow) and ph.column in step
    assert [p.name for p in phases.COMM] == ["scatter", "halo", "gather", "allreduce"]
    assert phases.comm_text() == "scatter + halo + gather + allreduce"
    assert not phases.by_name("wait").measured and phases.by_name("halo").comm


def spec_json(**changes) -> dict:
    d = PointSpec(workload=preset("tiny"), procs=2, pass_="forward").to_json()
    d.update(changes)
    return d


def test_point_spec_round_trips_with_its_defaults():
    d = spec_json()
    assert d["pass"] == "forward" and d["checksum_images"] == 16 and "images" not in d
    back = PointSpec.from_json(json.loads(json.dumps(d)))
    assert back.workload == preset("tiny") and back.pass_ == "forward" and back.warmup == 1
    assert back.decomp == "batch" and back.images is None
    del d["warmup"]                               # a field with a default may be left out
    assert PointSpec.from_json(d).warmup == 1


@pytest.mark.parametrize("change, needle", [
    ({"repeats": "3"}, "PointSpec.repeats is a string, expected an integer"),
    ({"verify": 1}, "PointSpec.verify is an integer, expected true or false"),
    ({"colour": "red"}, "unknown key(s) 'colour'"),
    ({"procs": None}, "PointSpec.procs is null"),
    ({"workload": {"batch": 2}}, "PointSpec.workload is not a valid workload"),
])
def test_point_spec_refuses_bad_keys_by_name(change, needle):
    with pytest.raises(RecordError) as e:
        PointSpec.from_json(spec_json(**change))
    assert needle in str(e.value) and "\n" not in str(e.value)
    d = spec_json()
    del d["procs"]
    with pytest.raises(RecordError, match="lacks the key.*'procs'"):
        PointSpec.from_json(d)


def test_the_worker_refuses_a_bad_spec_in_one_line(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps(spec_json(repeats=-0.5)))
    p = subprocess.run([sys.executable, "-m", "convbench.rank.worker", str(tmp_path / "spec.json"),
                        str(tmp_path / "out.json")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "repeats is a number, expected an integer" in p.stderr
    assert not (tmp_path / "out.json").exists()


def test_rank_result_is_strict_json_and_reads_back():
    rep = StepTimes(time_s=1.0, comm_s=0.25, compute_s=0.5, halo_s=0.25, wait_s=0.25)
    res = RankResult(procs=1, batch=2, ready_at=5.0, decomp="spatial", backend="convbench",
                     output_shape=[2, 3, 4, 5], mpi_library="MPICH", mpi_version="4.1",
                     verified=False, verify_errors=["x"], idle_ranks=[],
                     ranks=[records.RankReport(rank=0, host="h", start=0, end=2, images=2,
                                               rss_base_mb=1.0, rss_peak_mb=2.0, setup_s=0.1,
                                               repeats=[rep], row_start=0, row_end=4)],
                     checksum=math.nan)
    text = records.dumps(res.to_json())
    d = json.loads(text)
    assert "NaN" not in text and d["checksum"] is None and "dw" not in d
    back = RankResult.from_json(d)
    assert math.isnan(back.checksum) and back.ranks[0].repeats[0].halo_s == 0.25
    assert back.ranks[0].row_end == 4
    d["ranks"][0]["repeats"][0]["halo_s"] = "fast"
    with pytest.raises(RecordError, match=r"ranks\[0\]\.repeats\[0\]\.halo_s"):
        RankResult.from_json(d)


def test_manifests_without_a_version_load_as_version_1(tmp_path):
    d = build(tmp_path / "v1", [point(1, [1.0]), point(2, [0.6])])
    assert "schema_version" not in json.loads((d / store.MANIFEST).read_text())
    sweep = store.load(d)
    assert sweep.manifest["schema_version"] == 1 and sweep.manifest["sweep"]["mode"] == "strong"


def test_a_summary_written_before_the_stage_columns_loads_with_nan_in_them(tmp_path):
    """Version 1 and 2 files have no data_s ... wall_s: they load, the stages unknown."""
    d = build(tmp_path / "old", [point(1, [1.0]), point(2, [0.6])])
    rows = (d / store.SUMMARY).read_text().splitlines()
    cols = rows[0].split(",")
    keep = [i for i, c in enumerate(cols) if c in SUMMARY_HEADER.split(",")]
    old = [",".join(r.split(",")[i] for i in keep) for r in rows]   # no commas inside cells
    assert old[0] == SUMMARY_HEADER
    (d / store.SUMMARY).write_text("\n".join(old) + "\n")
    rows = (d / store.RANKS).read_text().splitlines()
    cols = rows[0].split(",")
    keep = [i for i, c in enumerate(cols) if c in RANKS_HEADER.split(",")]
    (d / store.RANKS).write_text("\n".join(",".join(r.split(",")[i] for i in keep) for r in rows) + "\n")
    (d / store.LAUNCHES).unlink(missing_ok=True)
    sweep = store.load(d)
    assert sweep.summary["wall_s"].isna().all() and sweep.summary["data_s"].isna().all()
    assert sweep.summary["time_lo_s"].isna().all() and len(sweep.launches) == 0
    # one launch per point: launch 0 of round 0
    assert set(sweep.ranks["launch"]) == {0} and set(sweep.ranks["round"]) == {0}
    assert list(sweep.summary["procs"]) == [1, 2]
    # a column of the old layout is still required
    (d / store.SUMMARY).write_text("\n".join(old).replace(",launch_s,", ",launch,", 1) + "\n")
    with pytest.raises(UsageError, match="lacks the column.s. launch_s"):
        store.load(d)


def test_a_newer_manifest_is_refused_naming_its_version(tmp_path):
    d = build(tmp_path / "v9", [point(1, [1.0])])
    store.write_json(d / store.MANIFEST, {**manifest(), "schema_version": 9})
    with pytest.raises(UsageError) as e:
        store.load(d)
    assert "schema_version 9" in str(e.value) and "reads versions 1, 2" in str(e.value)
    store.write_json(d / store.MANIFEST, {**manifest(), "sweep": "strong"})
    with pytest.raises(UsageError, match="manifest.json.sweep is a string"):
        store.load(d)


def test_the_recorder_writes_the_current_version_and_keeps_extra_keys(tmp_path):
    m = {**manifest(), "sessions": [{"started": "now"}], "from_a_newer_engine": {"a": 1}}
    rec = store.Recorder(tmp_path, m)
    m["sessions"][0]["finished"] = "later"        # the engine keeps adding to its dict
    rec.update_manifest(finished="later")
    written = json.loads((tmp_path / store.MANIFEST).read_text())
    assert written["schema_version"] == records.SCHEMA_VERSION == Manifest().schema_version
    assert written["from_a_newer_engine"] == {"a": 1} and written["finished"] == "later"
    assert written["sessions"] == [{"started": "now", "finished": "later"}]


def test_loading_names_a_missing_or_non_numeric_column(tmp_path):
    good = build(tmp_path / "good", [point(1, [1.0]), point(2, [0.6])])
    text = (good / store.RANKS).read_text()
    (good / store.RANKS).write_text(text.replace(",halo_s,", ",halo,", 1))
    with pytest.raises(UsageError) as e:
        store.load(good)
    assert f"{good / store.RANKS} lacks the column(s) halo_s" in str(e.value)
    lines = text.splitlines()
    cells = lines[1].split(",")
    cells[records.columns(RankRow).index("rss_peak_mb")] = "lots"
    (good / store.RANKS).write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    with pytest.raises(UsageError, match="column.*rss_peak_mb are not all numbers"):
        store.load(good)


def test_rows_write_through_their_record(tmp_path):
    row = PointRow(mode="strong", pass_="forward", data="scatter", procs=2, batch=4,
                   time_s=0.5, mem_per_rank_mb=[1.0, 2.5], verified=True, status="ok")
    store.write_csv(tmp_path / "s.csv", [row], store.SUMMARY_COLUMNS)
    header, line = (tmp_path / "s.csv").read_text().splitlines()
    assert header == SUMMARY_HEADER_3
    values = dict(zip(header.split(","), line.split(",")))
    assert values["pass"] == "forward" and values["time_s"] == "0.5" and values["speedup"] == ""
    assert values["mem_per_rank_mb"] == "1.0 2.5" and values["verified"] == "true"
