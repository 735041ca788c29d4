"""Stages of ``models.smk``: one job per (classifier, fold) trains the classifier for every
task configured with it and writes one model and one predictions file per task.

The ``outputs`` mappings hold one list per output name, parallel to ``tasks``; the test
speaker is only ever scored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectflow import fold_data, io, labels, registry
from affectflow.fold_tables import FoldTables, functional_sets
from affectflow.models.fitting import fit_model
from affectflow.models.scoring import class_scores, full_columns, softmax
from affectflow.normalize import Normalizer
from affectflow.predictions import prediction_frame, write_predictions
from affectflow.selection.pfa import PFAResult

logger = logging.getLogger(__name__)


def task_outputs(outputs: Mapping[str, Sequence[str]], i: int) -> dict[str, str]:
    """The ``i``-th task's paths from a job's named output lists (one entry per task)."""
    return {name: paths[i] for name, paths in outputs.items()}


def _functional_tasks(
    inputs: Mapping[str, Any],
    tasks: Sequence[str],
    outputs: Mapping[str, Sequence[str]],
) -> Iterator[tuple[str, dict[str, str], dict[str, pd.DataFrame], dict[str, np.ndarray]]]:
    """Per task of a (classifier, fold) job: the task, its output paths, and its label rows and
    CFS-selected functionals per role; the fold's tables are read once for all tasks."""
    tables = FoldTables.read(inputs["functionals"], inputs["labels"])
    for i, task in enumerate(tasks):
        rows, X, _ = functional_sets(tables, inputs["cfs"][i], task)
        yield task, task_outputs(outputs, i), rows, X


def train_models(
    inputs: Mapping[str, Any],
    tasks: Sequence[str],
    classifier: str,
    outputs: Mapping[str, Sequence[str]],
    settings: Mapping[str, Any],
    seed: int,
) -> None:
    """One model of ``classifier`` (of a family that reads functional ``rows`` or
    ``sequences``: SVM, (B)LSTM) per task on the fold's CFS-selected functionals
    (``inputs["cfs"]`` parallel to ``tasks``); the validation speaker trains or stops training
    as the registry says. ``settings``: the family's config block."""
    name = registry.classifier(classifier).display
    for task, out, rows, X in _functional_tasks(inputs, tasks, outputs):
        fitted = fit_model(classifier, rows, X, task, settings, seed)
        fitted.model.save(out["model"])
        proba = class_scores(fitted.model, fitted.inputs["test"], labels.n_classes(task))
        write_predictions(
            prediction_frame(fitted.rows["test"], task, proba),
            out["predictions"],
            fitted.train_ids,
            fitted.validation_ids,
            training=fitted.training_metadata(),
        )
        logger.info(f"{name} {task}: {fitted.summary()}, "
                    f"{len(fitted.rows['test'])} test utterances")
        fitted.warn_if_capped(f"{name} {task}")


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


def train_hmm(
    inputs: Mapping[str, Any],
    tasks: Sequence[str],
    modality: str,
    outputs: Mapping[str, Sequence[str]],
    settings: Mapping[str, Any],
    seed: int,
    tuning_tasks: Sequence[str] = (),
) -> None:
    """Per task, one ergodic HMM per class on the training speakers' frames; log-likelihoods
    of every utterance of the fold (for HMM+LM) and predictions on the test speaker.

    ``tuning_tasks`` (the HMM+LM's tasks, v+f only): also fit the task's HMMs without the
    validation speaker and score that speaker with them (``tune_loglik_<c>`` columns of the
    scores), so that the HMM+LM tunes its scale out of sample (:func:`train_hmm_lm`).

    The frame features do not depend on the task, so they are built once for all ``tasks``."""
    lab = pd.read_parquet(inputs["labels"]).sort_values(["dialog", "turn"], kind="stable")
    feats = hmm_features(inputs, modality, lab["utt_id"].tolist())
    seqs = [feats.values[a:b] for a, b in zip(feats.bounds[:-1], feats.bounds[1:], strict=True)]
    is_train = (lab["split"] != "test").to_numpy()
    n_frames = np.diff(feats.bounds)
    logger.info(f"HMM {modality}: {int(is_train.sum())} training utterances, "
                f"{int(n_frames[is_train].sum())} frames x {feats.values.shape[1]} dims; "
                f"NaN values filled: {sum(feats.filled.values())}; tasks: {', '.join(tasks)}")
    unknown = sorted(set(tuning_tasks) - set(tasks))
    if unknown:
        raise ValueError(f"tuning tasks {unknown} are not among the job's tasks {list(tasks)}")
    for i, task in enumerate(tasks):
        _train_task_hmm(lab, seqs, n_frames, is_train, task, modality,
                        task_outputs(outputs, i), settings, seed,
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
    tuning: bool = False,
) -> None:
    """The HMMs of one task on frame sequences already built (see :func:`train_hmm`)."""
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
        logger.info(f"HMM {modality} {task}: tuning HMMs without the validation speaker "
                    f"({int(fit_rows.sum())} utterances) scored its {int(scored.sum())} utterances")
    io.write_parquet(scores, outputs["scores"], metadata=metadata)
    test = scores[scores["split"] == "test"]
    proba = softmax(loglik[~is_train] / test["n_frames"].to_numpy()[:, None])
    write_predictions(
        prediction_frame(test, task, proba), outputs["predictions"], lab["utt_id"][is_train]
    )
    logger.info(f"HMM {modality} {task}: {len(test)} test utterances predicted")


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


def train_hmm_lm(
    inputs: Mapping[str, Any],
    tasks: Sequence[str],
    outputs: Mapping[str, Sequence[str]],
    settings: Mapping[str, Any],
) -> None:
    """HMM+LM per task (``inputs["scores"]`` parallel to ``tasks``): the class bigram decoding
    of the v+f HMM scores (:func:`affectflow.models.lm.decode_fold_scores`)."""
    for i, task in enumerate(tasks):
        decode_task_scores(inputs["scores"][i], task, task_outputs(outputs, i), settings)


def decode_task_scores(
    scores_path: str | Path,
    task: str,
    outputs: Mapping[str, str],
    settings: Mapping[str, Any],
) -> None:
    """One task's HMM+LM: model (bigram, scale, decoder) and test predictions, with the ids
    behind the tuning models in the predictions' metadata (``tuning_train_ids``)."""
    from affectflow.models.lm import decode_fold_scores

    result = decode_fold_scores(
        pd.read_parquet(scores_path),
        task,
        labels.n_classes(task),
        settings,
        tuning_hmm_ids=io.read_parquet_metadata(scores_path).get("tuning_train_ids", []),
        source=str(scores_path),
    )
    logger.info(f"HMM+LM {task}: scale {result.scale:g} tuned on the validation speaker with "
                f"HMMs and a bigram fitted without it ({result.n_tuning_sequences} sequences); "
                f"decoding with the bigram of all {result.n_training_sequences} training sequences")
    io.write_json({"lm": result.lm.to_dict(), "scale": result.scale,
                   "decoding": settings["decoding"]}, outputs["model"])
    write_predictions(
        prediction_frame(result.test, task, result.proba, result.y_pred),
        outputs["predictions"],
        result.train_ids,
        tuning_train_ids=result.tuning_train_ids,
    )
    logger.info(f"HMM+LM {task}: {len(result.test)} test utterances decoded")
