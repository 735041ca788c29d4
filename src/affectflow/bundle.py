"""Final-model bundles: one self-contained directory per (task, classifier).

``results/final/{task}/{classifier}/`` holds everything prediction needs:

- ``normalizer.npz``, ``pfa.json``: the feature transforms, fit on every speaker;
- ``features.json``: the CFS selection (``{"task", "features", "merit"}``), in model input order;
- ``imputer.json``: the training mean of each selected feature, which fills a functional that
  cannot be computed for a new utterance (:mod:`affectflow.impute`);
- ``model.json`` (SVM) or ``model.pt`` ((B)LSTM);
- ``manifest.json``: what the bundle is (see :func:`build_manifest`). It is written last, so a
  directory without it is an incomplete bundle and is refused.

Classifier names are ``<family>_<modality>``: family ``svm``, ``lstm`` or ``blstm``; modality
``vf`` (voice and face functionals, needs MOCAP files) or ``v`` (audio functionals only). Which
classifiers can be bundled is :data:`affectflow.registry.BUNDLE_CLASSIFIERS`.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectflow import __version__, io, labels, registry
from affectflow.config import config_hash
from affectflow.errors import AffectflowError
from affectflow.targets import (  # noqa: F401 (re-exported: the bundle API)
    bundle_dirs,
    config_sections,
    cv_predictions,
    final_tasks,
)

FORMAT = "affectflow-bundle"
FORMAT_VERSION = 2  # 2: imputer.json (missing functionals filled with training means)
MANIFEST = "manifest.json"
IMPUTER_FILE = "imputer.json"
#: What a bundle can be made of (from :mod:`affectflow.registry`).
CLASSIFIERS: tuple[str, ...] = registry.BUNDLE_CLASSIFIERS
FAMILIES: tuple[str, ...] = registry.bundle_families()
MODALITIES: tuple[str, ...] = registry.bundle_modalities()
MODEL_FILES: dict[str, str] = {f: registry.family(f).model_file for f in FAMILIES}
#: Cross-validation metrics copied into the manifest (mean over folds).
CV_METRICS: tuple[str, ...] = ("acc", "uar", "uap", "f1", "wf1")
#: A family's use of the validation speaker -> how the manifest says it.
_VALIDATION_USE = {"training": "training (no early stopping)", "early stopping": "early stopping"}
_LEVEL_RANGES = (
    f"mean rating below {labels.LOW_MEDIUM_BORDER}",
    f"mean rating {labels.LOW_MEDIUM_BORDER} to {labels.MEDIUM_HIGH_BORDER}",
    f"mean rating above {labels.MEDIUM_HIGH_BORDER}",
)


class BundleError(AffectflowError):
    """A bundle directory is incomplete, from another affectflow version, or malformed."""


def parse_classifier(name: str) -> tuple[str, str]:
    """``"blstm_vf"`` -> ``("blstm", "vf")`` (family and modality of a bundle classifier)."""
    if name not in CLASSIFIERS:
        raise ValueError(f"unknown final classifier {name!r}; expected one of {CLASSIFIERS}")
    record = registry.classifier(name)
    return record.family, record.modality


def audio_only(classifier: str) -> str | None:
    """The audio-only variant of a classifier (``blstm_vf`` -> ``blstm_v``), or None when its
    family has none in the registry."""
    family = parse_classifier(classifier)[0]
    records = (registry.classifier(c) for c in CLASSIFIERS)
    return next((r.id for r in records if r.family == family and r.modality == "v"), None)


def class_table(task: str, clusters_json: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every class of ``task``: id, key (for column names), name, meaning (and V/A centre)."""
    names = labels.class_names(task, clusters_json)
    classes = []
    for i, name in enumerate(names):
        if task in labels.LEVEL_NAMES:
            dimension = registry.task(task).dimension
            meaning = f"{name} {dimension} ({_LEVEL_RANGES[i]} on the 1-5 scale)"
            classes.append({"id": i, "key": name, "name": name, "meaning": meaning})
        else:
            v, a = clusters_json[task]["centres"][i]
            meaning = (f"region of the valence-activation plane nearest to the centre "
                       f"V={v:.2f}, A={a:.2f} (1-5 scale)")
            classes.append({"id": i, "key": f"c{i}", "name": name, "meaning": meaning,
                            "centre": [float(v), float(a)]})
    return classes


def cv_metrics(prediction_paths: Sequence[str | Path], task: str, classifier: str) -> dict | None:
    """Mean over folds of the classifier's cross-validation metrics for ``task``, computed from
    its per-fold predictions (``results/models/{task}/{classifier}/{fold}/predictions.parquet``,
    :func:`affectflow.targets.cv_predictions`) as ``aggregate_metrics`` computes them; ``None``
    when the run did not cross-validate that combination (no paths).

    Read from the classifier's own predictions, not from the aggregated metrics of every
    classifier, so that retraining another classifier does not rebuild this bundle."""
    from affectflow.evaluation.metrics import prediction_metrics

    paths = [Path(p) for p in prediction_paths]
    if not paths:
        return None
    for path in paths:
        if path.parts[-4:-2] != (task, classifier) or path.name != "predictions.parquet":
            raise ValueError(f"{path}: not a predictions file of {task}/{classifier}")
    n_classes = labels.n_classes(task)
    folds = [prediction_metrics(pd.read_parquet(path), n_classes) for path in paths]
    out: dict[str, Any] = {m: float(np.mean([f[m] for f in folds])) for m in CV_METRICS}
    out["n_folds"] = len(paths)
    out["source"] = (f"results/models/{task}/{classifier}/<fold>/predictions.parquet "
                     "(mean over leave-one-speaker-out folds)")
    return out


def corpus_description(corpus: Mapping[str, Any]) -> dict[str, Any]:
    """The corpus a bundle was trained on: source and preset/seed, or the IEMOCAP root."""
    out: dict[str, Any] = {"source": corpus["source"], "utterances": corpus["utterances"],
                           "sessions": list(corpus["sessions"])}
    if corpus["source"] == "synthetic":
        out.update(preset=corpus["synthetic"]["preset"], seed=corpus["synthetic"]["seed"])
    else:
        out["root"] = corpus["iemocap_root"]
    return out


def build_manifest(
    task: str,
    classifier: str,
    selection: Mapping[str, Any],
    split: Mapping[str, Any],
    clusters: Mapping[str, Any],
    n_utterances: int,
    metrics: Mapping[str, Any] | None,
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """The manifest of a bundle.

    ``context``: ``{"config": {...relevant config sections...}, "note": corpus note}``; the
    sections are stored and hashed (``config_hash``) so two bundles can be compared.
    """
    family, modality = parse_classifier(classifier)
    sections = dict(context["config"])
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "affectflow_version": __version__,
        "task": task,
        "classifier": classifier,
        "family": family,
        "modality": modality,
        "needs_face": registry.classifier(classifier).needs_face,
        "files": {"normalizer": "normalizer.npz", "pfa": "pfa.json",
                  "features": "features.json", "imputer": IMPUTER_FILE,
                  "model": MODEL_FILES[family]},
        "features": list(selection["features"]),
        "cfs_merit": float(selection["merit"]),
        "classes": class_table(task, clusters),
        "speakers": {"train": list(split["train"]), "validation": split["validation"],
                     "validation_use": _VALIDATION_USE[registry.family(family).validation]},
        "n_training_utterances": int(n_utterances),
        "corpus": corpus_description(sections["corpus"]),
        "corpus_note": context["note"],
        "config_hash": config_hash(sections),
        "config": sections,
        "cv_metrics": None if metrics is None else dict(metrics),
    }


def _paths(value: Any) -> list[str]:
    """A named Snakemake input (one path, several or none) as a list of paths."""
    if value is None or value == "":
        return []
    if isinstance(value, str | Path):
        return [str(value)]
    return [str(v) for v in value]


def write_bundle(
    out_dir: str | Path,
    inputs: Mapping[str, Any],
    task: str,
    classifier: str,
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """Copy the transforms and the selection into ``out_dir`` (the model is already there),
    then write the manifest, last. ``inputs``: the final pseudo-fold's ``normalizer``,
    ``pfa``, ``cfs``, ``split``, ``labels``, ``clusters`` and optionally ``cv_predictions``
    (:func:`cv_metrics`)."""
    out = Path(out_dir)
    family, _ = parse_classifier(classifier)
    if not (out / MODEL_FILES[family]).exists():
        raise BundleError(f"{out}: write the model before the bundle")
    shutil.copyfile(inputs["normalizer"], out / "normalizer.npz")
    shutil.copyfile(inputs["pfa"], out / "pfa.json")
    selection = io.read_json(inputs["cfs"])
    io.write_json(selection, out / "features.json")
    manifest = build_manifest(
        task,
        classifier,
        selection,
        io.read_json(inputs["split"]),
        io.read_json(inputs["clusters"]),
        len(pd.read_parquet(inputs["labels"], columns=["utt_id"])),
        cv_metrics(_paths(inputs.get("cv_predictions")), task, classifier),
        context,
    )
    io.write_json(manifest, out / MANIFEST)
    return manifest


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(str(version).split(".")[:2])


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of bundle directory ``path``, after checking that the bundle is complete
    and was made by this affectflow major.minor version (:class:`BundleError` otherwise)."""
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{root}: no such bundle directory")
    manifest_path = root / MANIFEST
    if not manifest_path.exists():
        raise BundleError(
            f"{root}: incomplete bundle, {MANIFEST} is missing (the training job writes it "
            "last; rerun `snakemake` for this bundle)"
        )
    try:
        manifest = io.read_json(manifest_path)
    except ValueError as err:
        raise BundleError(f"{manifest_path}: not valid JSON ({err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{manifest_path}: not an affectflow bundle manifest")
    made_by = str(manifest.get("affectflow_version"))
    if _major_minor(made_by) != _major_minor(__version__):
        raise BundleError(
            f"{root}: bundle made by affectflow {made_by}, this is affectflow {__version__}; "
            "the major.minor versions must match. Retrain the bundle with this version "
            f"(snakemake results/final/{manifest.get('task')}/{manifest.get('classifier')}) "
            f"or use affectflow {'.'.join(_major_minor(made_by))}"
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{manifest_path}: bundle format {manifest.get('format_version')}, "
                          f"expected {FORMAT_VERSION}")
    missing = [f for f in manifest["files"].values() if not (root / f).exists()]
    if missing:
        raise BundleError(f"{root}: incomplete bundle, missing {', '.join(missing)}")
    return manifest


def check_features(manifest: Mapping[str, Any], selection: Mapping[str, Any]) -> Sequence[str]:
    """The model's input features; the manifest and ``features.json`` must agree."""
    features = list(selection["features"])
    if features != list(manifest["features"]):
        raise BundleError("features.json and manifest.json list different features")
    return features
