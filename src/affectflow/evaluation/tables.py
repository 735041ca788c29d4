"""The paper's Tables 1-3 from our results, with the published numbers beside ours.

- Table 1: share of the CFS-selected features per feature group (pitch, energy, MFCC, MFB,
  lower face, upper face), per task, averaged over folds.
- Table 2 (valence, activation) and Table 3 (3/4/5 clusters): per classifier ACC, REC (UAR),
  PREC (UAP), F1 as "mean ± std" over folds in percent, each with the paper's value, and a
  mark where BLSTM differs significantly from that classifier.

Writers put every table into a CSV (a clean table plus a ``corpus`` column naming the corpus
the numbers come from) and a Markdown file (title, the mandatory note, the table, legends).
Markdown is formatted here; there is no tabulate dependency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from affectflow import registry
from affectflow.evaluation.metrics import CLASSIFIERS, TASKS, sort_results
from affectflow.evaluation.significance import REFERENCE
from affectflow.features.groups import GROUPS, channel_group
from affectflow.io import atomic_path
from affectflow.targets import TASK_LABELS

SYNTHETIC_CORPUS = "synthetic (not IEMOCAP)"
SYNTHETIC_NOTE = "Synthetic corpus: these numbers are not IEMOCAP results."
#: Task id -> column label of Table 1.
TABLE1_LABELS: dict[str, str] = {
    name: t.table1_label for name, t in registry.TASK_RECORDS.items()
}
TABLE2_TASKS: tuple[str, ...] = registry.tasks_in_table(2)
TABLE3_TASKS: tuple[str, ...] = registry.tasks_in_table(3)
N_SELECTED_ROW = "selected features (mean)"
#: Table column -> (summary metric, paper column).
RESULT_COLUMNS: dict[str, tuple[str, str]] = {
    "ACC": ("acc", "acc"),
    "REC": ("uar", "rec"),
    "PREC": ("uap", "prec"),
    "F1": ("f1", "f1"),
}
BETTER_MARK = "†"
WORSE_MARK = "‡"
MISSING = "–"
#: After a classifier's name: its training reached max_epochs without early stopping in at
#: least one fold (see :func:`capped_legend`).
CAPPED_MARK = "§"


def load_paper_results() -> pd.DataFrame:
    """The paper's Tables 2 and 3: ``task, classifier, features, acc, rec, prec, f1`` (%)."""
    with resources.files("affectflow.data").joinpath("paper_results.csv").open() as fh:
        return pd.read_csv(fh, comment="#")


def load_paper_table1() -> pd.DataFrame:
    """The paper's Table 1 in long form: ``group, task, percent``."""
    with resources.files("affectflow.data").joinpath("paper_table1.csv").open() as fh:
        return pd.read_csv(fh, comment="#")


def table1(
    cfs_selections: Mapping[tuple[str, str], Sequence[str]],
    paper: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Share (%) of selected features per group for each task, averaged over folds.

    ``cfs_selections`` maps ``(fold, task)`` to the selected feature names. Rows are the
    groups in ``GROUPS`` order plus ``N_SELECTED_ROW`` (mean count per fold); columns are
    ``feature group`` and one per task (``VAL``, ``ACT``, ...), each followed by
    ``<label> (paper)`` when ``paper`` (long form, see :func:`load_paper_table1`) is given.
    A fold that selected nothing counts 0 features but is left out of the shares. Values
    are rounded to 1 decimal (``df.attrs["decimals"] = 1`` for the writers).
    """
    by_task: dict[str, list[Sequence[str]]] = {}
    for (_fold, task), names in cfs_selections.items():
        by_task.setdefault(task, []).append(list(names))
    tasks = [t for t in TASKS if t in by_task] + sorted(t for t in by_task if t not in TASKS)
    out = pd.DataFrame({"feature group": [*GROUPS, N_SELECTED_ROW]})
    for task in tasks:
        selections = by_task[task]
        shares = []
        for names in selections:
            if not names:
                continue
            groups = [channel_group(n) for n in names]
            shares.append([100.0 * groups.count(g) / len(groups) for g in GROUPS])
        mean_shares = np.mean(shares, axis=0) if shares else np.zeros(len(GROUPS))
        n_mean = float(np.mean([len(s) for s in selections]))
        label = TABLE1_LABELS.get(task, task)
        out[label] = [*np.round(mean_shares, 1), round(n_mean, 1)]
        if paper is not None:
            ref = paper[paper["task"] == task].set_index("group")["percent"]
            out[f"{label} (paper)"] = [*(float(ref.get(g, np.nan)) for g in GROUPS), np.nan]
    out.attrs["decimals"] = 1
    return out


def _mean_std(mean: float, std: float) -> str:
    if mean is None or not np.isfinite(mean):
        return MISSING
    if std is None or not np.isfinite(std):
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {std:.2f}"


def significance_legend(alpha: float = 0.05, test: str = "permutation") -> str:
    """The legend of the significance marks of Tables 2 and 3."""
    name = {"permutation": "paired sign-flip permutation test", "wilcoxon": "Wilcoxon"}[test]
    return (
        f"{BETTER_MARK}: BLSTM better than this classifier, {WORSE_MARK}: BLSTM worse "
        f"(two-sided {name} over the folds' F1, p < {alpha:g}); "
        "p: that test's p-value; (paper): the published IEMOCAP value."
    )


def capped_legend(capped: list[str]) -> str:
    """The footnote of :data:`CAPPED_MARK`, naming the marked rows (empty when none)."""
    if not capped:
        return ""
    return (f"{CAPPED_MARK}: training reached max_epochs without early stopping (best epoch "
            f"later than max_epochs - patience) in some folds: {'; '.join(capped)}. The "
            "validation loss may still have been falling; raise max_epochs or the learning "
            "rate (config models.lstm / models.blstm).")


def training_legend(classifiers: Iterable[str]) -> str:
    """Which speakers the listed classifiers train on, when it is not the same for all: the
    families that stop early (registry ``validation``) hold the validation speaker out of
    their training set (empty when none of ``classifiers`` does)."""
    families = {registry.classifier(c).family for c in classifiers
                if c in registry.CLASSIFIER_RECORDS}
    held_out = sorted(registry.FAMILIES[f].display for f in families
                      if registry.FAMILIES[f].validation == "early stopping")
    if not held_out:
        return ""
    tuned = sorted(registry.FAMILIES[f].display for f in families
                   if registry.FAMILIES[f].validation == "tuning")
    return (f"Training speakers: {' and '.join(held_out)} train on the fold's training speakers "
            "except the validation speaker (8 of IEMOCAP's 10), which only decides when to stop "
            "(early stopping, as in the paper); the other classifiers train on all training "
            "speakers (9 of 10), the validation speaker included"
            + (f" ({' and '.join(tuned)} also tunes a decoding parameter on it)." if tuned
               else "."))


def capped_name(name: str, n_capped: int, n_folds: int, task_label: str,
                capped: list[str]) -> str:
    """``name`` with :data:`CAPPED_MARK` when ``n_capped`` folds were capped (and the row
    added to ``capped`` for the footnote)."""
    if n_capped <= 0:
        return name
    capped.append(f"{task_label} {name} ({n_capped} of {n_folds} folds)")
    return f"{name} {CAPPED_MARK}"


def results_table(
    summary: pd.DataFrame,
    significance: pd.DataFrame | None,
    paper: pd.DataFrame | None,
    tasks: Iterable[str],
    alpha: float = 0.05,
    test: str = "permutation",
) -> pd.DataFrame:
    """Paper-shaped rows (task, classifier, features) for ``tasks``; see :func:`table2`."""
    if test not in ("permutation", "wilcoxon"):
        raise ValueError(f"test must be 'permutation' or 'wilcoxon', got {test!r}")
    tasks = list(tasks)
    sub = sort_results(summary[summary["task"].isin(tasks)])
    p_col = f"p_{test}"
    sig = significance.set_index(["task", "classifier"]) if significance is not None else None
    ref = paper.set_index(["task", "classifier"]) if paper is not None else None
    rows: list[dict[str, object]] = []
    capped: list[str] = []
    for _, s in sub.iterrows():
        key = (s["task"], s["classifier"])
        name, features = CLASSIFIERS.get(s["classifier"], (s["classifier"], ""))
        task_label = TASK_LABELS.get(s["task"], s["task"])
        row: dict[str, object] = {
            "task": task_label,
            "classifier": capped_name(name, int(s.get("n_capped", 0)), int(s["n_folds"]),
                                      task_label, capped),
            "features": features,
            "n folds": int(s["n_folds"]),
        }
        for col, (metric, paper_col) in RESULT_COLUMNS.items():
            row[col] = _mean_std(s[f"{metric}_mean"], s[f"{metric}_std"])
            if ref is not None:
                value = ref[paper_col].get(key, np.nan) if paper_col in ref else np.nan
                row[f"{col} (paper)"] = MISSING if pd.isna(value) else f"{value:.2f}"
        mark, p_text = "", MISSING
        if s["classifier"] == REFERENCE:
            mark = "ref."
        elif sig is not None and key in sig.index:
            p = float(sig.loc[key, p_col])
            diff = float(sig.loc[key, "mean_diff_f1"])
            p_text = f"{p:.3f}"
            if p < alpha and diff != 0:
                mark = BETTER_MARK if diff > 0 else WORSE_MARK
        row["sig."] = mark
        row["p"] = p_text
        rows.append(row)
    columns = ["task", "classifier", "features", "n folds"]
    for col in RESULT_COLUMNS:
        columns += [col, f"{col} (paper)"] if ref is not None else [col]
    df = pd.DataFrame(rows, columns=[*columns, "sig.", "p"])
    df.attrs["legend"] = " ".join(
        part for part in (significance_legend(alpha, test), capped_legend(capped),
                          training_legend(sub["classifier"])) if part
    )
    return df


def table2(
    summary: pd.DataFrame,
    significance: pd.DataFrame | None = None,
    paper: pd.DataFrame | None = None,
    alpha: float = 0.05,
    test: str = "permutation",
) -> pd.DataFrame:
    """Table 2 (valence, activation): ACC, REC, PREC, F1 "mean ± std" with the paper's values.

    Columns: ``task, classifier, features, n folds``, then ``ACC, ACC (paper), REC, ...,
    F1 (paper)`` (paper columns only with ``paper``), ``sig.`` (the mark, ``ref.`` on the
    BLSTM row) and ``p``. The legend is in ``df.attrs["legend"]``.
    """
    return results_table(summary, significance, paper, TABLE2_TASKS, alpha, test)


def table3(
    summary: pd.DataFrame,
    significance: pd.DataFrame | None = None,
    paper: pd.DataFrame | None = None,
    alpha: float = 0.05,
    test: str = "permutation",
) -> pd.DataFrame:
    """Table 3 (3, 4 and 5 clusters), shaped like :func:`table2`."""
    return results_table(summary, significance, paper, TABLE3_TASKS, alpha, test)


def _cell(value: object, decimals: int = 2) -> str:
    """Text of one cell: floats with ``decimals`` decimals, NaN/None as a dash."""
    if value is None:
        return MISSING
    if isinstance(value, (float, np.floating)):
        return MISSING if math.isnan(value) else f"{value:.{decimals}f}"
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _text_grid(df: pd.DataFrame, blank_repeats: str | None) -> list[list[str]]:
    grid = []
    previous = None
    decimals = int(df.attrs.get("decimals", 2))
    for _, row in df.iterrows():
        cells = [_cell(v, decimals) for v in row.tolist()]
        if blank_repeats is not None and blank_repeats in df.columns:
            i = list(df.columns).index(blank_repeats)
            current = cells[i]
            if current == previous:
                cells[i] = ""
            previous = current
        grid.append(cells)
    return grid


def _right_aligned(df: pd.DataFrame) -> list[bool]:
    """Columns to right-align: numbers and "mean ± std" strings."""
    flags = []
    for col in df.columns:
        values = [v for v in df[col].tolist() if v is not None]
        numeric = all(
            _is_number(v) or (isinstance(v, str) and (v == MISSING or _looks_numeric(v)))
            for v in values
        )
        flags.append(bool(values) and numeric)
    return flags


def _looks_numeric(text: str) -> bool:
    try:
        float(text.split(" ± ")[0])
    except ValueError:
        return False
    return True


def to_markdown(df: pd.DataFrame, blank_repeats: str | None = "task") -> str:
    """A GitHub-flavoured Markdown pipe table (repeated values of ``blank_repeats`` blanked)."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    header = [esc(str(c)) for c in df.columns]
    rule = ["---:" if right else "---" for right in _right_aligned(df)]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    for cells in _text_grid(df, blank_repeats):
        lines.append("| " + " | ".join(esc(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _require_note(note: str) -> str:
    if not note or not note.strip():
        raise ValueError("every table needs a note (e.g. the synthetic-corpus warning)")
    return note.strip()


def write_table(
    df: pd.DataFrame,
    csv_path: str | Path,
    md_path: str | Path,
    title: str,
    note: str,
    *,
    corpus: str,
) -> None:
    """Write ``df`` as CSV (plus a ``corpus`` column) and as Markdown (title, note, table).

    ``note`` is mandatory and heads the Markdown (e.g. :data:`SYNTHETIC_NOTE`); ``corpus``
    fills the CSV's ``corpus`` column (e.g. :data:`SYNTHETIC_CORPUS`). A legend in
    ``df.attrs["legend"]`` is printed under the Markdown table.
    """
    note = _require_note(note)
    if not corpus or not corpus.strip():
        raise ValueError("corpus must name the corpus the numbers come from")
    out = df.copy()
    out["corpus"] = corpus
    with atomic_path(csv_path) as tmp:
        out.to_csv(tmp, index=False)
    parts = [f"# {title}", "", f"> **{note}**", "", to_markdown(df).rstrip("\n")]
    legend = df.attrs.get("legend")
    if legend:
        parts += ["", legend]
    with atomic_path(md_path) as tmp:
        tmp.write_text("\n".join(parts) + "\n", encoding="utf-8")


def format_for_terminal(df: pd.DataFrame, title: str, note: str) -> str:
    """A fixed-width text rendering: title, note, the table, the legend if any."""
    note = _require_note(note)
    header = [str(c) for c in df.columns]
    grid = _text_grid(df, "task")
    widths = [max([len(h), *(len(r[i]) for r in grid)]) for i, h in enumerate(header)]
    right = _right_aligned(df)

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ).rstrip()

    rows = [title, "=" * len(title), note, "", line(header), line(["-" * w for w in widths])]
    rows += [line(cells) for cells in grid]
    legend = df.attrs.get("legend")
    if legend:
        rows += ["", legend]
    return "\n".join(rows) + "\n"
