"""Config validation: defaults from the schema, bad values named by key before any job runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from affectflow.config import validate_config
from affectflow.errors import ConfigError
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
    schema = yaml.safe_load(SCHEMA.read_text())

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
