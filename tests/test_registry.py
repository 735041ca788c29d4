"""The registry defines every task and classifier once; every other place agrees with it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from affectflow import bundle, labels, registry, targets
from affectflow.config import load_schema
from affectflow.evaluation import metrics, significance, tables

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


# ------------------------------------------------------------------------------ invariants


def test_tasks_are_well_formed() -> None:
    assert registry.TASKS == ("valence3", "activation3", "clusters3", "clusters4", "clusters5")
    for name, task in registry.TASK_RECORDS.items():
        assert task.name == name
        assert task.kind in ("levels", "clusters")
        assert task.n_classes >= 2
        assert task.table in (2, 3)
        if task.kind == "levels":
            assert task.dimension in ("valence", "activation")
            assert len(task.class_names) == task.n_classes
        else:
            assert task.dimension is None and task.class_names is None
    labels_2_3 = [t.label for t in registry.TASK_RECORDS.values()]
    assert len(set(labels_2_3)) == len(labels_2_3)


def test_classifiers_are_well_formed() -> None:
    rules = [c.rule for c in registry.CLASSIFIER_RECORDS.values() if c.rule]
    assert len(set(rules)) == len(rules), "one training rule per classifier"
    for cid, clf in registry.CLASSIFIER_RECORDS.items():
        assert clf.id == cid
        assert clf.family in registry.FAMILIES
        assert clf.modality in registry.MODALITY_LABELS
        assert re.fullmatch(r"[a-z_]+", cid)
        if clf.scores_from is not None:
            assert clf.scores_from in registry.CLASSIFIERS
        if clf.rule is None:
            assert not clf.paper_tables, f"{cid}: in the paper's tables but never trained"
        if clf.bundle:  # bundles are built from functionals: SVM or (B)LSTM
            assert registry.family(clf.family).reads in ("rows", "sequences")
    assert registry.REFERENCE in registry.CLASSIFIERS
    for family in registry.FAMILIES.values():
        module, _, name = family.estimator.partition(":")
        assert module.startswith("affectflow.models.") and name


def test_cross_validated_and_bundle_classifiers() -> None:
    assert registry.CLASSIFIERS == (
        "hmm_v", "hmm_f", "hmm_vf", "hmm_lm_vf", "svm_vf", "lstm_vf", "blstm_vf",
        "blstm_vf_noctx", "blstm_vf_shuffled",
    )
    assert registry.BUNDLE_CLASSIFIERS == (
        "svm_vf", "svm_v", "lstm_vf", "lstm_v", "blstm_vf", "blstm_v",
    )
    assert registry.decoders_of("hmm_vf") == ("hmm_lm_vf",)
    assert [c.id for c in registry.trained_by("hmm")] == ["hmm_v", "hmm_f", "hmm_vf"]


def test_paper_tasks_match_the_papers_tables() -> None:
    paper = tables.load_paper_results()
    expected = {task: list(grp["classifier"]) for task, grp in paper.groupby("task", sort=False)}
    assert registry.paper_tasks() == expected


def test_unknown_names_are_errors_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="valence3"):
        registry.task("valence5")
    with pytest.raises(ValueError, match="blstm_vf"):
        registry.classifier("cnn_vf")
    with pytest.raises(ValueError, match="svm"):
        registry.family("cnn")


def test_registry_imports_nothing_heavy() -> None:
    """Imported when Snakemake parses the Snakefile (once per cluster job): pure Python."""
    code = ("import sys, affectflow.registry, affectflow.targets; "
            "print(sorted(m for m in ('numpy', 'pandas', 'torch', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -------------------------------------------------------------- every other place agrees


def test_targets_reexport_the_registry() -> None:
    assert targets.TASKS == registry.TASKS
    assert targets.CLASSIFIERS == registry.CLASSIFIERS
    assert targets.TASK_LABELS == {t.name: t.label for t in registry.TASK_RECORDS.values()}


def test_labels_agree() -> None:
    for name, task in registry.TASK_RECORDS.items():
        assert labels.n_classes(name) == task.n_classes
        assert len(labels.class_names(name)) == task.n_classes
    assert labels.CLUSTER_KS == {"clusters3": 3, "clusters4": 4, "clusters5": 5}
    assert labels.LEVEL_NAMES == {"valence3": ("negative", "neutral", "positive"),
                                  "activation3": ("low", "medium", "high")}
    assert labels.LABEL_COLUMNS[-len(registry.TASKS):] == registry.TASKS


def test_metrics_and_tables_agree() -> None:
    assert metrics.N_CLASSES == {name: t.n_classes for name, t in registry.TASK_RECORDS.items()}
    assert metrics.TASKS == registry.TASKS
    assert list(metrics.CLASSIFIERS) == list(registry.CLASSIFIERS)
    assert metrics.CLASSIFIERS["hmm_lm_vf"] == ("HMM+LM", "v+f")
    assert metrics.CLASSIFIERS["hmm_f"] == ("HMM", "f")
    assert tables.TABLE2_TASKS == ("valence3", "activation3")
    assert tables.TABLE3_TASKS == ("clusters3", "clusters4", "clusters5")
    assert tables.TABLE1_LABELS["valence3"] == "VAL"
    assert significance.REFERENCE == registry.REFERENCE
    # display names and features as the paper's tables print them
    paper = tables.load_paper_results()
    for cid, features in zip(paper["classifier"], paper["features"], strict=True):
        assert registry.classifier(cid).features == features


def test_bundles_agree() -> None:
    assert bundle.CLASSIFIERS == registry.BUNDLE_CLASSIFIERS
    assert bundle.FAMILIES == ("svm", "lstm", "blstm")
    assert bundle.MODALITIES == ("vf", "v")
    assert bundle.MODEL_FILES == {"svm": "model.json", "lstm": "model.pt", "blstm": "model.pt"}
    for cid in registry.BUNDLE_CLASSIFIERS:
        clf = registry.classifier(cid)
        assert bundle.parse_classifier(cid) == (clf.family, clf.modality)
        assert bundle.audio_only(cid) == f"{clf.family}_v"
    with pytest.raises(ValueError, match="unknown final classifier"):
        bundle.parse_classifier("hmm_vf")


def test_schema_enums_and_defaults_come_from_the_registry() -> None:
    schema = load_schema(SCHEMA)["properties"]
    tasks = schema["tasks"]
    assert tasks["propertyNames"]["enum"] == list(registry.TASKS)
    assert tasks["additionalProperties"]["items"]["enum"] == list(registry.CLASSIFIERS)
    assert tasks["default"] == registry.default_tasks()
    # the paper's classifiers, and those the registry runs for every task by default
    extra = [c for c in registry.CLASSIFIERS if registry.classifier(c).default]
    for task, classifiers in registry.default_tasks().items():
        assert classifiers == [c for c in registry.CLASSIFIERS
                               if c in registry.paper_tasks()[task] or c in extra]
    final = schema["final"]["properties"]
    assert final["classifiers"]["items"]["enum"] == list(registry.BUNDLE_CLASSIFIERS)
    assert final["tasks"]["items"]["enum"] == list(registry.TASKS)
    # no list of task names or classifier ids left in the YAML itself
    text = SCHEMA.read_text()
    for name in (*registry.TASKS, *registry.CLASSIFIER_RECORDS):
        assert not re.search(rf"\b{name}\b(?!:)", text.replace("blstm_vf, svm_vf", "")), name


def test_rule_files_spell_no_classifier_or_task_list() -> None:
    """Rule wildcards and loops read the registry: no rule file lists classifier ids or task
    names (the final bundles' wildcard regexes, the training rules' loops)."""
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        text = path.read_text()
        code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        for name in (*registry.TASKS, *registry.CLASSIFIER_RECORDS):
            assert not re.search(rf"[\"'|]{name}[\"'|]", code), (path.name, name)
        assert '"svm|lstm|blstm"' not in code and '"vf|v"' not in code


def test_training_rules_are_the_registrys(tmp_path: Path) -> None:
    """`snakemake --list-rules` shows one training rule per cross-validated classifier (every
    one configured: blstm_vf_shuffled is opt-in)."""
    snakemake = Path(sys.executable).with_name("snakemake")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["tasks"]["valence3"] += [c for c in registry.CLASSIFIERS
                                    if c not in config["tasks"]["valence3"]
                                    and registry.classifier(c).rule is not None]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    out = subprocess.run([str(snakemake), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                          "--list-rules"], capture_output=True, text=True, check=True)
    rules = set(out.stdout.split())
    assert {registry.classifier(c).rule for c in registry.CLASSIFIERS} <= rules
