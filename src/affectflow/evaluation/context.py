"""Table 4: what conversational context adds.

The paper's claim is that modelling the context of a conversation beats context-free
classification. The registry's context ablations isolate that: ``blstm_vf_noctx`` is the BLSTM
with every utterance its own sequence of length one (same network, features and training), and
``blstm_vf_shuffled`` keeps each conversation's utterances together in a permuted order. Per
task, Table 4 lists F1 and UAR of the context models (BLSTM, LSTM, shuffled) and of the
no-context BLSTM, and for each context model the per-fold difference to the no-context BLSTM
(mean ± std over the folds both scored, in percentage points) with the two-sided paired
sign-flip test of :mod:`affectflow.evaluation.significance`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from affectflow import registry
from affectflow.evaluation.significance import permutation_p
from affectflow.evaluation.tables import _mean_std as mean_std
from affectflow.evaluation.tables import capped_legend, capped_name, training_legend

#: The context-free reference every context model is compared with.
NO_CONTEXT = "blstm_vf_noctx"
#: Classifiers of Table 4, in row order (those the run has).
CONTEXT_CLASSIFIERS: tuple[str, ...] = ("blstm_vf", "lstm_vf", "blstm_vf_shuffled", NO_CONTEXT)
TABLE4_COLUMNS: tuple[str, ...] = (
    "task", "classifier", "context", "n folds", "F1", "UAR", "ΔF1 vs no context", "p",
)
#: What each classifier of Table 4 sees of the conversation.
CONTEXT_LABELS: dict[str, str] = {
    "blstm_vf": "both directions",
    "lstm_vf": "past only",
    "blstm_vf_shuffled": "same utterances, order permuted",
    NO_CONTEXT: "none (one utterance per sequence)",
}


def _mean_std(values: np.ndarray) -> str:
    """``mean ± std`` of per-fold values as Tables 2/3 write it (empty without values)."""
    if len(values) == 0:
        return ""
    return mean_std(values.mean(), values.std(ddof=1) if len(values) > 1 else float("nan"))


def table4(per_fold: pd.DataFrame, n_resamples: int = 100_000, seed: int = 0) -> pd.DataFrame:
    """One row per (task, context classifier) present in ``per_fold`` (fractions per fold, as
    :func:`affectflow.evaluation.metrics.per_fold_table` writes them); empty when the run has
    no ``blstm_vf_noctx`` results. Metrics in percent, mean ± std over folds."""
    rows = []
    capped: list[str] = []
    for task in registry.TASKS:
        grp = per_fold[per_fold["task"] == task]
        base = grp[grp["classifier"] == NO_CONTEXT].set_index("fold")
        if base.empty:
            continue
        for clf in CONTEXT_CLASSIFIERS:
            own = grp[grp["classifier"] == clf].set_index("fold")
            if own.empty:
                continue
            label = registry.task(task).label
            row = {
                "task": label,
                "classifier": capped_name(clf, int(own["capped"].sum()) if "capped" in own
                                          else 0, len(own), label, capped),
                "context": CONTEXT_LABELS[clf],
                "n folds": len(own),
                "F1": _mean_std(100.0 * own["f1"].to_numpy(float)),
                "UAR": _mean_std(100.0 * own["uar"].to_numpy(float)),
                "ΔF1 vs no context": "ref.",
                "p": "",
            }
            if clf != NO_CONTEXT:
                common = own.index.intersection(base.index)
                diff = 100.0 * (own.loc[common, "f1"].to_numpy(float)
                                - base.loc[common, "f1"].to_numpy(float))
                row["ΔF1 vs no context"] = _mean_std(diff)
                row["p"] = (f"{permutation_p(diff, n_resamples, seed):.3f}"
                            if len(diff) else "")
            rows.append(row)
    df = pd.DataFrame(rows, columns=list(TABLE4_COLUMNS))
    df.attrs["legend"] = (
        "ΔF1 vs no context: per-fold F1 of the classifier minus that of the BLSTM without "
        "context (blstm_vf_noctx) on the same test speaker, in percentage points, mean ± std "
        "over folds; p: two-sided paired sign-flip test of that difference (exact over all "
        "sign patterns up to 16 folds)."
    )
    extra = (capped_legend(capped), training_legend(per_fold["classifier"].unique()))
    df.attrs["legend"] = " ".join([df.attrs["legend"], *(part for part in extra if part)])
    return df
