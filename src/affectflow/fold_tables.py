"""A fold's utterance-level tables as the CFS, the functional models and the final bundles read
them: the functionals (missing cells imputed with training means) joined to the labels.

Read once per job (:meth:`FoldTables.read`) and shared by all the tasks the job serves; the
test speaker's rows never enter the imputation means.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from affectflow import io
from affectflow.impute import MeanImputer

logger = logging.getLogger(__name__)


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
        cls, functionals_path: str | Path, labels_path: str | Path
    ) -> FoldTables:
        """Read both tables and impute the missing functionals (counts logged)."""
        return cls.impute(pd.read_parquet(functionals_path), pd.read_parquet(labels_path))

    @classmethod
    def impute(
        cls, functionals: pd.DataFrame, lab: pd.DataFrame
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
        if n_filled or imputer.no_training_value:
            per_role = (
                pd.Series(np.isnan(values).sum(axis=1), index=role.fillna("none").to_numpy())
                .groupby(level=0).sum().to_dict()
            )
            roles = ", ".join(f"{r} {int(per_role.get(r, 0))}" for r in ("train", "validation",
                                                                         "test"))
            missing = ", ".join(imputer.no_training_value)
            logger.info(f"imputed {n_filled} missing functional cells with the means of "
                        f"{imputer.n_train} training rows ({roles})"
                        + (f"; no training value (filled with 0): {missing}" if missing else ""))
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


def sequences_by_speaker_dialog(rows: pd.DataFrame) -> list[np.ndarray]:
    """Row positions of each (dialog, speaker) sequence of ``rows``, in turn order."""
    ordered = rows.reset_index(drop=True).sort_values(["dialog", "speaker", "turn"], kind="stable")
    return [g.index.to_numpy() for _, g in ordered.groupby(["dialog", "speaker"], sort=True)]


def modality_columns(names: Sequence[str], modality: str) -> list[int]:
    """Positions of the functional columns a modality uses: all (``vf``) or audio (``v``)."""
    from affectflow.features.groups import is_face_channel

    if modality == "vf":
        return list(range(len(names)))
    if modality == "v":
        return [i for i, name in enumerate(names) if not is_face_channel(name)]
    raise ValueError(f"modality must be 'vf' or 'v', got {modality!r}")
