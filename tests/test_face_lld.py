"""Face LLDs: MOCAP_rotated parsing/validation, origin, gaps, window means, grid alignment."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectflow.corpus import layout
from affectflow.errors import CorpusError
from affectflow.features import audio, face, grid
from affectflow.features.groups import FACE_COORDS
from affectflow.features.mocap import read_mocap
from affectflow.io import read_parquet_metadata

FPS = 120
ORIGIN = np.array([10.0, -20.0, 30.0])


def write_wav(path: Path, seconds: float, rate: int = 16_000) -> Path:
    """A 16-bit mono wav of low noise lasting ``seconds``."""
    x = np.random.default_rng(1).normal(0.0, 0.05, round(seconds * rate))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((x * 32767).astype("<i2").tobytes())
    return path


def coords(n_rows: int) -> np.ndarray:
    """``(n_rows, 165)`` coordinates: every marker at TNOSE + a fixed per-marker offset."""
    offsets = np.arange(165, dtype=float).reshape(55, 3) + 0.5
    c = np.tile(ORIGIN, 55) + offsets.ravel()
    drift = np.linspace(0.0, 2.0, n_rows)[:, None]  # the whole face moves; offsets do not
    return c[None, :] + drift


def col(marker: str, axis: int = 0) -> int:
    return 3 * layout.MARKER_NAMES.index(marker) + axis


def write_mocap(path: Path, c: np.ndarray, times: np.ndarray | None = None) -> Path:
    """A MOCAP_rotated file with rows ``c`` (NaN written as ``NaN``)."""
    times = np.arange(c.shape[0]) / FPS if times is None else times
    lines = [layout.MOCAP_HEADER_LINE1, layout.MOCAP_HEADER_LINE2]
    for i, row in enumerate(c):
        vals = " ".join("NaN" if np.isnan(v) else f"{v:.4f}" for v in row)
        lines.append(f"{i + 1} {times[i]:.4f} {vals}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_reader_keeps_row_order_and_nan(tmp_path) -> None:
    c = coords(30)
    c[4, col("CH2", 1)] = np.nan
    # a scrambled time column must not matter
    path = write_mocap(tmp_path / "m.txt", c, times=np.random.default_rng(0).random(30))
    m = read_mocap(path)
    assert m.markers == layout.MARKER_NAMES and m.coords.shape == (30, 165)
    np.testing.assert_allclose(m.coords, c, atol=1e-4)
    assert np.isnan(m.coords[4, col("CH2", 1)])


def test_reader_tolerates_crlf_and_trailing_spaces(tmp_path) -> None:
    c = coords(10)
    text = write_mocap(tmp_path / "m.txt", c).read_text()
    odd = tmp_path / "crlf.txt"
    odd.write_bytes(text.replace("\n", " \r\n").encode())
    np.testing.assert_array_equal(read_mocap(odd).coords, read_mocap(tmp_path / "m.txt").coords)


def test_marker_subset_is_the_46_face_markers() -> None:
    assert len(FACE_COORDS) == 138 and len(face.FACE_SCHEMA) == 3 + 138
    markers = {c.rsplit("_", 1)[0] for c in FACE_COORDS}
    assert markers == set(layout.FACE_MARKERS)
    dropped = {"MH", "MNOSE", "LNSTRL", "TNOSE", "RNSTRL", "LLID", "RLID", "LHD", "RHD"}
    assert not markers & dropped


def test_coordinates_are_relative_to_tnose(tmp_path) -> None:
    n = 240
    c = coords(n)
    c[:, col("TNOSE") : col("TNOSE") + 3] += np.sin(np.arange(n) / 7)[:, None]  # nose moves
    c[:, col("CH1") : col("CH1") + 3] = c[:, col("TNOSE") : col("TNOSE") + 3] + [1.0, 2.0, -3.0]
    df = face.extract_face_lld(write_mocap(tmp_path / "m.txt", c), "u", duration=2.0)
    np.testing.assert_allclose(
        df[["CH1_x", "CH1_y", "CH1_z"]], np.tile([1, 2, -3], (79, 1)), atol=1e-3
    )
    assert list(df.columns) == ["utt_id", "frame", "time", *FACE_COORDS]
    assert all(df[c].dtype == np.float32 for c in FACE_COORDS)


def test_window_means_average_the_six_frames_of_each_window() -> None:
    values = np.arange(30, dtype=float)[:, None]
    means = face.window_means(values, n=5)
    np.testing.assert_allclose(means[:, 0], [2.5, 5.5, 8.5, 11.5, 14.5])  # mean of 3k..3k+5
    values[[3, 4]] = np.nan  # NaN ignored, not propagated
    assert face.window_means(values, n=1)[0, 0] == pytest.approx(np.mean([0, 1, 2, 5]))
    values[:6] = np.nan
    assert np.isnan(face.window_means(values, n=1)[0, 0])


def test_interpolate_gaps_short_linear_long_kept() -> None:
    x = np.arange(40, dtype=float)
    a = np.column_stack([x, x, x])
    a[5:10, 0] = np.nan  # 5-row gap: filled linearly
    a[5:25, 1] = np.nan  # 20-row gap: too long
    a[:3, 2] = np.nan  # leading gap: no left neighbour
    out, n_filled = face.interpolate_gaps(a, max_gap=12)
    np.testing.assert_allclose(out[:, 0], x)
    assert np.isnan(out[5:25, 1]).all() and np.isnan(out[:3, 2]).all()
    assert n_filled == 5
    assert np.isnan(face.interpolate_gaps(a, max_gap=4)[0][5:10, 0]).all()


def test_gaps_in_the_file_short_filled_long_nan_and_counted(tmp_path) -> None:
    c = coords(240)  # 2 s
    c[30:36, col("Mou1") : col("Mou1") + 3] = np.nan  # 6 frames: filled
    c[120:150, col("LC3") : col("LC3") + 3] = np.nan  # 30 frames = 0.25 s: kept
    df = face.extract_face_lld(write_mocap(tmp_path / "m.txt", c), "u", 2.0, max_gap_frames=12)
    assert not df["Mou1_x"].isna().any()
    rel = (np.arange(165).reshape(55, 3) + 0.5)[layout.MARKER_NAMES.index("Mou1")]
    rel -= (np.arange(165).reshape(55, 3) + 0.5)[layout.MARKER_NAMES.index("TNOSE")]
    np.testing.assert_allclose(df.loc[8:12, "Mou1_x"], rel[0], atol=1e-3)
    # windows [3k, 3k+6) lying entirely inside rows 120..149: k = 40..48
    gap = df["LC3_x"].isna()
    assert list(df.index[gap]) == list(range(40, 49))
    cov = df.attrs["coverage"]
    assert cov["gap_frames"] == 9 and cov["trailing_frames"] == 0
    assert cov["complete"] == pytest.approx(70 / 79)
    assert cov["interpolated"] == 18 and cov["mocap_frames"] == 240


def test_tnose_gaps(tmp_path) -> None:
    c = coords(240)
    t = col("TNOSE")
    c[10:15, t : t + 3] = np.nan  # short: interpolated, frames stay complete
    c[120:150, t : t + 3] = np.nan  # long: no origin, every coordinate NaN there
    df = face.extract_face_lld(write_mocap(tmp_path / "m.txt", c), "u", 2.0)
    values = df[list(FACE_COORDS)]
    assert not values.iloc[:39].isna().any().any()
    assert values.iloc[40:49].isna().all().all()
    # TNOSE missing in every frame: missing data (all NaN, coverage 0), not a malformed file
    c[:, t : t + 3] = np.nan
    df = face.extract_face_lld(write_mocap(tmp_path / "m.txt", c), "u", 2.0)
    assert len(df) == grid.n_frames(2.0)
    assert df[list(FACE_COORDS)].isna().all().all()
    assert df.attrs["coverage"]["complete"] == 0.0


def test_audio_and_face_share_frames_and_times(tmp_path) -> None:
    for seconds in (0.06, 1.337, 2.0):
        wav = write_wav(tmp_path / "a.wav", seconds)
        mocap = write_mocap(tmp_path / "m.txt", coords(round(seconds * FPS) + 1))
        a = audio.extract_audio_lld(wav, "u")
        f = face.extract_face_lld(mocap, "u", duration=seconds)
        assert len(a) == len(f) == grid.n_frames(seconds)
        np.testing.assert_array_equal(a["time"], f["time"])
        np.testing.assert_array_equal(a["frame"], f["frame"])


def test_shorter_mocap_gives_trailing_nan_frames(tmp_path) -> None:
    df = face.extract_face_lld(write_mocap(tmp_path / "m.txt", coords(120)), "u", 2.0)
    # 120 rows cover windows k with 3k < 120: k <= 39; frames 40..78 have no rows
    assert df.iloc[40:][list(FACE_COORDS)].isna().all().all()
    assert not df.iloc[:40][list(FACE_COORDS)].isna().any().any()
    cov = df.attrs["coverage"]
    assert cov["trailing_frames"] == 39 and cov["gap_frames"] == 0
    assert cov["complete"] == pytest.approx(40 / 79)


def _bad_mocaps(d: Path) -> dict[str, tuple[Path, str, int | None]]:
    good = write_mocap(d / "good.txt", coords(12)).read_text().split("\n")
    bad_token = good[4].split()
    bad_token[10] = "abc"
    cases: dict[str, tuple[list[str], str, int | None]] = {
        "short_row": (
            good[:5] + [good[5].rsplit(" ", 1)[0]] + good[6:],
            "166 columns, expected 167",
            6,
        ),
        "long_row": (good[:7] + [good[7] + " 1.0"] + good[8:], "168 columns, expected 167", 8),
        "token": (good[:4] + [" ".join(bad_token)] + good[5:], "non-numeric value 'abc'", 5),
        "one_frame": (good[:3], "1 frame(s), at least 2 needed", None),
        "no_origin": ([good[0].replace("TNOSE", "XNOSE")] + good[1:],
                      "header lacks marker(s) TNOSE", 1),
        "header2": (
            good[:1] + [good[1].rsplit(" ", 1)[0]] + good[2:],
            "164 coordinate names, expected 165 for 55 markers",
            2,
        ),
    }
    out = {}
    for name, (lines, reason, line) in cases.items():
        path = d / f"{name}.txt"
        path.write_text("\n".join(lines) + "\n")
        out[name] = (path, reason, line)
    return out


def test_bad_mocap_strict_names_file_and_line(tmp_path) -> None:
    for path, reason, line in _bad_mocaps(tmp_path).values():
        with pytest.raises(CorpusError) as info:
            face.extract_face_lld(path, "u", 0.1)
        where = f"{path}:{line}" if line else str(path)
        assert str(info.value) == f"{where}: {reason}"


def test_session_face_lenient_excludes_and_stores_coverage(tmp_path, caplog) -> None:
    bad = _bad_mocaps(tmp_path)
    wav = str(write_wav(tmp_path / "a.wav", 0.1))
    good = str(write_mocap(tmp_path / "ok.txt", coords(12)))
    utts = pd.DataFrame(
        {
            "utt_id": ["ok", *bad, "badwav"],
            "wav": [wav] * (len(bad) + 1) + [str(tmp_path / "missing.wav")],
            "mocap": [good, *(str(p) for p, _, _ in bad.values()), good],
        }
    )
    out = tmp_path / "Ses01" / "face.parquet"
    with caplog.at_level("INFO", logger="affectflow"):
        excl = face.extract_session_face(utts, out, strict=False, max_gap_frames=12)
    lines = caplog.messages
    assert list(excl["utt_id"]) == [*bad, "badwav"]
    for (path, reason, line), row in zip(bad.values(), excl.iloc[:-1].itertuples(), strict=True):
        assert (row.file, row.reason) == (str(path), reason)
        assert (pd.isna(row.line) and line is None) or row.line == line
    assert "cannot read wav file" in excl["reason"].iloc[-1]
    table = pd.read_parquet(out)
    assert set(table["utt_id"]) == {"ok"} and len(table) == 3
    meta = read_parquet_metadata(out)
    assert meta["max_gap_frames"] == 12 and set(meta["coverage"]) == {"ok"}
    assert meta["coverage"]["ok"]["complete"] == 1.0
    assert lines[-1] == "face Ses01: 8/8 utterances"
    with pytest.raises(CorpusError, match="short_row.txt:6"):
        face.extract_session_face(utts, tmp_path / "s" / "face.parquet", True, 12)
    assert not (tmp_path / "s" / "face.parquet").exists()
