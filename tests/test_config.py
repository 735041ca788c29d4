"""Config validation: defaults from the schema, bad values named by key before any job runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from affectflow import targets
from affectflow.config import load_schema, validate_config
from affectflow.errors import ConfigError
from affectflow.evaluation import metrics
from affectflow.targets import (
    bundle_dirs,
    canonical,
    config_sections,
    cv_predictions,
    folds,
    task_classifiers,
)
from tests.conftest import REPO, make_workdir, run_snakemake, tiny_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def test_repository_config_is_valid_and_complete() -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert validate_config(config, SCHEMA) == config


def test_defaults_fill_an_empty_config() -> None:
    config = validate_config({}, SCHEMA)
    assert config["corpus"]["source"] == "synthetic"
    assert config["corpus"]["synthetic"] == {"preset": "demo", "seed": 0}
    assert config["corpus"]["utterances"] == "wearer_only"
    assert config["strict"] is True


def test_every_schema_property_has_default_and_description() -> None:
    schema = load_schema(SCHEMA)

    def walk(props: dict, prefix: str) -> None:
        for name, sub in props.items():
            assert "default" in sub, f"{prefix}{name} has no default"
            assert sub.get("description"), f"{prefix}{name} has no description"
            walk(sub.get("properties", {}), f"{prefix}{name}.")

    walk(schema["properties"], "")


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"corpus": {"source": "nonsense"}}, "corpus.source"),
        ({"corpus": {"synthetic": {"preset": "huge"}}}, "corpus.synthetic.preset"),
        ({"corpus": {"synthetic": {"seed": -1}}}, "corpus.synthetic.seed"),
        ({"strict": "maybe"}, "strict"),
        ({"corpus.source": "iemocap"}, "corpus.source"),
    ],
)
def test_bad_values_name_the_key(config: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"config key {key}"):
        validate_config(config, SCHEMA)


def test_bad_value_stops_the_workflow_before_any_job(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path / "wd", tiny_config())
    proc = run_snakemake(
        workdir, "--cores", "1", "--config", "corpus={utterances: some}", check=False
    )
    assert proc.returncode != 0
    assert "config key corpus.utterances" in proc.stdout + proc.stderr
    assert not (workdir / "resources").exists() and not (workdir / "results").exists()


def test_real_corpus_needs_a_root(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path / "wd", tiny_config())
    proc = run_snakemake(workdir, "-n", "--config", "corpus={source: iemocap}", check=False)
    assert proc.returncode != 0
    assert "corpus.iemocap_root" in proc.stdout + proc.stderr


def test_command_line_override_merges_nested_keys(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path / "wd", tiny_config())
    proc = run_snakemake(workdir, "-n", "--config", "corpus={synthetic: {seed: 7}}")
    assert "resources/synthetic/tiny-7/IEMOCAP_full_release" in proc.stdout


def test_command_line_strings_become_schema_types() -> None:
    # Snakemake hands nested --config values over as strings (YAML BaseLoader).
    config = validate_config(
        {"corpus": {"synthetic": {"seed": "7"}, "sessions": ["1", "2"]}, "strict": "false"},
        SCHEMA,
    )
    assert config["corpus"]["synthetic"]["seed"] == 7
    assert config["corpus"]["sessions"] == [1, 2]
    assert config["strict"] is False
    with pytest.raises(ConfigError, match="config key corpus.synthetic.seed"):
        validate_config({"corpus": {"synthetic": {"seed": "seven"}}}, SCHEMA)


# ------------------------------------------- canonical params (reruns must not see key order)


def test_canonical_form_ignores_key_order_at_every_level() -> None:
    """Snakemake compares params by ``repr``: the canonical form of a config section is the
    same whatever order its keys (at any depth) were written in; lists keep their order."""
    a = {"pfa": {"n_features": 30, "variance": 0.95, "max_frames": 200000}, "seed": 0,
         "lists": [{"b": 1, "a": 2}, 3]}
    b = {"seed": 0, "lists": [{"a": 2, "b": 1}, 3],
         "pfa": {"max_frames": 200000, "variance": 0.95, "n_features": 30}}
    assert repr(a) != repr(b)
    assert repr(canonical(a)) == repr(canonical(b))
    assert canonical(a) == a
    assert canonical({"s": {"y", "x"}, "t": (2, 1)}) == {"s": ["x", "y"], "t": [2, 1]}


def test_tasks_sessions_and_bundles_come_in_canonical_order() -> None:
    """Tasks in the paper's order, each task's classifiers in the tables' order, sessions
    sorted, whatever order the config lists them in: rule outputs and ``tasks`` params are
    built from these."""
    config = validate_config(yaml.safe_load((REPO / "config.yaml").read_text()), SCHEMA)
    shuffled = json.loads(json.dumps(config))
    shuffled["tasks"] = {t: list(reversed(c)) for t, c in reversed(config["tasks"].items())}
    shuffled["corpus"]["sessions"] = [3, 1, 5, 2, 4]
    shuffled["final"] = {"tasks": ["clusters3", "valence3"], "classifiers": ["svm_vf", "blstm_v"]}
    config["final"] = {"tasks": ["valence3", "clusters3"], "classifiers": ["blstm_v", "svm_vf"]}
    assert task_classifiers(shuffled) == task_classifiers(config)
    assert list(task_classifiers(shuffled)) == list(targets.TASKS)
    assert task_classifiers(shuffled)["valence3"] == [
        c for c in targets.CLASSIFIERS if c in config["tasks"]["valence3"]
    ] == config["tasks"]["valence3"]
    assert folds(shuffled) == folds(config) == [f"Ses0{n}{g}" for n in range(1, 6) for g in "FM"]
    assert bundle_dirs(shuffled) == bundle_dirs(config)
    assert repr(config_sections(shuffled, "svm")) == repr(config_sections(config, "svm"))
    # The canonical orders are the tables' and the schema's.
    schema = load_schema(SCHEMA)["properties"]["tasks"]
    assert list(targets.TASKS) == schema["propertyNames"]["enum"] == list(metrics.TASKS)
    assert list(targets.CLASSIFIERS) == schema["additionalProperties"]["items"]["enum"]
    assert list(targets.CLASSIFIERS) == list(metrics.CLASSIFIERS)


def test_bundle_metrics_come_from_its_own_classifiers_predictions() -> None:
    """A bundle's cross-validation inputs are its own (task, classifier)'s fold predictions,
    not the metrics of every classifier; none for a combination the run does not
    cross-validate."""
    config = validate_config(yaml.safe_load((REPO / "config.yaml").read_text()), SCHEMA)
    paths = cv_predictions(config, "valence3", "svm_vf")
    assert paths == [f"results/models/valence3/svm_vf/{fold}/predictions.parquet"
                     for fold in folds(config)]
    assert cv_predictions(config, "valence3", "svm_v") == []
    assert cv_predictions(config, "clusters3", "hmm_v") == []
