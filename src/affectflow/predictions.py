"""``predictions.parquet``: one row per scored utterance, with the ids a model was fitted and
stopped on in the file's metadata, so that tests can prove the test speaker never trained it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from affectflow import io


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
    training: Mapping[str, object] | None = None,
) -> None:
    """Write predictions with the ids used for training and validation in the file metadata
    (so a test can prove no test-speaker utterance was used). ``tuning_train_ids``: for a model
    with a hyperparameter tuned on the validation speaker, the ids the models of that tuning
    step were fitted on (never the validation speaker's). ``training``: more metadata of the
    fit (an epoch-trained model's best epoch and whether it reached ``max_epochs``; see
    :meth:`affectflow.models.fitting.FittedModel.training_metadata`)."""
    metadata = {"train_ids": sorted(map(str, train_ids)),
                "validation_ids": sorted(map(str, validation_ids))}
    if tuning_train_ids is not None:
        metadata["tuning_train_ids"] = sorted(map(str, tuning_train_ids))
    metadata.update(training or {})
    io.write_parquet(predictions, path, metadata=metadata)
