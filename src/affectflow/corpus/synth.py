"""Synthetic corpus in IEMOCAP's exact on-disk layout (the real corpus is licensed).

``generate_corpus`` writes ``<out>/IEMOCAP_full_release/Session1..5`` (EmoEvaluation files,
transcriptions, sentence wavs and MOCAP_rotated files) plus ``<out>/ground_truth.parquet``,
which records per utterance what the files say (times and summary values exactly as written)
and the latent emotion behind them. The same loader reads it and the real corpus.

The generative model (see docs/synthetic-corpus.md) encodes the paper's assumptions, not its
results: emotion changes slowly within a conversation, the face carries valence more than the
voice, the voice carries activation, and speakers differ in face geometry and voice. Modules:
:mod:`.synth_emotion` (latent state, raters), :mod:`.synth_audio` (speech),
:mod:`.synth_face` (markers), :mod:`.synth_dialog` (one dialog's files).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from affectflow import __version__
from affectflow.corpus import layout
from affectflow.corpus.synth_dialog import DialogSpec, Style, generate_dialog, rng_for
from affectflow.io import write_parquet

logger = logging.getLogger(__name__)

GROUND_TRUTH = "ground_truth.parquet"
_MARKER = ".affectflow-synthetic"  # in out_dir: the folder holds a generated corpus
_STREAM_PLAN = 0

TRUTH_COLUMNS: tuple[str, ...] = (
    "utt_id", "session", "dialog", "speaker", "gender", "wearer", "start", "end",
    "valence", "activation", "dominance", "code", "latent_valence", "latent_activation",
    "n_raters",
)


@dataclass(frozen=True)
class Preset:
    """Size and shape of a synthetic corpus (always 5 sessions x 2 speakers)."""

    name: str
    dialogs: tuple[tuple[str, ...], ...]  # dialog names of Session1..5
    turns: tuple[int, int]  # turns per dialog: uniform range, or clip range if total is set
    total_utterances: int | None  # exact corpus size (turn counts scaled to it)
    style: Style

    @property
    def n_dialogs(self) -> int:
        """Dialogs over all sessions."""
        return sum(len(d) for d in self.dialogs)


def _names(session: int, parts: list[str]) -> tuple[str, ...]:
    """``F:impro03`` -> ``Ses01F_impro03`` (wearer letter, then the dialog's own name)."""
    return tuple(f"Ses0{session}{p[0]}_{p[2:]}" for p in parts)


def _tiny_dialogs(session: int) -> tuple[str, ...]:
    impro = ("impro03", "impro02", "impro07", "impro05", "impro06")[session - 1]
    script = ("script01_1", "script03_1", "script02_1", "script01_2", "script03_2")[session - 1]
    return _names(session, [f"F:{impro}", f"M:{script}"])


def _demo_dialogs(session: int) -> tuple[str, ...]:
    k = session - 1
    impro_f = ("impro03", "impro02", "impro05", "impro07", "impro08")[k]
    impro_m = ("impro06", "impro04", "impro01", "impro08", "impro03")[k]
    script_f = ("script01_1", "script02_1", "script03_1", "script01_2", "script02_2")[k]
    script_m = ("script03_2", "script01_3", "script02_2", "script03_1", "script01_1")[k]
    return _names(session, [f"F:{impro_f}", f"M:{impro_m}", f"F:{script_f}", f"M:{script_m}"])


def _iemocap_dialogs(session: int) -> tuple[str, ...]:
    """IEMOCAP's dialog inventory: 28/30/32/30/31 dialogs, 151 in all, a/b splits included."""
    plays = ["script01_1", "script01_2", "script01_3", "script02_1", "script02_2",
             "script03_1", "script03_2"]
    if session == 1:
        plays.remove("script01_3")
    parts = []
    for wearer in "FM":
        for i in range(1, 9):
            if session == 3 and wearer == "M" and i in (5, 8):
                parts += [f"M:impro0{i}a", f"M:impro0{i}b"]
            else:
                parts.append(f"{wearer}:impro0{i}")
        parts += [f"{wearer}:{p}" for p in plays]
        if session == 5 and wearer == "M":
            parts.append("M:script01_1b")
    return _names(session, parts)


def _dialog_table(make: Callable[[int], tuple[str, ...]]) -> tuple[tuple[str, ...], ...]:
    return tuple(make(s) for s in layout.SESSIONS)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny",
        dialogs=_dialog_table(_tiny_dialogs),
        turns=(12, 14),
        total_utterances=None,
        style=Style(
            duration_median=1.6, duration_sigma=0.25, duration_range=(1.0, 2.5),
            edge_silence=(0.03, 0.08), p_same_speaker=0.08, min_turns_per_speaker=6,
        ),
    ),
    "demo": Preset(
        name="demo",
        dialogs=_dialog_table(_demo_dialogs),
        turns=(22, 26),
        total_utterances=None,
        style=Style(
            duration_median=2.2, duration_sigma=0.35, duration_range=(0.8, 4.0),
            edge_silence=(0.05, 0.12), p_same_speaker=0.08, min_turns_per_speaker=8,
        ),
    ),
    "iemocap": Preset(
        name="iemocap",
        dialogs=_dialog_table(_iemocap_dialogs),
        turns=(24, 120),
        total_utterances=10_039,
        style=Style(
            duration_median=3.65, duration_sigma=0.65, duration_range=(0.6, 30.0),
            edge_silence=(0.06, 0.2), p_same_speaker=0.08, min_turns_per_speaker=8,
        ),
    ),
}


def plan_corpus(preset: Preset, seed: int) -> list[DialogSpec]:
    """Every dialog to generate with its turn count (depends on preset and seed only)."""
    rng = rng_for(seed, _STREAM_PLAN)
    lo, hi = preset.turns
    if preset.total_utterances is None:
        counts = rng.integers(lo, hi + 1, preset.n_dialogs)
    else:
        raw = np.clip(rng.normal(preset.total_utterances / preset.n_dialogs, 18.0,
                                 preset.n_dialogs), lo, hi)
        counts = _scale_to_total(raw, preset.total_utterances)
    specs = []
    names = [(s, i, name) for s, dlgs in zip(layout.SESSIONS, preset.dialogs, strict=True)
             for i, name in enumerate(dlgs)]
    for (session, index, name), n in zip(names, counts, strict=True):
        specs.append(DialogSpec(session=session, index=index, name=name, n_turns=int(n)))
    return specs


def _scale_to_total(raw: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``raw`` summing exactly to ``total`` (largest remainders)."""
    exact = raw * total / raw.sum()
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def generate_corpus(
    out_dir: str | Path,
    preset: str = "demo",
    seed: int = 0,
    jobs: int = 1,
) -> Path:
    """Write a synthetic IEMOCAP_full_release and ground_truth.parquet into ``out_dir``.

    Dialogs are generated in ``jobs`` processes; each has its own seed derived from
    (seed, session, dialog), so the files do not depend on ``jobs``. One INFO line per
    finished dialog (:mod:`affectflow.logs`). Returns the IEMOCAP_full_release path.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    cfg = PRESETS[preset]
    out = Path(out_dir)
    root = _prepare(out, cfg, seed)
    specs = plan_corpus(cfg, seed)
    rows = _run(root, seed, cfg.style, specs, max(1, int(jobs)))
    truth = pd.DataFrame(rows, columns=list(TRUTH_COLUMNS))
    truth = truth.sort_values(["dialog", "start", "utt_id"], ignore_index=True)
    truth = truth.astype({"session": "int8", "n_raters": "int8", "wearer": bool})
    write_parquet(truth, out / GROUND_TRUTH, metadata=_metadata(cfg, seed))
    return root


def _prepare(out: Path, cfg: Preset, seed: int) -> Path:
    """Create ``out``; replace an earlier generated corpus, never anything else."""
    root = out / layout.ROOT_NAME
    marker = out / _MARKER
    if root.exists():
        if not marker.exists():
            raise FileExistsError(
                f"{root} exists and was not written by the synthetic generator; "
                "choose another output folder"
            )
        shutil.rmtree(root)
    (out / GROUND_TRUTH).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(_metadata(cfg, seed), sort_keys=True) + "\n")
    root.mkdir()
    return root


def _metadata(cfg: Preset, seed: int) -> dict:
    return {"preset": cfg.name, "seed": seed, "generator": f"affectflow {__version__}"}


def _run(
    root: Path,
    seed: int,
    style: Style,
    specs: list[DialogSpec],
    jobs: int,
) -> list[dict]:
    """Generate all dialogs (largest first when parallel) and collect their rows."""
    rows: list[dict] = []
    total = len(specs)

    def report(done: int, spec: DialogSpec, dialog_rows: list[dict]) -> None:
        seconds = sum(r["end"] - r["start"] for r in dialog_rows)
        logger.info(f"[{done}/{total}] Session{spec.session} {spec.name}: "
                 f"{len(dialog_rows)} utterances, {seconds:.0f} s of audio")

    if jobs == 1:
        for done, spec in enumerate(specs, start=1):
            dialog_rows = generate_dialog(root, seed, spec, style)
            rows += dialog_rows
            report(done, spec, dialog_rows)
        return rows
    ordered = sorted(specs, key=lambda s: -s.n_turns)
    with ProcessPoolExecutor(max_workers=min(jobs, total), mp_context=_mp_context()) as pool:
        futures = {pool.submit(generate_dialog, root, seed, s, style): s for s in ordered}
        for done, future in enumerate(as_completed(futures), start=1):
            dialog_rows = future.result()
            rows += dialog_rows
            report(done, futures[future], dialog_rows)
    return rows


def _mp_context() -> multiprocessing.context.BaseContext:
    """``fork`` where available: workers need not re-import the caller's ``__main__`` (a
    Snakemake script has no main guard); ``spawn`` elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")
