"""Print what a workflow run produced: corpus index counts and the result tables.

``python -m affectflow.summary results`` is the last step of ``make demo``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

TABLES = (
    ("table1.md", "Table 1: features selected by CFS per group (%)"),
    ("table2.md", "Table 2: three levels of valence and activation"),
    ("table3.md", "Table 3: three, four and five clusters in emotional space"),
    ("table4.md", "Table 4: what conversational context adds"),
)


def index_summary(results: Path) -> str:
    """Counts of utterances, speakers, dialogs and exclusions of the run's corpus index."""
    index_path = results / "index" / "utterances.parquet"
    if not index_path.exists():
        return f"no corpus index at {index_path} yet"
    index = pd.read_parquet(index_path)
    excluded = pd.read_csv(results / "index" / "excluded.tsv", sep="\t")
    wearer = int(index["wearer"].sum())
    hours = float((index["end"] - index["start"]).sum()) / 3600
    return (
        f"Corpus index {index_path}: {len(index)} utterances ({wearer} by the marker wearer), "
        f"{index['speaker'].nunique()} speakers, {index['dialog'].nunique()} dialogs, "
        f"{hours:.2f} h of speech; {len(excluded)} excluded"
    )


def summary(results: str | Path) -> str:
    """The text ``make demo`` prints at its end."""
    results = Path(results)
    parts = [index_summary(results)]
    for name, title in TABLES:
        path = results / "tables" / name
        if path.exists():
            parts.append(f"\n=== {title} ({path}) ===\n{path.read_text().rstrip()}")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Print the summary of the results folder given as the only argument."""
    args = sys.argv[1:] if argv is None else argv
    print(summary(args[0] if args else "results"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
