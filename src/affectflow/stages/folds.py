"""Stages of ``folds.smk``: a fold's speakers, normaliser, PFA, labels, functionals and CFS.

Every statistic comes from the fold's training speakers only (:mod:`affectflow.folds`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectflow import fold_data, io, labels
from affectflow.corpus.iemocap import read_index
from affectflow.fold_tables import FoldTables, training_matrix
from affectflow.folds import FoldSplit, fold_split, read_split, split_to_json
from affectflow.normalize import Normalizer
from affectflow.selection.pfa import PFAResult

logger = logging.getLogger(__name__)


def split_fold(
    index_path: str | Path, fold: str, utterances: str, out_path: str | Path
) -> None:
    """Write the fold's speakers (test, validation, train) as JSON; the final models'
    pseudo-fold (:data:`affectflow.targets.FINAL_FOLD`) has every speaker and no test speaker."""
    split = fold_split(read_index(index_path, utterances), fold)
    io.write_json(split_to_json(split), out_path)
    logger.info(f"fold {fold}: validation {split.validation}, {len(split.train)} training speakers")


def _split_and_frames(
    split_path: str | Path,
    audio_paths: Sequence[str | Path],
    face_paths: Sequence[str | Path],
) -> tuple[FoldSplit, pd.DataFrame, pd.DataFrame]:
    """The fold's speakers and the aligned audio and face frames of every session."""
    audio, face = fold_data.load_lld(audio_paths, face_paths)
    return read_split(split_path), audio, face


def fit_normalizer(
    split_path: str | Path,
    audio_paths: Sequence[str | Path],
    face_paths: Sequence[str | Path],
    out_path: str | Path,
) -> None:
    """Audio z-statistics and face speaker means of the fold, from training speakers only."""
    from affectflow.normalize import fit_normalizer as fit

    split, audio, face = _split_and_frames(split_path, audio_paths, face_paths)
    logger.info(f"normaliser from {len(audio)} audio / {len(face)} face frames")
    # Speakers parsed from the ids: the voice is the speaker's, the face the marker wearer's.
    fit(audio, face, None, split.train).save(out_path)


def fit_pfa(
    split_path: str | Path,
    normalizer_path: str | Path,
    face_paths: Sequence[str | Path],
    out_path: str | Path,
    settings: Mapping[str, Any],
    seed: int,
) -> None:
    """PFA on the speaker-normalised face frames of the training speakers."""
    from affectflow.selection.pfa import fit_pfa as fit

    split = read_split(split_path)
    normalizer = Normalizer.load(normalizer_path)
    face = fold_data.load_face(face_paths)
    values, names = fold_data.training_face_frames(face, normalizer, split.train)
    logger.info(f"PFA on {len(values)} training face frames x {len(names)} coordinates")
    result = fit(
        values,
        names,
        n_features=settings["n_features"],
        variance=settings["variance"],
        max_frames=settings["max_frames"],
        seed=seed,
    )
    io.write_json(result.to_json(), out_path)
    logger.info(f"PFA kept {len(result.selected)} coordinates, {result.n_components} components")


def fold_utterances(
    index_path: str | Path, utterances: str, excluded_paths: Sequence[str | Path]
) -> pd.DataFrame:
    """Index rows of the utterances a fold works on: the configured selection, less those the
    LLD stage left out (listed in its excluded.tsv files)."""
    index = read_index(index_path, utterances)
    dropped: set[str] = set()
    for path in excluded_paths:
        dropped |= set(pd.read_csv(path, sep="\t", dtype=str)["utt_id"].dropna())
    return index[~index["utt_id"].isin(dropped)]


def make_labels(
    index_path: str | Path,
    split_path: str | Path,
    excluded_paths: Sequence[str | Path],
    utterances: str,
    labels_path: str | Path,
    clusters_path: str | Path,
    seed: int,
) -> None:
    """Level and cluster labels of the fold's utterances; clusters fit on training speakers.

    ``labels.parquet`` is the fold's list of utterances: every later job of the fold reads it.
    """
    split = read_split(split_path)
    rows = fold_utterances(index_path, utterances, excluded_paths)
    rows = rows[rows["speaker"].isin((split.test, *split.train))]
    table, clusters = labels.build_labels(rows, split, seed)
    io.write_parquet(table, labels_path)
    io.write_json(clusters, clusters_path)
    counts = table["split"].value_counts().to_dict()
    logger.info(f"labels of {len(table)} utterances {counts}; clusters from the training speakers")
    if table.attrs.get("left_out"):
        logger.info(f"left out {table.attrs['left_out']} turns of other speakers in dialogs "
                    f"where the test speaker {split.test} wears the markers (their face frames "
                    "show that speaker)")


def compute_functionals(
    split_path: str | Path,
    normalizer_path: str | Path,
    pfa_path: str | Path,
    audio_paths: Sequence[str | Path],
    face_paths: Sequence[str | Path],
    out_path: str | Path,
) -> None:
    """Functionals of every utterance of the fold over its normalised LLDs and deltas."""
    split, audio, face = _split_and_frames(split_path, audio_paths, face_paths)
    normalizer = Normalizer.load(normalizer_path)
    pfa = PFAResult.from_json(io.read_json(pfa_path))
    keep = fold_data.utterance_speakers(audio["utt_id"]).isin((split.test, *split.train))
    table = fold_data.fold_functionals(audio, face, normalizer, pfa, keep_utterances=keep)
    io.write_parquet(table, out_path)
    logger.info(f"functionals: {len(table)} utterances x {table.shape[1] - 1} features")


def select_features(
    functionals_path: str | Path,
    labels_path: str | Path,
    tasks: Sequence[str],
    out_paths: Sequence[str | Path],
    search_termination: int,
) -> None:
    """CFS on the fold's training utterances, for each task (``out_paths`` parallel to
    ``tasks``); the functionals are read once for all of them."""
    tables = FoldTables.read(functionals_path, labels_path)
    for task, out_path in zip(tasks, out_paths, strict=True):
        X, y, names = training_matrix(tables, task)
        write_cfs_selection(X, y, names, task, out_path, search_termination)


def write_cfs_selection(
    X: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    task: str,
    out_path: str | Path,
    search_termination: int,
) -> None:
    """CFS on a training matrix; ``{"task", "features", "merit"}`` to JSON."""
    from affectflow.selection.cfs import cfs_select_with_merit

    logger.info(f"CFS for {task}: {X.shape[0]} training utterances x {X.shape[1]} features")
    selected, merit = cfs_select_with_merit(X, y, search_termination=search_termination)
    chosen = [names[i] for i in selected]
    io.write_json({"task": task, "features": chosen, "merit": merit}, out_path)
    logger.info(f"CFS for {task}: {len(chosen)} features, merit {merit:.4f}")
