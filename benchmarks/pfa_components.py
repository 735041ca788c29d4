"""How many principal components PFA keeps on a synthetic corpus (issue 15, item 4).

Measured the way the workflow does it: generate the corpus, index it, extract the face LLDs
per session (``extract_session_face``, ``lld.max_gap_frames`` 12), then per LOSO fold fit the
normaliser on the training speakers (face speaker means; the audio part is irrelevant to PFA
and fed zeros here) and run PFA (``folds.pfa``: 30 features, 95 % variance, 200,000 frames,
seed 0) on the training speakers' normalised face frames, wearer utterances only.

    .venv/bin/python benchmarks/pfa_components.py --preset demo [--folds Ses01F Ses03M Ses05F]
    .venv/bin/python benchmarks/pfa_components.py --preset demo --root /tmp/existing-corpus

Prints one line per fold: n_components, explained variance and the leading eigenvalue shares.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from affectflow.corpus.iemocap import build_index, select_utterances
from affectflow.corpus.synth import generate_corpus
from affectflow.features.face import extract_session_face
from affectflow.features.groups import AUDIO_LLDS
from affectflow.fold_data import load_face, training_face_frames
from affectflow.folds import make_split
from affectflow.normalize import fit_normalizer
from affectflow.numerics import exact_covariance, symmetric_eigh
from affectflow.selection.pfa import complete_frames, fit_pfa

PFA_SETTINGS = {"n_features": 30, "variance": 0.95, "max_frames": 200_000}  # config.yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--root", type=Path, help="existing corpus folder (skip generation)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (/tmp)")
    parser.add_argument("--folds", nargs="*", default=["Ses01F", "Ses03M", "Ses05F"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    work = args.work or Path(f"/tmp/pfa-{args.preset}-{args.seed}")
    root = args.root
    timings = {}
    if root is None:
        root = work / "corpus"
        t0 = time.perf_counter()
        generate_corpus(root, preset=args.preset, seed=args.seed, jobs=args.jobs)
        timings["generate_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    index, _ = build_index(root)
    index = select_utterances(index, "wearer_only")
    paths = []
    for session, rows in index.groupby("session"):
        out = work / "face" / f"Session{session}" / "face.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        extract_session_face(rows, out, strict=True, max_gap_frames=12)
        paths.append(out)
    timings["face_lld_s"] = round(time.perf_counter() - t0, 1)
    face = load_face(paths)
    audio = pd.DataFrame({"utt_id": face["utt_id"].to_numpy()})
    for name in AUDIO_LLDS:
        audio[name] = 0.0

    results = []
    for fold in args.folds:
        split = make_split(index, fold)
        normalizer = fit_normalizer(audio, face, None, split.train)
        values, names = training_face_frames(face, normalizer, split.train)
        pfa = fit_pfa(values, names, seed=0, **PFA_SETTINGS)
        frames = complete_frames(values, PFA_SETTINGS["max_frames"], 0)
        eigval = np.clip(symmetric_eigh(exact_covariance(frames))[0], 0.0, None)
        share = eigval / eigval.sum()
        row = {
            "preset": args.preset, "fold": fold, "n_components": pfa.n_components,
            "explained": round(pfa.explained_variance, 4), "frames": pfa.n_frames,
            "complete_share": round(float(np.mean(~np.isnan(values).any(axis=1))), 4),
            "leading_shares": [round(float(s), 4) for s in share[:10]],
            "total_variance_mm2": round(float(eigval.sum()), 2),
        }
        results.append(row)
        print(json.dumps(row))
    print(json.dumps(timings))
    if args.json:
        args.json.write_text(json.dumps({"folds": results, "timings": timings}, indent=1) + "\n")


if __name__ == "__main__":
    main()
