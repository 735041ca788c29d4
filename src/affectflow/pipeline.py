"""Stage functions of the workflow: each reads its input files, calls the library, writes outputs.

Every Snakemake script is a thin adapter around one function here, so the whole DAG can be
driven (and tested) from Python without Snakemake. The prediction CLI reuses the same functions
for the same steps, so serving never diverges from cross-validation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectflow import fold_data, io, labels, registry
from affectflow.corpus.iemocap import select_utterances
from affectflow.folds import FoldSplit, make_split, split_from_json, split_to_json
from affectflow.impute import MeanImputer
from affectflow.logs import Log
from affectflow.models.scoring import class_scores, new_estimator
from affectflow.normalize import Normalizer, fit_normalizer
from affectflow.selection.pfa import PFAResult, fit_pfa

EXCLUDED_COLUMNS = ["utt_id", "file", "line", "reason"]


# ---------------------------------------------------------------------------------------------
# corpus and LLDs


def read_index(path: str | Path, utterances: str = "all") -> pd.DataFrame:
    """The corpus index, restricted to ``wearer_only`` or ``all`` utterances."""
    return select_utterances(pd.read_parquet(path), utterances)


def session_number(session: str) -> int:
    """``Ses03`` -> 3."""
    return int(session[-1])


def extract_lld(
    kind: str,
    *,
    index_path: str | Path,
    session: str,
    out_path: str | Path,
    excluded_path: str | Path,
    utterances: str,
    strict: bool,
    max_gap_frames: int,
    log: Log,
    pitch_ceiling: float | None = None,
) -> None:
    """One session's audio or face LLDs to Parquet, and the utterances left out to a TSV.

    ``pitch_ceiling`` (audio only): upper limit of the pitch analysis in Hz (None: the default
    of :mod:`affectflow.features.audio`, 600 Hz).
    """
    from affectflow.features.audio import PITCH_CEILING_HZ, extract_session_audio
    from affectflow.features.face import extract_session_face

    index = read_index(index_path, utterances)
    rows = index[index["session"] == session_number(session)]
    log(f"{kind} LLDs of {session}: {len(rows)} utterances ({utterances})")
    if kind == "audio":
        ceiling = PITCH_CEILING_HZ if pitch_ceiling is None else float(pitch_ceiling)
        excluded = extract_session_audio(
            rows, out_path, strict, log, label=session, pitch_ceiling=ceiling
        )
    else:
        excluded = extract_session_face(
            rows, out_path, strict, max_gap_frames, log, label=session
        )
    io.write_tsv(_excluded_frame(excluded), excluded_path)
    log(f"{kind} LLDs of {session}: done, {len(excluded)} excluded")


def _excluded_frame(excluded: pd.DataFrame | None) -> pd.DataFrame:
    if excluded is None or len(excluded) == 0:
        return pd.DataFrame(columns=EXCLUDED_COLUMNS)
    out = excluded.copy()
    for col in EXCLUDED_COLUMNS:
        if col not in out:
            out[col] = ""
    return out[EXCLUDED_COLUMNS]


def collect_exclusions(parts: Mapping[str, str | Path], out_path: str | Path, log: Log) -> None:
    """Merge the per-kind exclusion lists of a session into one, with the stage named."""
    frames = []
    for stage, path in parts.items():
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        frames.append(df.assign(stage=stage))
    merged = pd.concat(frames, ignore_index=True)
    io.write_tsv(merged[["stage", *EXCLUDED_COLUMNS]], out_path)
    log(f"{len(merged)} utterances left out at the LLD stage")


# ---------------------------------------------------------------------------------------------
# folds


def split_fold(
    index_path: str | Path, fold: str, utterances: str, out_path: str | Path, log: Log
) -> None:
    """Write the fold's speakers (test, validation, train) as JSON."""
    index = read_index(index_path, utterances)
    split = make_split(index, fold)
    io.write_json(split_to_json(split), out_path)
    log(f"fold {fold}: validation {split.validation}, {len(split.train)} training speakers")


def read_split(path: str | Path) -> FoldSplit:
    """A fold's speakers from ``split.json``."""
    return split_from_json(io.read_json(path))


def fit_fold_normalizer(
    split_path: str | Path,
    audio_paths: Sequence[str | Path],
    face_paths: Sequence[str | Path],
    out_path: str | Path,
    log: Log,
) -> None:
    """Audio z-statistics and face speaker means of the fold, from training speakers only."""
    split = read_split(split_path)
    audio, face = fold_data.load_lld(audio_paths, face_paths)
    log(f"normaliser from {len(audio)} audio / {len(face)} face frames")
    # Speakers parsed from the ids: the voice is the speaker's, the face the marker wearer's.
    normalizer = fit_normalizer(audio, face, None, split.train)
    normalizer.save(out_path)


def fit_fold_pfa(
    split_path: str | Path,
    normalizer_path: str | Path,
    face_paths: Sequence[str | Path],
    out_path: str | Path,
    settings: Mapping[str, Any],
    seed: int,
    log: Log,
) -> None:
    """PFA on the speaker-normalised face frames of the training speakers."""
    split = read_split(split_path)
    normalizer = Normalizer.load(normalizer_path)
    face = fold_data.load_face(face_paths)
    values, names = fold_data.training_face_frames(face, normalizer, split.train)
    log(f"PFA on {len(values)} training face frames x {len(names)} coordinates")
    result = fit_pfa(
        values,
        names,
        n_features=settings["n_features"],
        variance=settings["variance"],
        max_frames=settings["max_frames"],
        seed=seed,
    )
    io.write_json(result.to_json(), out_path)
    log(f"PFA kept {len(result.selected)} coordinates, {result.n_components} components")


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


def make_fold_labels(
    index_path: str | Path,
    split_path: str | Path,
    excluded_paths: Sequence[str | Path],
    utterances: str,
    labels_path: str | Path,
    clusters_path: str | Path,
    seed: int,
    log: Log,
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
    log(f"labels of {len(table)} utterances {counts}; clusters from the training speakers")
    if table.attrs.get("left_out"):
        log(f"left out {table.attrs['left_out']} turns of other speakers in dialogs where the "
            f"test speaker {split.test} wears the markers (their face frames show that speaker)")


def compute_fold_functionals(
    split_path: str | Path,
    normalizer_path: str | Path,
    pfa_path: str | Path,
    audio_paths: Sequence[str | Path],
    face_paths: Sequence[str | Path],
    out_path: str | Path,
    log: Log,
) -> None:
    """Functionals of every utterance of the fold over its normalised LLDs and deltas."""
    split = read_split(split_path)
    normalizer = Normalizer.load(normalizer_path)
    pfa = PFAResult.from_json(io.read_json(pfa_path))
    audio, face = fold_data.load_lld(audio_paths, face_paths)
    keep = fold_data.utterance_speakers(audio["utt_id"]).isin((split.test, *split.train))
    table = fold_data.fold_functionals(audio, face, normalizer, pfa, keep_utterances=keep)
    io.write_parquet(table, out_path)
    log(f"functionals: {len(table)} utterances x {table.shape[1] - 1} features")


def select_fold_features(
    functionals_path: str | Path,
    labels_path: str | Path,
    tasks: Sequence[str],
    out_paths: Sequence[str | Path],
    search_termination: int,
    log: Log,
) -> None:
    """CFS on the fold's training utterances, for each task (``out_paths`` parallel to
    ``tasks``); the functionals are read once for all of them."""
    tables = FoldTables.read(functionals_path, labels_path, log)
    for task, out_path in zip(tasks, out_paths, strict=True):
        X, y, names = training_matrix(tables, task)
        write_cfs_selection(X, y, names, task, out_path, search_termination, log)


def write_cfs_selection(
    X: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    task: str,
    out_path: str | Path,
    search_termination: int,
    log: Log,
) -> None:
    """CFS on a training matrix; ``{"task", "features", "merit"}`` to JSON."""
    from affectflow.selection.cfs import cfs_select_with_merit

    log(f"CFS for {task}: {X.shape[0]} training utterances x {X.shape[1]} features")
    selected, merit = cfs_select_with_merit(X, y, search_termination=search_termination)
    chosen = [names[i] for i in selected]
    io.write_json({"task": task, "features": chosen, "merit": merit}, out_path)
    log(f"CFS for {task}: {len(chosen)} features, merit {merit:.4f}")


@dataclass(frozen=True)
class FoldTables:
    """A fold's functionals (one row per utterance, missing values imputed) and labels (with
    each utterance's role), read once per job and shared by all the tasks the job serves.

    ``imputer``: the training means that filled the missing functionals (:mod:`affectflow.impute`;
    fit on the rows whose role is not ``test``)."""

    functionals: pd.DataFrame
    labels: pd.DataFrame
    imputer: MeanImputer

    @classmethod
    def read(
        cls, functionals_path: str | Path, labels_path: str | Path, log: Log | None = None
    ) -> FoldTables:
        """Read both tables and impute the missing functionals (counts to ``log``)."""
        return cls.impute(pd.read_parquet(functionals_path), pd.read_parquet(labels_path), log)

    @classmethod
    def impute(
        cls, functionals: pd.DataFrame, lab: pd.DataFrame, log: Log | None = None
    ) -> FoldTables:
        """Fill every missing functional with its mean over the fold's training rows."""
        names = [c for c in functionals.columns if c != "utt_id"]
        role = functionals["utt_id"].astype(str).map(
            dict(zip(lab["utt_id"].astype(str), lab["split"], strict=True))
        )
        values = functionals[names].to_numpy(np.float64)
        is_train = (role.notna() & (role != "test")).to_numpy()
        imputer = MeanImputer.fit(values[is_train], names)
        filled, n_filled = imputer.transform(values)
        if log is not None:
            per_role = (
                pd.Series(np.isnan(values).sum(axis=1), index=role.fillna("none").to_numpy())
                .groupby(level=0).sum().to_dict()
            )
            roles = ", ".join(f"{r} {int(per_role.get(r, 0))}" for r in ("train", "validation",
                                                                         "test"))
            log(f"imputed {n_filled} missing functional cells with the means of "
                f"{imputer.n_train} training rows ({roles})"
                + (f"; no training value (filled with 0): {', '.join(imputer.no_training_value)}"
                   if imputer.no_training_value else ""))
        table = pd.DataFrame(filled, columns=names, index=functionals.index)
        table.insert(0, "utt_id", functionals["utt_id"].to_numpy())
        return cls(table, lab, imputer)


def training_matrix(tables: FoldTables, task: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Functionals and labels of the fold's training utterances (validation speaker included)."""
    table, lab = tables.functionals, tables.labels
    train = lab[lab["split"] != "test"]
    merged = train[["utt_id", task]].merge(table, on="utt_id", how="inner", validate="1:1")
    names = [c for c in table.columns if c != "utt_id"]
    return merged[names].to_numpy(np.float64), merged[task].to_numpy(np.int64), names


def task_outputs(outputs: Mapping[str, Sequence[str]], i: int) -> dict[str, str]:
    """The ``i``-th task's paths from a job's named output lists (one entry per task)."""
    return {name: paths[i] for name, paths in outputs.items()}


# ---------------------------------------------------------------------------------------------
# models


def prediction_frame(
    rows: pd.DataFrame, task: str, proba: np.ndarray, y_pred: np.ndarray | None = None
) -> pd.DataFrame:
    """``predictions.parquet``: utt_id, dialog, turn, y_true, y_pred, p_0..p_{C-1}.

    ``y_pred`` defaults to the most probable class (sequence decoders pass their path)."""
    proba = np.asarray(proba, dtype=np.float64)
    if y_pred is None:
        y_pred = proba.argmax(axis=1)
    out = pd.DataFrame(
        {
            "utt_id": rows["utt_id"].astype(str).to_numpy(),
            "dialog": rows["dialog"].astype(str).to_numpy(),
            "turn": rows["turn"].to_numpy(np.int32),
            "y_true": rows[task].to_numpy(np.int64),
            "y_pred": np.asarray(y_pred, dtype=np.int64),
        }
    )
    for c in range(proba.shape[1]):
        out[f"p_{c}"] = proba[:, c]
    return out


def write_predictions(
    predictions: pd.DataFrame,
    path: str | Path,
    train_ids: Sequence[str],
    validation_ids: Sequence[str] = (),
    tuning_train_ids: Sequence[str] | None = None,
) -> None:
    """Write predictions with the ids used for training and validation in the file metadata
    (so a test can prove no test-speaker utterance was used). ``tuning_train_ids``: for a model
    with a hyperparameter tuned on the validation speaker, the ids the models of that tuning
    step were fitted on (never the validation speaker's)."""
    metadata = {"train_ids": sorted(map(str, train_ids)),
                "validation_ids": sorted(map(str, validation_ids))}
    if tuning_train_ids is not None:
        metadata["tuning_train_ids"] = sorted(map(str, tuning_train_ids))
    io.write_parquet(predictions, path, metadata=metadata)


def sequences_by_speaker_dialog(rows: pd.DataFrame) -> list[np.ndarray]:
    """Row positions of each (dialog, speaker) sequence of ``rows``, in turn order."""
    ordered = rows.reset_index(drop=True).sort_values(["dialog", "speaker", "turn"], kind="stable")
    return [g.index.to_numpy() for _, g in ordered.groupby(["dialog", "speaker"], sort=True)]


def functional_sets(
    tables: FoldTables, cfs_path: str | Path, task: str
) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray], list[str]]:
    """Label rows and CFS-selected functional matrices per role (train, validation, test)."""
    features = io.read_json(cfs_path)["features"]
    merged = tables.labels.merge(
        tables.functionals[["utt_id", *features]], on="utt_id", how="inner", validate="1:1"
    )
    merged = merged.sort_values(["dialog", "turn"], kind="stable").reset_index(drop=True)
    rows = {role: merged[merged["split"] == role].reset_index(drop=True)
            for role in ("train", "validation", "test")}
    X = {role: df[features].to_numpy(np.float64) for role, df in rows.items()}
    return rows, X, features


def full_columns(values: np.ndarray, classes: np.ndarray, n_classes: int, fill: float = 0.0):
    """Scores of the classes a model saw in training, spread onto all ``n_classes`` columns
    (a class absent from the training fold gets ``fill``)."""
    out = np.full((len(values), n_classes), fill, dtype=np.float64)
    out[:, np.asarray(classes, dtype=np.int64)] = values
    return out


def _functional_tasks(
    inputs: Mapping[str, Any],
    tasks: Sequence[str],
    outputs: Mapping[str, Sequence[str]],
    log: Log,
) -> Iterator[tuple[str, dict[str, str], dict[str, pd.DataFrame], dict[str, np.ndarray]]]:
    """Per task of a (classifier, fold) job: the task, its output paths, and its label rows and
    CFS-selected functionals per role; the fold's tables are read once for all tasks."""
    tables = FoldTables.read(inputs["functionals"], inputs["labels"], log)
    for i, task in enumerate(tasks):
        rows, X, _ = functional_sets(tables, inputs["cfs"][i], task)
        yield task, task_outputs(outputs, i), rows, X


def train_fold_models(
    inputs: Mapping[str, Any],
    tasks: Sequence[str],
    family: str,
    outputs: Mapping[str, Sequence[str]],
    settings: Mapping[str, Any],
    seed: int,
    log: Log,
) -> None:
    """One model of ``family`` (a functional-based family: SVM, (B)LSTM) per task on the
    fold's CFS-selected functionals (``inputs["cfs"]`` and the ``outputs`` lists parallel to
    ``tasks``); the validation speaker trains or stops training as the registry says, the
    test speaker is only scored."""
    name = registry.family(family).display
    for task, out, rows, X in _functional_tasks(inputs, tasks, outputs, log):
        fitted = fit_model(family, rows, X, task, settings, seed, log)
        fitted.model.save(out["model"])
        proba = class_scores(fitted.model, fitted.inputs["test"], labels.n_classes(task))
        write_predictions(
            prediction_frame(fitted.rows["test"], task, proba),
            out["predictions"],
            fitted.train_ids,
            fitted.validation_ids,
        )
        log(f"{name} {task}: {fitted.summary()}, {len(fitted.rows['test'])} test utterances")


def train_fold_svms(
    inputs: Mapping[str, Any],
    tasks: Sequence[str],
    outputs: Mapping[str, Sequence[str]],
    settings: Mapping[str, Any],
    seed: int,
    log: Log,
) -> None:
    """:func:`train_fold_models` of the SVM."""
    train_fold_models(inputs, tasks, "svm", outputs, settings, seed, log)


def train_fold_rnns(
    inputs: Mapping[str, Any],
    tasks: Sequence[str],
    bidirectional: bool,
    outputs: Mapping[str, Sequence[str]],
    settings: Mapping[str, Any],
    seed: int,
    log: Log,
) -> None:
    """:func:`train_fold_models` of the LSTM or BLSTM."""
    family = "blstm" if bidirectional else "lstm"
    train_fold_models(inputs, tasks, family, outputs, settings, seed, log)


def hmm_features(
    inputs: Mapping[str, Any], modality: str, utt_ids: Sequence[str]
) -> fold_data.FrameFeatures:
    """Frame features of ``utt_ids`` for the HMMs (NaN filled by the documented policy)."""
    normalizer = Normalizer.load(inputs["normalizer"])
    pfa = PFAResult.from_json(io.read_json(inputs["pfa"]))
    audio, face = fold_data.load_lld(
        inputs["audio"] if modality != "f" else None,
        inputs["face"] if modality != "v" else None,
        utt_ids,
    )
    return fold_data.frame_features(
        audio, face, normalizer, pfa, None, modality, nan_policy="fill"
    )


def train_fold_hmms(
    inputs: Mapping[str, Any],
    tasks: Sequence[str],
    modality: str,
    outputs: Mapping[str, Sequence[str]],
    settings: Mapping[str, Any],
    seed: int,
    log: Log,
    tuning_tasks: Sequence[str] = (),
) -> None:
    """Per task, one ergodic HMM per class on the training speakers' frames; log-likelihoods
    of every utterance of the fold (for HMM+LM) and predictions on the test speaker.

    ``tuning_tasks`` (the HMM+LM's tasks, v+f only): also fit the task's HMMs without the
    validation speaker and score that speaker with them (``tune_loglik_<c>`` columns of the
    scores), so that the HMM+LM tunes its scale out of sample (:func:`train_fold_hmm_lm`).

    The frame features do not depend on the task, so they are built once for all ``tasks``
    (the ``outputs`` lists are parallel to them)."""
    lab = pd.read_parquet(inputs["labels"]).sort_values(["dialog", "turn"], kind="stable")
    feats = hmm_features(inputs, modality, lab["utt_id"].tolist())
    seqs = [feats.values[a:b] for a, b in zip(feats.bounds[:-1], feats.bounds[1:], strict=True)]
    is_train = (lab["split"] != "test").to_numpy()
    n_frames = np.diff(feats.bounds)
    log(f"HMM {modality}: {int(is_train.sum())} training utterances, "
        f"{int(n_frames[is_train].sum())} frames x {feats.values.shape[1]} dims; "
        f"NaN values filled: {sum(feats.filled.values())}; tasks: {', '.join(tasks)}")
    unknown = sorted(set(tuning_tasks) - set(tasks))
    if unknown:
        raise ValueError(f"tuning tasks {unknown} are not among the job's tasks {list(tasks)}")
    for i, task in enumerate(tasks):
        _train_task_hmm(lab, seqs, n_frames, is_train, task, modality,
                        task_outputs(outputs, i), settings, seed, log,
                        tuning=task in tuning_tasks)


def _train_task_hmm(
    lab: pd.DataFrame,
    seqs: Sequence[np.ndarray],
    n_frames: np.ndarray,
    is_train: np.ndarray,
    task: str,
    modality: str,
    outputs: Mapping[str, str],
    settings: Mapping[str, Any],
    seed: int,
    log: Log,
    tuning: bool = False,
) -> None:
    """The HMMs of one task on frame sequences already built (see :func:`train_fold_hmms`)."""
    y = lab[task].to_numpy(np.int64)
    model = _fit_hmms(seqs, y, is_train, settings, seed)
    model.save(outputs["model"])
    n_classes = labels.n_classes(task)
    scores = lab[["utt_id", "dialog", "turn", "speaker", "split", task]].reset_index(drop=True)
    scores["n_frames"] = n_frames
    loglik = _class_logliks(model, seqs, n_classes)
    for c in range(n_classes):
        scores[f"loglik_{c}"] = loglik[:, c]
    metadata = None
    if tuning:
        role = lab["split"].to_numpy()
        fit_rows, scored = role == "train", role == "validation"
        if not scored.any() or not fit_rows.any():
            raise ValueError(f"HMM {modality} {task}: the HMM+LM needs training and validation "
                             "speakers to tune its scale")
        tuner = _fit_hmms(seqs, y, fit_rows, settings, seed)
        tune = np.full((len(seqs), n_classes), np.nan)
        tune[scored] = _class_logliks(tuner, [s for s, v in zip(seqs, scored, strict=True) if v],
                                      n_classes)
        for c in range(n_classes):
            scores[f"tune_loglik_{c}"] = tune[:, c]
        metadata = {"tuning_train_ids": sorted(lab["utt_id"].to_numpy()[fit_rows].tolist())}
        log(f"HMM {modality} {task}: tuning HMMs without the validation speaker "
            f"({int(fit_rows.sum())} utterances) scored its {int(scored.sum())} utterances")
    io.write_parquet(scores, outputs["scores"], metadata=metadata)
    test = scores[scores["split"] == "test"]
    proba = _softmax(loglik[~is_train] / test["n_frames"].to_numpy()[:, None])
    write_predictions(
        prediction_frame(test, task, proba), outputs["predictions"], lab["utt_id"][is_train]
    )
    log(f"HMM {modality} {task}: {len(test)} test utterances predicted")


def _fit_hmms(
    seqs: Sequence[np.ndarray],
    y: np.ndarray,
    rows: np.ndarray,
    settings: Mapping[str, Any],
    seed: int,
) -> Any:
    """One HMM per class on the sequences where ``rows`` is true."""
    from affectflow.models.hmm import HMMClassifier

    model = HMMClassifier(
        n_states=settings["n_states"],
        n_mix=settings["n_mix"],
        n_iter=settings["n_iter"],
        var_floor=settings["var_floor"],
        seed=seed,
    )
    return model.fit([s for s, r in zip(seqs, rows, strict=True) if r], y[rows])


def _class_logliks(model: Any, seqs: Sequence[np.ndarray], n_classes: int) -> np.ndarray:
    """Log-likelihood of every sequence under every class's HMM, ``(seqs, n_classes)``; a class
    absent from training gets a floor far below every other score, so it can never win."""
    loglik = model.loglik(seqs)
    floor = float(loglik.min()) - 1e6
    return full_columns(loglik, model.classes_, n_classes, fill=floor)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train_fold_hmm_lms(
    inputs: Mapping[str, Any],
    tasks: Sequence[str],
    outputs: Mapping[str, Sequence[str]],
    settings: Mapping[str, Any],
    log: Log,
) -> None:
    """HMM+LM per task (``inputs["scores"]`` and the ``outputs`` lists parallel to ``tasks``):
    see :func:`train_fold_hmm_lm`."""
    for i, task in enumerate(tasks):
        train_fold_hmm_lm(inputs["scores"][i], task, task_outputs(outputs, i), settings, log)


def train_fold_hmm_lm(
    scores_path: str | Path,
    task: str,
    outputs: Mapping[str, str],
    settings: Mapping[str, Any],
    log: Log,
) -> None:
    """Class bigram over consecutive utterances of each speaker's dialog sequence, counted on
    the training speakers; the softmax scale of the v+f HMM scores tuned on the validation
    speaker; then the paper's decoding of the test speaker's sequences.

    The tuning is out of sample: it decodes the validation speaker's ``tune_loglik_<c>`` scores,
    from HMMs fitted without that speaker (:func:`train_fold_hmms`), with a bigram counted
    without that speaker. Scored by models that had seen it, the validation speaker would look
    better matched than a new speaker and the tuned scale would over-trust the acoustic
    evidence. The decoder of the test speaker then uses the HMMs and the bigram of all training
    speakers, as the paper's. The ids behind the tuning models go to the predictions' metadata
    (``tuning_train_ids``)."""
    from affectflow.models.lm import (
        BigramLM,
        decode_greedy,
        decode_viterbi,
        loglik_to_logprob,
        tune_scale,
    )

    n_classes = labels.n_classes(task)
    scores = pd.read_parquet(scores_path)
    cols = [f"loglik_{c}" for c in range(n_classes)]

    def sequences(role_rows: pd.DataFrame) -> tuple[list[pd.DataFrame], list[np.ndarray]]:
        groups = sequences_by_speaker_dialog(role_rows)
        frames = [role_rows.reset_index(drop=True).iloc[g] for g in groups]
        return frames, [f[task].to_numpy(np.int64) for f in frames]

    tune_cols = [f"tune_loglik_{c}" for c in range(n_classes)]
    valid = scores[scores["split"] == "validation"]
    if not set(tune_cols) <= set(scores.columns) or valid[tune_cols].isna().any().any():
        raise ValueError(f"{scores_path}: no out-of-sample scores of the validation speaker "
                         f"(tune_loglik_*); rerun the v+f HMM job with {task} as a tuning task")
    tuning_hmm_ids = io.read_parquet_metadata(scores_path).get("tuning_train_ids", [])
    tune_rows = scores[scores["split"] == "train"]
    _, tune_labels = sequences(tune_rows)
    tune_lm = BigramLM(n_classes, smoothing=settings["smoothing"]).fit(tune_labels)
    valid_frames, valid_labels = sequences(valid)
    scale, _ = tune_scale(
        [f[tune_cols].to_numpy() for f in valid_frames],
        [f["n_frames"].to_numpy() for f in valid_frames],
        valid_labels,
        tune_lm,
        decoder=settings["decoding"],
    )
    train_frames, train_labels = sequences(scores[scores["split"] != "test"])
    lm = BigramLM(n_classes, smoothing=settings["smoothing"]).fit(train_labels)
    decode = decode_viterbi if settings["decoding"] == "viterbi" else decode_greedy
    log(f"HMM+LM {task}: scale {scale:g} tuned on the validation speaker with HMMs and a bigram "
        f"fitted without it ({len(tune_labels)} sequences); decoding with the bigram of all "
        f"{len(train_labels)} training sequences")
    test_frames, _ = sequences(scores[scores["split"] == "test"])
    rows, probas, paths = [], [], []
    for f in test_frames:
        logprob = loglik_to_logprob(f[cols].to_numpy(), f["n_frames"].to_numpy(), scale)
        path = decode(logprob, lm)
        # Posterior of each utterance given the recognised class before it (uniform first).
        prior = np.vstack([np.zeros(n_classes), lm.log_transmat_[path[:-1]]])
        rows.append(f)
        probas.append(_softmax(logprob + prior))
        paths.append(path)
    test = pd.concat(rows, ignore_index=True)
    proba, y_pred = np.vstack(probas), np.concatenate(paths)
    io.write_json({"lm": lm.to_dict(), "scale": scale, "decoding": settings["decoding"]},
                  outputs["model"])
    train_ids = scores.loc[scores["split"] != "test", "utt_id"]
    write_predictions(
        prediction_frame(test, task, proba, y_pred),
        outputs["predictions"],
        train_ids,
        tuning_train_ids=sorted(set(tuning_hmm_ids) | set(tune_rows["utt_id"].astype(str))),
    )
    log(f"HMM+LM {task}: {len(test)} test utterances decoded")


# ---------------------------------------------------------------------------------------------
# models: fitting and scoring shared by the fold jobs, the final models and prediction

#: Test speaker of the final models' pseudo-fold: none (every speaker trains).
NO_TEST_SPEAKER = ""


@dataclass
class FittedModel:
    """A model fitted on a fold's functionals, with what scoring and provenance need.

    ``inputs`` / ``rows``: per role (train, validation, test) the model's inputs (the family's
    form: a matrix or per-conversation sequences) and the label rows in the same order;
    ``train_ids`` / ``validation_ids``: the utterances it was fitted on and stopped on."""

    model: Any
    inputs: dict[str, Any]
    rows: dict[str, pd.DataFrame]
    train_ids: list[str]
    validation_ids: list[str]

    def summary(self) -> str:
        """For the log: the training size and, for an early-stopped model, its best epoch."""
        text = f"{len(self.train_ids)} training utterances"
        best = getattr(self.model, "best_epoch_", None)
        return text if best is None else f"{text}, best epoch {best}"


def model_inputs(
    reads: str, rows: Mapping[str, pd.DataFrame], X: Mapping[str, np.ndarray], task: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, pd.DataFrame]]:
    """Per role: a family's inputs, their labels and the label rows in input order.

    ``reads="rows"``: the functional matrix and label vector as they are; ``"sequences"``:
    one sequence per (dialog, speaker) in turn order (:func:`sequences_by_speaker_dialog`)."""
    if reads == "rows":
        ys = {role: rows[role][task].to_numpy(np.int64) for role in rows}
        return dict(X), ys, dict(rows)
    if reads != "sequences":
        raise ValueError(f"no functional inputs for a family that reads {reads!r}")
    seqs, ys, ordered = {}, {}, {}
    for role in ("train", "validation", "test"):
        groups = sequences_by_speaker_dialog(rows[role])
        seqs[role] = [X[role][g] for g in groups]
        ys[role] = [rows[role][task].to_numpy(np.int64)[g] for g in groups]
        ordered[role] = rows[role].iloc[np.concatenate(groups)] if groups else rows[role]
    return seqs, ys, ordered


def _joined(reads: str, a: Any, b: Any) -> Any:
    """Two roles' inputs (or labels) as one training set."""
    return np.concatenate([a, b]) if reads == "rows" else [*a, *b]


def fit_model(
    family: str,
    rows: Mapping[str, pd.DataFrame],
    X: Mapping[str, np.ndarray],
    task: str,
    settings: Mapping[str, Any],
    seed: int,
    log: Log,
) -> FittedModel:
    """A model of ``family`` on a fold's CFS-selected functionals (from
    :func:`functional_sets`). The registry says how the family reads them and what the
    validation speaker is for: one more training speaker (SVM), or early stopping ((B)LSTM,
    which then gets every class id so its outputs cover the task's classes)."""
    record = registry.family(family)
    inputs, ys, ordered = model_inputs(record.reads, rows, X, task)
    model = new_estimator(family, settings, seed)
    n_features = X["train"].shape[1]
    if record.validation == "training":
        x_fit = _joined(record.reads, inputs["train"], inputs["validation"])
        y_fit = _joined(record.reads, ys["train"], ys["validation"])
        train_ids = [*ordered["train"]["utt_id"], *ordered["validation"]["utt_id"]]
        validation_ids: list[str] = []
        log(f"{record.display} {task}: {len(train_ids)} training utterances x {n_features} "
            "features")
        model.fit(x_fit, y_fit)
    else:
        train_ids = list(ordered["train"]["utt_id"])
        validation_ids = list(ordered["validation"]["utt_id"])
        log(f"{record.display} {task}: {len(inputs['train'])} training / "
            f"{len(inputs['validation'])} validation inputs, {n_features} features")
        model.fit(inputs["train"], ys["train"], inputs["validation"], ys["validation"],
                  classes=range(labels.n_classes(task)))
    return FittedModel(model, inputs, ordered, train_ids, validation_ids)


def all_speakers_split(index: pd.DataFrame) -> FoldSplit:
    """Pseudo-fold of the final models: every speaker trains and none is tested; the last
    speaker in sorted order is the validation speaker ((B)LSTM early stopping only)."""
    from affectflow.folds import speakers

    names = speakers(index)
    if len(names) < 2:
        raise ValueError(f"final models need two speakers (one stops training), got {names}")
    return FoldSplit(test=NO_TEST_SPEAKER, validation=names[-1], train=tuple(names))


def split_final(index_path: str | Path, utterances: str, out_path: str | Path, log: Log) -> None:
    """``split.json`` of the final models' pseudo-fold (see :func:`all_speakers_split`)."""
    split = all_speakers_split(read_index(index_path, utterances))
    io.write_json(split_to_json(split), out_path)
    log(f"final models: {len(split.train)} training speakers, validation {split.validation}")


def modality_columns(names: Sequence[str], modality: str) -> list[int]:
    """Positions of the functional columns a modality uses: all (``vf``) or audio (``v``)."""
    from affectflow.features.groups import is_face_channel

    if modality == "vf":
        return list(range(len(names)))
    if modality == "v":
        return [i for i, name in enumerate(names) if not is_face_channel(name)]
    raise ValueError(f"modality must be 'vf' or 'v', got {modality!r}")


def select_final_features(
    functionals_path: str | Path,
    labels_path: str | Path,
    task: str,
    modality: str,
    out_path: str | Path,
    search_termination: int,
    log: Log,
) -> None:
    """CFS of the final models: all speakers; audio channels only for ``modality="v"``."""
    X, y, names = training_matrix(FoldTables.read(functionals_path, labels_path, log), task)
    keep = modality_columns(names, modality)
    log(f"final CFS for {task} ({modality}): {len(keep)} of {len(names)} functionals")
    write_cfs_selection(
        X[:, keep], y, [names[i] for i in keep], task, out_path, search_termination, log
    )


def train_final(
    inputs: Mapping[str, Any],
    task: str,
    classifier: str,
    out_dir: str | Path,
    settings: Mapping[str, Any],
    seed: int,
    context: Mapping[str, Any],
    log: Log,
) -> None:
    """Final model of (task, classifier) on every speaker, written as a bundle directory
    (:mod:`affectflow.bundle`); the fold recipe with no test speaker."""
    from affectflow import bundle

    family, _ = bundle.parse_classifier(classifier)
    tables = FoldTables.read(inputs["functionals"], inputs["labels"], log)
    rows, X, features = functional_sets(tables, inputs["cfs"], task)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    io.write_json(tables.imputer.subset(features).to_json(), out / bundle.IMPUTER_FILE)
    fitted = fit_model(family, rows, X, task, settings, seed, log)
    log(f"{classifier} {task}: {fitted.summary()}")
    fitted.model.save(out / registry.family(family).model_file)
    bundle.write_bundle(out, inputs, task, classifier, context)
    log(f"bundle {out}: {len(rows['train']) + len(rows['validation'])} training utterances")


# ---------------------------------------------------------------------------------------------
# results


def _model_path_parts(path: str | Path) -> tuple[str, str, str]:
    """``results/models/{task}/{classifier}/{fold}/predictions.parquet`` -> the three ids."""
    parts = Path(path).parts
    return parts[-4], parts[-3], parts[-2]


def aggregate_metrics(prediction_paths: Sequence[str | Path], out_path: str | Path, log: Log):
    """Accuracy, UAR, UAP, F1, weighted F1 and confusion of every (task, classifier, fold)."""
    from affectflow.evaluation.metrics import per_fold_table, prediction_metrics

    records = []
    for path in prediction_paths:
        task, classifier, fold = _model_path_parts(path)
        metrics = prediction_metrics(pd.read_parquet(path), labels.n_classes(task))
        records.append({"task": task, "classifier": classifier, "fold": fold, **metrics})
    table = per_fold_table(records)
    io.write_parquet(table, out_path)
    log(f"metrics of {len(table)} (task, classifier, fold) combinations")


def corpus_label(note: str) -> str:
    """The ``corpus`` column of result CSVs, derived from the run's corpus note."""
    from affectflow.evaluation.tables import SYNTHETIC_CORPUS

    return SYNTHETIC_CORPUS if note.lower().startswith("synthetic") else "IEMOCAP"


def make_table1(
    cfs_paths: Sequence[str | Path], csv_path: str | Path, md_path: str | Path, note: str,
    log: Log,
) -> None:
    """The paper's Table 1 for this run: share of CFS-selected features per group and task."""
    from affectflow.evaluation import tables

    selections = {}
    for path in cfs_paths:
        fold, task = Path(path).parts[-3], Path(path).stem
        selections[(fold, task)] = io.read_json(path)["features"]
    df = tables.table1(selections, paper=tables.load_paper_table1())
    tables.write_table(
        df, csv_path, md_path, "Table 1: CFS-selected features per group (%), mean over folds",
        note, corpus=corpus_label(note),
    )
    log(f"table 1 from {len(selections)} CFS selections")


def make_result_tables(
    per_fold_path: str | Path, outputs: Mapping[str, str], note: str, log: Log
) -> None:
    """Tables 2 and 3 (mean ± std over folds, the paper's values beside) and significance."""
    from affectflow.evaluation import tables
    from affectflow.evaluation.metrics import summary_table
    from affectflow.evaluation.significance import significance_table

    per_fold = pd.read_parquet(per_fold_path)
    summary = summary_table(per_fold)
    sig = significance_table(per_fold)
    paper = tables.load_paper_results()
    corpus = corpus_label(note)
    with io.atomic_path(outputs["significance"]) as tmp:
        sig.assign(corpus=corpus).to_csv(tmp, index=False)
    t2 = tables.table2(summary, sig, paper)
    t3 = tables.table3(summary, sig, paper)
    tables.write_table(
        t2, outputs["table2"], outputs["table2_md"],
        "Table 2: three levels of valence and activation (%), mean ± std over folds",
        note, corpus=corpus,
    )
    tables.write_table(
        t3, outputs["table3"], outputs["table3_md"],
        "Table 3: three, four and five clusters in emotional space (%), mean ± std over folds",
        note, corpus=corpus,
    )
    log(f"tables 2 and 3 from {len(per_fold)} fold results")


def make_figures(
    per_fold_path: str | Path,
    table1_path: str | Path,
    fold_labels_path: str | Path,
    clusters_path: str | Path,
    index_path: str | Path,
    outputs: Mapping[str, str],
    note: str,
    log: Log,
) -> None:
    """Result figures (PNG): the paper's Figure 2 for one fold (``outputs["annotations"]``),
    Table 1 as stacked bars (``"table1"``) and, per task, confusion matrices summed over folds
    (``"confusion_<task>"``) and F1 per fold (``"f1_<task>"``). ``note`` names the corpus."""
    from affectflow.evaluation import figures
    from affectflow.evaluation.metrics import summed_confusions
    from affectflow.evaluation.tables import TASK_LABELS

    fold = Path(fold_labels_path).parent.name
    rows = pd.read_parquet(fold_labels_path)
    index = pd.read_parquet(index_path, columns=["utt_id", "valence", "activation"])
    train = rows[rows["split"] != "test"].merge(index, on="utt_id", how="left", validate="1:1")
    clusters = io.read_json(clusters_path)["clusters3"]
    if len(train) != clusters["n_train"] or train[["valence", "activation"]].isna().any().any():
        raise ValueError(f"fold {fold}: training annotations do not match clusters.json")
    figures.plot_annotation_clusters(
        train[["valence", "activation"]].to_numpy(), np.asarray(clusters["centres"]),
        outputs["annotations"], note,
        title=f"Training annotations with cluster midpoints (fold {fold}, 3 clusters)",
    )
    figures.plot_table1(pd.read_csv(table1_path), outputs["table1"], note)
    per_fold = pd.read_parquet(per_fold_path)
    tasks = [key.removeprefix("confusion_") for key in outputs if key.startswith("confusion_")]
    for task in tasks:
        figures.plot_confusions(
            summed_confusions(per_fold, task), labels.class_names(task),
            outputs[f"confusion_{task}"], note,
            title=f"{TASK_LABELS.get(task, task)}: confusion matrices (summed over folds, "
            "row-normalised)",
        )
        figures.plot_per_fold_f1(per_fold, task, outputs[f"f1_{task}"], note)
    log(f"figures: Figure 2 of fold {fold} ({len(train)} annotations), Table 1, {len(tasks)} tasks")
