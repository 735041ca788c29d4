"""Stage functions of the workflow, one module per rule file (``workflow/rules/<name>.smk`` ->
``affectflow.stages.<name>``): each function reads its input files, calls the library and
writes its outputs, and takes paths and typed parameters, never a Snakemake object, nor a
path to parse: ``workflow/rules/common.smk`` owns the results layout and passes what a stage
needs (task, classifier, fold, whether the corpus is synthetic) as params. Every rule's script
(``workflow/scripts/<rule>.py``) calls one of these functions, so the DAG can be driven and
tested from Python without Snakemake.
"""
