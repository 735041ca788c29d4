"""The shape of the code: rule file = stage module, one script per rule named after it, scripts
that never dispatch on the rule, stages that never spell the results layout."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from affectflow import registry
from tests.conftest import SNAKEMAKE, make_workdir, tiny_config

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "workflow" / "rules"
SCRIPTS = REPO / "workflow" / "scripts"
STAGES = REPO / "src" / "affectflow" / "stages"

#: ``rule name:`` ... ``script: "../scripts/<file>"`` of the rules defined by name.
_NAMED_RULE = re.compile(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", re.M | re.S)
_SCRIPT = re.compile(r'script:\s*\n\s*"\.\./scripts/([\w.]+)\.py"')


def named_rules() -> dict[str, str | None]:
    """Rule name -> the stem of its script (None: no script), Snakefile and rule files."""
    out: dict[str, str | None] = {}
    for path in (REPO / "Snakefile", *sorted(RULES.glob("*.smk"))):
        for name, body in _NAMED_RULE.findall(path.read_text()):
            match = _SCRIPT.search(body)
            out[name] = match.group(1) if match else None
    return out


#: Script of each rule block of models.smk, picked by what the family reads: the rules the
#: registry makes in a loop share the block's script (a new classifier or family needs no new
#: file), and it must be a literal, as Snakemake evaluates `script:` when a job runs (a path
#: built from the loop variable would be the last iteration's for every rule of the loop).
READS_SCRIPTS = {"frames": "train_hmm", "scores": "train_hmm_lm", "rows": "train_models",
                 "sequences": "train_models"}


def registry_rules() -> dict[str, str]:
    """Training rule of each cross-validated classifier -> its block's script stem."""
    return {c.rule: READS_SCRIPTS[registry.family(c.family).reads]
            for c in map(registry.classifier, registry.CLASSIFIERS)}


def test_script_paths_are_literals() -> None:
    """No `script:` path is an f-string or an expression (see :data:`READS_SCRIPTS`)."""
    for path in RULES.glob("*.smk"):
        for match in re.finditer(r"script:\s*\n\s*(\S+)", path.read_text()):
            assert re.fullmatch(r'"\.\./scripts/\w+\.py"', match.group(1)), (path, match[1])


def test_no_script_dispatches_on_its_rule() -> None:
    offenders = [p.name for p in SCRIPTS.glob("*.py") if "snakemake.rule" in p.read_text()]
    assert offenders == []


def test_every_rule_has_a_script_of_its_own_name() -> None:
    rules = named_rules()
    for name, script in rules.items():
        if name != "all":
            assert script == name, f"rule {name} runs script {script}.py"
    for family_script in set(registry_rules().values()):
        assert (SCRIPTS / f"{family_script}.py").is_file(), family_script
    used = {s for s in rules.values() if s} | set(registry_rules().values())
    assert {p.stem for p in SCRIPTS.glob("*.py")} == used, "a script no rule runs"


def test_the_workflow_defines_exactly_these_rules(tmp_path: Path) -> None:
    """What Snakemake lists (every classifier configured) = the named rules + the registry's."""
    config = tiny_config()
    config["tasks"]["valence3"] = list(registry.CLASSIFIERS)  # the opt-in ablations too
    workdir = make_workdir(tmp_path, config)
    proc = subprocess.run(
        [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--list-rules"],
        capture_output=True, text=True, check=True,
    )
    listed = {line.strip() for line in proc.stdout.splitlines() if line.strip()}
    assert listed == set(named_rules()) | set(registry_rules())


def test_rule_files_and_stage_modules_match() -> None:
    """Each rule file has its stage module of the same name (the Snakefile's own rule aside)."""
    rule_files = {p.stem for p in RULES.glob("*.smk")} - {"common"}
    assert rule_files == {p.stem for p in STAGES.glob("*.py")} - {"__init__"}


def test_no_stage_spells_the_results_layout() -> None:
    """common.smk owns the results layout; stages get paths and ids as arguments."""
    offenders = [p.name for p in STAGES.glob("*.py") if "results/" in p.read_text()]
    assert offenders == []


def test_scripts_only_call_one_stage_function() -> None:
    """A script imports the job log and stage modules, and calls one stage function."""
    for path in SCRIPTS.glob("*.py"):
        text = path.read_text()
        calls = re.findall(r"^\s+(\w+)\.(\w+)\(", text, re.M)
        stage_calls = [c for c in calls if c[0] in {p.stem for p in STAGES.glob("*.py")}]
        assert len(stage_calls) == 1, f"{path.name}: {calls}"
