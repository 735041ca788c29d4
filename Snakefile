# affectflow: Wöllmer et al. (2010), context-sensitive multimodal emotion recognition, as a DAG.
# corpus -> index -> LLDs -> per-fold artifacts -> models -> tables. See docs/architecture.md.

from snakemake.utils import min_version

from affectflow.config import validate_config

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


validate_config(config, workflow.source_path("workflow/schemas/config.schema.yaml"))


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/lld.smk"
include: "workflow/rules/folds.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/final.smk"


rule all:
    input:
        get_final_outputs(),
    default_target: True
