"""Stages of ``corpus.smk``: the synthetic corpus and the corpus index."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)



def synthesize_corpus(out_dir: str | Path, preset: str, seed: int, jobs: int) -> None:
    """Generate the IEMOCAP-format synthetic corpus (``out_dir/IEMOCAP_full_release``)."""
    from affectflow.corpus.synth import generate_corpus

    logger.info(f"generating synthetic corpus preset={preset} seed={seed} in {out_dir}")
    generate_corpus(out_dir, preset=preset, seed=seed, jobs=jobs)
    logger.info("done")


def index_corpus(
    root: str | Path, strict: bool, index_path: str | Path, excluded_path: str | Path
) -> None:
    """One row per utterance of the corpus under ``root``, and the utterances left out."""
    from affectflow.corpus.iemocap import build_index, write_index

    logger.info(f"indexing {root} (strict={strict})")
    index, excluded = build_index(root, strict=strict)
    write_index(index, excluded, index_path, excluded_path)
    logger.info(f"{len(index)} utterances indexed, {len(excluded)} excluded")
