"""Time the low-level descriptor stage: audio LLDs (ours vs openSMILE) and face LLDs.

Generates speech-like wavs (voiced stretches with a moving F0 and harmonics, noise bursts,
pauses over a faint noise floor) and matching MOCAP_rotated files (120 fps, some marker gaps),
then measures on one process:

- ours: :func:`affectflow.features.audio.extract_session_audio` (read, validate, Praat
  analyses, zstd Parquet writing included);
- openSMILE ComParE_2016 low-level descriptors (``Smile.process_file``) on the same files;
- face: :func:`affectflow.features.face.extract_session_face` (parse, gaps, origin, window
  means, Parquet).

Speed is CPU time (``time.process_time``, all threads of the process): audio as seconds of
audio per CPU second ("x real time per core"), face as 120 fps mocap frames per CPU second.
Each is run once after a short warm-up. Goal: audio >= 400x real time per core.

Run: ``.venv/bin/python benchmarks/bench_lld.py [--out benchmarks/lld.md]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import parselmouth
from bench_lld_stage import BLOCK as STAGE_BLOCK
from reporting import block, cpu_model, replace_block

from affectflow.corpus import layout
from affectflow.features.audio import extract_session_audio
from affectflow.features.face import DEFAULT_MAX_GAP_FRAMES, extract_session_face

SR = layout.SAMPLE_RATE
FPS = layout.MOCAP_FPS


def speech_like(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Alternating voiced / fricative / pause segments, 16 kHz float in [-1, 1]."""
    n = round(seconds * SR)
    out = rng.normal(0.0, 0.002, n)  # noise floor: no digital silence
    pos = 0
    while pos < n:
        length = min(int(rng.uniform(0.1, 0.8) * SR), n - pos)
        kind = rng.choice(["voiced", "voiced", "fricative", "pause"])
        t = np.arange(length) / SR
        if kind == "voiced":
            f0 = rng.uniform(90, 260) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 4) * t))
            phase = 2 * np.pi * np.cumsum(f0) / SR
            seg = sum(np.sin(k * phase) / k for k in range(1, 16))
            seg *= np.hanning(length) * rng.uniform(0.1, 0.4)
        elif kind == "fricative":
            seg = np.diff(rng.normal(0.0, 0.05, length + 1)) * np.hanning(length)
        else:
            seg = np.zeros(length)
        out[pos : pos + length] += seg
        pos += length
    return np.clip(out, -1.0, 1.0)


def write_wav(path: Path, x: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(np.round(x * 32767).astype("<i2").tobytes())


def write_mocap(path: Path, seconds: float, rng: np.random.Generator) -> int:
    """A MOCAP_rotated file covering ``seconds``, with a few short and long marker gaps."""
    rows = round(seconds * FPS)
    base = rng.normal(0.0, 60.0, 165)
    data = base + np.cumsum(rng.normal(0.0, 0.05, (rows, 165)), axis=0)
    for _ in range(max(1, rows // 600)):
        marker = rng.integers(55)
        start, length = rng.integers(rows), rng.choice([5, 10, 40])
        data[start : start + length, 3 * marker : 3 * marker + 3] = np.nan
    frame = pd.DataFrame(data)
    frame.insert(0, "time", np.arange(rows) / FPS)
    frame.insert(0, "frame", np.arange(1, rows + 1))
    body = frame.to_csv(sep=" ", header=False, index=False, na_rep="NaN", float_format="%.3f")
    path.write_text(f"{layout.MOCAP_HEADER_LINE1}\n{layout.MOCAP_HEADER_LINE2}\n{body}")
    return rows


def make_corpus(root: Path, n: int, seconds: float, seed: int) -> tuple[pd.DataFrame, int]:
    """``n`` utterances of ``seconds`` each; the index table and the total mocap frames."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows, mocap_frames = [], 0
    for i in range(n):
        utt = f"Ses01F_impro01_F{i:03d}"
        wav, mocap = root / f"{utt}.wav", root / f"{utt}.txt"
        write_wav(wav, speech_like(seconds, rng))
        mocap_frames += write_mocap(mocap, seconds, rng)
        rows.append({"utt_id": utt, "wav": str(wav), "mocap": str(mocap)})
    return pd.DataFrame(rows), mocap_frames


def cpu_seconds(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def opensmile_extractor() -> tuple[Callable[[str], object] | None, str]:
    try:
        import opensmile
    except ImportError:
        return None, "not installed"
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.ComParE_2016,
        feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
    )
    return smile.process_file, opensmile.__version__


def run_case(root: Path, n: int, seconds: float, smile: Callable | None) -> dict[str, float]:
    utts, mocap_frames = make_corpus(root / f"{n}x{seconds:g}", n, seconds, seed=n)
    audio_s = n * seconds
    quiet = lambda _msg: None  # noqa: E731
    ours = cpu_seconds(lambda: extract_session_audio(utts, root / "audio.parquet", True, quiet))
    theirs = (
        cpu_seconds(lambda: [smile(w) for w in utts["wav"]]) if smile else float("nan")
    )
    face = cpu_seconds(lambda: extract_session_face(
        utts, root / "face.parquet", True, DEFAULT_MAX_GAP_FRAMES, quiet
    ))
    grid_frames = len(pd.read_parquet(root / "face.parquet", columns=["frame"]))
    return {
        "n": n, "seconds": seconds, "audio_s": audio_s, "ours_cpu": ours, "smile_cpu": theirs,
        "face_cpu": face, "mocap_frames": mocap_frames, "grid_frames": grid_frames,
    }


def report(cases: list[dict[str, float]], smile_version: str) -> str:
    lines = [
        "# Low-level descriptor benchmark",
        "",
        f"Generated by `benchmarks/bench_lld.py` on {dt.date.today().isoformat()}: "
        f"{cpu_model()}, {os.cpu_count()} logical cores (shared), {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, praat-parselmouth "
        f"{parselmouth.VERSION} (Praat {parselmouth.PRAAT_VERSION}), opensmile {smile_version}.",
        "",
        "Synthetic speech-like 16 kHz wavs and 120 fps MOCAP_rotated files; CPU time of this "
        "process (`time.process_time`), one run after a warm-up.",
        "",
        "## Audio: x real time per core (seconds of audio per CPU second)",
        "",
        "| files | audio | ours: 41 LLDs + Parquet | CPU s | openSMILE ComParE_2016 LLDs | CPU s "
        "| ours / openSMILE |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        ours, smile = c["audio_s"] / c["ours_cpu"], c["audio_s"] / c["smile_cpu"]
        lines.append(
            f"| {c['n']} x {c['seconds']:g} s | {c['audio_s']:g} s | **{ours:.0f}x** "
            f"| {c['ours_cpu']:.2f} | {smile:.0f}x | {c['smile_cpu']:.2f} | {ours / smile:.1f} |"
        )
    lines += [
        "",
        "Goal: >= 400x real time per core, Parquet writing included. openSMILE computes a "
        "larger set (ComParE_2016: 65 LLDs incl. spectral, voice-quality and RASTA features) "
        "and writes nothing; it is the speed peer, not a like-for-like feature set.",
        "",
        "## Face: MOCAP_rotated to the 25 ms grid",
        "",
        "| files | mocap frames (120 fps) | grid frames | CPU s | mocap frames/s | grid frames/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        lines.append(
            f"| {c['n']} x {c['seconds']:g} s | {c['mocap_frames']:,} | {c['grid_frames']:,} "
            f"| {c['face_cpu']:.2f} | {c['mocap_frames'] / c['face_cpu']:,.0f} "
            f"| {c['grid_frames'] / c['face_cpu']:,.0f} |"
        )
    lines += [
        "",
        "Includes parsing (pandas C parser), validation, gap interpolation, TNOSE origin, "
        "window means and zstd Parquet writing.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("lld.md"))
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--short-files", type=int, default=120, help="0 to skip")
    parser.add_argument("--short-seconds", type=float, default=5.0)
    args = parser.parse_args()

    smile, smile_version = opensmile_extractor()
    with tempfile.TemporaryDirectory(prefix="bench_lld_") as tmp:
        root = Path(tmp)
        run_case(root / "warmup", 2, 1.0, smile)
        cases = [run_case(root, args.files, args.seconds, smile)]
        if args.short_files:
            cases.append(run_case(root, args.short_files, args.short_seconds, smile))
    text = report(cases, smile_version)
    print(text)
    # keep the whole-stage block that bench_lld_stage.py maintains in the same file
    previous = args.out.read_text() if args.out.exists() else ""
    stage = block(previous, STAGE_BLOCK)
    if stage is not None:
        text = replace_block(text, stage, STAGE_BLOCK)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
