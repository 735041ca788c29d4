"""Command-line interface: ``affectflow synth``, ``affectflow index``, ``affectflow predict``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from affectflow import __version__
from affectflow.errors import AffectflowError


def _cmd_synth(args: argparse.Namespace) -> int:
    from affectflow.corpus.synth import generate_corpus
    from affectflow.logs import job_log

    with job_log(None):
        root = generate_corpus(args.out, preset=args.preset, seed=args.seed, jobs=args.jobs)
    print(root)
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from affectflow.corpus.iemocap import build_index, write_index
    from affectflow.logs import job_log

    out = Path(args.out)
    excluded_path = Path(args.excluded) if args.excluded else out.with_name("excluded.tsv")
    with job_log(None, echo=not args.quiet):
        index, excluded = build_index(args.root, strict=not args.lenient)
    write_index(index, excluded, out, excluded_path)
    print(f"{len(index)} utterances -> {out}; {len(excluded)} excluded -> {excluded_path}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from affectflow.logs import job_log
    from affectflow.predict import check_output_path, load_bundle, read_input, write_output

    out = check_output_path(args.out)
    bundle = load_bundle(args.bundle)
    table = read_input(args.input, args.mocap)
    with job_log(None):
        result = bundle.predict(table, progress=not args.no_progress)
    write_output(result, out)
    n_conv = result["conversation"].nunique()
    print(f"{len(result)} utterances of {n_conv} conversation(s), {bundle.task} "
          f"({bundle.classifier}) -> {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``affectflow`` command."""
    parser = argparse.ArgumentParser(
        prog="affectflow",
        description="Multimodal emotion recognition (Woellmer et al. 2010) as a workflow.",
    )
    parser.add_argument("--version", action="version", version=f"affectflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="generate a synthetic corpus in IEMOCAP's layout")
    p.add_argument("out", help="output folder; IEMOCAP_full_release/ is created inside")
    p.add_argument("--preset", default="demo", choices=["tiny", "demo", "iemocap"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel sessions")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("index", help="index an IEMOCAP(-format) corpus into a Parquet table")
    p.add_argument("root", help="IEMOCAP_full_release or the folder that contains it")
    p.add_argument("--out", required=True, help="index Parquet file to write")
    p.add_argument("--excluded", help="TSV of left-out utterances (default: next to --out)")
    p.add_argument(
        "--lenient",
        action="store_true",
        help="leave malformed utterances out (listed in the excluded TSV) instead of stopping",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_index)

    p = sub.add_parser(
        "predict",
        help="classify your own recordings with a final-model bundle (results/final/...)",
    )
    p.add_argument("--bundle", required=True, help="bundle folder, results/final/TASK/CLASSIFIER")
    p.add_argument(
        "--input",
        required=True,
        help="folder of one conversation's utterance wavs (in file-name order), or a CSV with "
        "columns conversation, utterance, wav[, mocap] in order",
    )
    p.add_argument("--mocap", help="folder of MOCAP_rotated files named <wav name>.txt")
    p.add_argument("--out", required=True, help="predictions to write (.csv or .parquet)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_predict)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``affectflow`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (AffectflowError, OSError, ValueError) as err:
        print(f"affectflow: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
