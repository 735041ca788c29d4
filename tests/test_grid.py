"""The shared frame grid and the streaming Parquet writer."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from affectflow.errors import CorpusError
from affectflow.features import grid
from affectflow.io import read_parquet_metadata


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(0.0, 1), (0.049, 1), (0.05, 1), (0.0749, 1), (0.075, 2), (0.1, 3), (2.0, 79), (60.0, 2399)],
)
def test_n_frames_formula(duration: float, expected: int) -> None:
    assert grid.n_frames(duration) == expected


def test_n_frames_for_samples_is_exact_on_frame_edges() -> None:
    # 0.05 + 0.025 * k seconds at 16 kHz are exact sample counts: 800 + 400 k
    for k in range(0, 2000, 7):
        assert grid.n_frames_for_samples(800 + 400 * k, 16_000) == k + 1
        assert grid.n_frames_for_samples(800 + 400 * k - 1, 16_000) == max(k, 1)


def test_frame_times_and_span() -> None:
    t = grid.frame_times(4)
    np.testing.assert_allclose(t, [0.025, 0.05, 0.075, 0.1])
    assert grid.span(4) == pytest.approx(0.125)


def test_window_rows_at_120fps_take_six_frames_each() -> None:
    lo, hi = grid.window_rows(5, 120, n_rows=20)
    np.testing.assert_array_equal(lo, [0, 3, 6, 9, 12])
    np.testing.assert_array_equal(hi, [6, 9, 12, 15, 18])
    lo, hi = grid.window_rows(8, 120, n_rows=20)  # clipped at the end of the signal
    np.testing.assert_array_equal(hi[-3:], [20, 20, 20])
    np.testing.assert_array_equal(lo[-2:], [18, 20])


def _table(utt: str, n: int, schema: pa.Schema) -> pa.Table:
    return grid.frame_table(utt, np.full((n, 2), 1.5), schema)


def test_frame_table_types_and_columns() -> None:
    schema = grid.frame_schema(["a", "b"])
    tab = _table("u1", 3, schema)
    assert tab.schema == schema
    assert tab.column("frame").to_pylist() == [0, 1, 2]
    np.testing.assert_allclose(tab.column("time").to_numpy(), [0.025, 0.05, 0.075], rtol=1e-6)
    assert tab.column("utt_id").to_pylist() == ["u1"] * 3


def test_writer_streams_row_groups_and_stores_metadata(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(grid, "ROWS_PER_GROUP", 10)
    schema = grid.frame_schema(["a", "b"])
    out = tmp_path / "s" / "x.parquet"
    with grid.FrameTableWriter(out, schema) as w:
        for i in range(5):
            w.add(_table(f"u{i}", 6, schema))
        w.set_metadata({"coverage": {"u0": {"complete": 1.0}}})
    meta = pq.ParquetFile(out).metadata
    assert meta.num_rows == 30 and meta.num_row_groups == 3
    assert read_parquet_metadata(out) == {"coverage": {"u0": {"complete": 1.0}}}
    assert pq.read_table(out).schema.field("a").type == pa.float32()
    assert sorted(p.name for p in out.parent.iterdir()) == ["x.parquet"]


def test_writer_leaves_nothing_when_interrupted(tmp_path) -> None:
    schema = grid.frame_schema(["a", "b"])
    out = tmp_path / "x.parquet"
    with pytest.raises(RuntimeError), grid.FrameTableWriter(out, schema) as w:
        w.add(_table("u0", 3, schema))
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def _jobs(schema: pa.Schema, bad: str):
    def make(u: str) -> pa.Table:
        if u == bad:
            raise CorpusError(f"/corpus/{u}.txt", "broken", line=7)
        return _table(u, 2, schema)

    return [(u, lambda u=u: make(u)) for u in ("a", "b", "c")]


def test_write_session_lenient_excludes_and_logs(tmp_path, caplog) -> None:
    schema = grid.frame_schema(["a", "b"])
    out = tmp_path / "Ses01" / "audio.parquet"
    with caplog.at_level("INFO", logger="affectflow"):
        excl = grid.write_session(out, schema, _jobs(schema, "b"), 3, False, "audio Ses01",
                                  log_every=2)
    lines = caplog.messages
    assert excl.to_dict("records") == [
        {"utt_id": "b", "file": "/corpus/b.txt", "line": 7, "reason": "broken"}
    ]
    assert pq.read_table(out).column("utt_id").to_pylist() == ["a", "a", "c", "c"]
    assert "audio Ses01: 2/3 utterances" in lines and lines[-1] == "audio Ses01: 3/3 utterances"
    assert any("excluded b" in line and "/corpus/b.txt:7" in line for line in lines)


def test_write_session_strict_raises_and_writes_nothing(tmp_path) -> None:
    schema = grid.frame_schema(["a", "b"])
    with pytest.raises(CorpusError, match="/corpus/b.txt:7"):
        grid.write_session(
            tmp_path / "x.parquet", schema, _jobs(schema, "b"), 3, True, "audio"
        )
    assert list(tmp_path.iterdir()) == []
