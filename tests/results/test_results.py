"""Result files: validation, append-only writing, migration of older schemas, load_results."""

from __future__ import annotations

import json
import shutil

import pytest
from paths import GOLDEN

from rnnbench.results.frame import load_results
from rnnbench.results.schema import SCHEMA_VERSION, ResultsError, migrate, validate
from rnnbench.results.store import RECORDS_FILE, RecordWriter, finished_case_ids, read_records


def record(**overrides):
    base = {"schema": SCHEMA_VERSION, "run_id": "r", "case_id": "c1", "case_key": "c", "workload": "w",
            "data": "real", "backend": "numpy", "task": "imdb", "cell": "gru", "device": "cpu", "mode": "memory",
            "config": {}, "status": "ok", "duration_s": 1.0}
    return base | overrides


def test_schema_1_loads_through_its_migration():
    records = list(read_records(GOLDEN / "run-v1"))
    assert [r["schema"] for r in records] == [SCHEMA_VERSION, SCHEMA_VERSION]
    assert records[0]["throughput"]["train"]["samples_s"] == [0.30, 0.32, 0.31]
    assert records[0]["throughput"]["infer"] is None
    assert records[1]["stderr_tail"] == "Fatal Python error: Aborted" and "stderr" not in records[1]


def test_load_results_flattens_documented_columns():
    frame = load_results(GOLDEN / "run-v1")
    assert list(frame.backend) == ["numpy", "torch"]
    numpy = frame.iloc[0]
    assert (numpy.train_step_s, numpy.train_step_ci_low_s, numpy.train_step_ci_high_s) == (0.31, 0.30, 0.32)
    assert (numpy.batch_size, numpy.seq_len, numpy.hidden_size, numpy.profile) == (32, 100, 256, "quick")
    assert frame.iloc[1].status == "crashed" and "SIGABRT" in frame.iloc[1].error


def test_load_results_finds_runs_below_a_results_folder(tmp_path):
    shutil.copytree(GOLDEN / "run-v1", tmp_path / "a")
    shutil.copytree(GOLDEN / "run-v1", tmp_path / "b")
    assert len(load_results(tmp_path)) == 4
    assert len(load_results([tmp_path / "a", tmp_path / "b"])) == 4


def test_unknown_schema_and_bad_records_are_rejected():
    with pytest.raises(ResultsError, match="record schema 99 is not supported. Accepted: 1 to"):
        migrate(record(schema=99))
    with pytest.raises(ResultsError, match="record status 'meh' is not valid"):
        validate(record(status="meh"))


def test_writer_appends_one_line_per_record_and_rejects_invalid(tmp_path):
    writer = RecordWriter(tmp_path)
    writer.append(record(case_id="a"))
    writer.append(record(case_id="b", status="timeout"))
    with pytest.raises(ResultsError, match="record field 'backend'"):
        writer.append(record(backend=None))
    lines = (tmp_path / RECORDS_FILE).read_text().splitlines()
    assert [json.loads(line)["case_id"] for line in lines] == ["a", "b"]
    assert finished_case_ids(tmp_path) == {"a", "b"}


def test_non_finite_numbers_never_reach_the_file(tmp_path):
    with pytest.raises(ValueError):
        RecordWriter(tmp_path).append(record(duration_s=float("nan")))


def test_torn_last_line_is_skipped_but_a_bad_middle_line_is_an_error(tmp_path):
    good = json.dumps(record(case_id="a"))
    (tmp_path / RECORDS_FILE).write_text(good + "\n" + good[:20])
    assert [r["case_id"] for r in read_records(tmp_path)] == ["a"]
    (tmp_path / RECORDS_FILE).write_text(good[:20] + "\n" + good + "\n")
    with pytest.raises(ResultsError, match=r"records.jsonl:1: not JSON"):
        list(read_records(tmp_path))


def test_missing_run_folder_is_one_clear_error(tmp_path):
    with pytest.raises(ResultsError, match="is not a run folder"):
        load_results(tmp_path / "nope")
