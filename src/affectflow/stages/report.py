"""Stages of ``report.smk``: per-fold metrics, the paper's tables for this run, significance
and figures. What each input is (task, classifier, fold) and whether the corpus is synthetic
come as params from ``common.smk``, never from the input paths or the note's wording."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from affectflow import io, labels

logger = logging.getLogger(__name__)


def aggregate_metrics(
    prediction_paths: Sequence[str | Path],
    keys: Sequence[Sequence[str]],
    out_path: str | Path,
) -> None:
    """Accuracy, UAR, UAP, F1, weighted F1 and confusion of every (task, classifier, fold),
    and whether its training reached ``max_epochs`` without early stopping (``capped``, from the
    predictions' metadata); ``keys``: the (task, classifier, fold) of each predictions file,
    parallel to the paths."""
    from affectflow.evaluation.metrics import per_fold_table, prediction_metrics

    records = []
    for path, (task, classifier, fold) in zip(prediction_paths, keys, strict=True):
        metrics = prediction_metrics(pd.read_parquet(path), labels.n_classes(task))
        capped = bool(io.read_parquet_metadata(path).get("reached_max_epochs", False))
        records.append({"task": task, "classifier": classifier, "fold": fold, **metrics,
                        "capped": capped})
    table = per_fold_table(records)
    io.write_parquet(table, out_path)
    logger.info(f"metrics of {len(table)} (task, classifier, fold) combinations")


def corpus_label(synthetic: bool) -> str:
    """The ``corpus`` column of result CSVs."""
    from affectflow.evaluation.tables import SYNTHETIC_CORPUS

    return SYNTHETIC_CORPUS if synthetic else "IEMOCAP"


def make_table1(
    cfs_paths: Sequence[str | Path],
    keys: Sequence[Sequence[str]],
    csv_path: str | Path,
    md_path: str | Path,
    note: str,
    synthetic: bool,
) -> None:
    """The paper's Table 1 for this run: share of CFS-selected features per group and task;
    ``keys``: the (fold, task) of each CFS selection, parallel to the paths."""
    from affectflow.evaluation import tables

    selections = {
        (fold, task): io.read_json(path)["features"]
        for path, (fold, task) in zip(cfs_paths, keys, strict=True)
    }
    df = tables.table1(selections, paper=tables.load_paper_table1())
    tables.write_table(
        df, csv_path, md_path, "Table 1: CFS-selected features per group (%), mean over folds",
        note, corpus=corpus_label(synthetic),
    )
    logger.info(f"table 1 from {len(selections)} CFS selections")


def make_tables(
    per_fold_path: str | Path, outputs: Mapping[str, str], note: str, synthetic: bool
) -> None:
    """Tables 2 and 3 (mean ± std over folds, the paper's values beside), significance, and
    Table 4 (the context gain: :mod:`affectflow.evaluation.context`)."""
    from affectflow.evaluation import tables
    from affectflow.evaluation.context import table4
    from affectflow.evaluation.metrics import summary_table
    from affectflow.evaluation.significance import significance_table

    per_fold = pd.read_parquet(per_fold_path)
    summary = summary_table(per_fold)
    sig = significance_table(per_fold)
    paper = tables.load_paper_results()
    corpus = corpus_label(synthetic)
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
    t4 = table4(per_fold)
    if t4.empty:
        t4.attrs["legend"] = ("No context ablation in this run: configure blstm_vf_noctx (and "
                              "blstm_vf or lstm_vf) for a task under config `tasks`.")
    tables.write_table(
        t4, outputs["table4"], outputs["table4_md"],
        "Table 4: what conversational context adds (%), mean ± std over folds",
        note, corpus=corpus,
    )
    logger.info(f"tables 2, 3 and 4 from {len(per_fold)} fold results")


def make_figures(
    per_fold_path: str | Path,
    table1_path: str | Path,
    fold_labels_path: str | Path,
    clusters_path: str | Path,
    index_path: str | Path,
    fold: str,
    outputs: Mapping[str, str],
    note: str,
) -> None:
    """Result figures (PNG): the paper's Figure 2 for ``fold`` (whose labels and clusters are
    given; ``outputs["annotations"]``), Table 1 as stacked bars (``"table1"``) and, per task,
    confusion matrices summed over folds (``"confusion_<task>"``) and F1 per fold
    (``"f1_<task>"``). ``note`` names the corpus."""
    from affectflow.evaluation import figures
    from affectflow.evaluation.metrics import summed_confusions
    from affectflow.evaluation.tables import TASK_LABELS

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
    logger.info(f"figures: Figure 2 of fold {fold} ({len(train)} annotations), Table 1, "
                f"{len(tasks)} tasks")
