# Metrics per fold, the paper's tables for this run, significance and figures. Tables and
# figures are registered for `snakemake --report` (captions in workflow/report/).

from affectflow.targets import TASK_LABELS


rule aggregate_metrics:
    input:
        prediction_files(),
    output:
        "results/metrics/per_fold.parquet",
    params:
        ids=prediction_keys(),
    log:
        "logs/results/aggregate_metrics.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=scaled_by_attempt(10),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/aggregate_metrics.py"


rule make_table1:
    input:
        cfs_files(),
    output:
        csv=report(
            "results/tables/table1.csv",
            caption="../report/table1.rst",
            category="Tables",
            labels={"table": "Table 1", "content": "CFS-selected features per group"},
        ),
        md="results/tables/table1.md",
    params:
        ids=cfs_keys(),
        note=corpus_note(),
        synthetic=is_synthetic(),
    log:
        "logs/results/table1.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=scaled_by_attempt(5),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/make_table1.py"


rule make_tables:
    input:
        "results/metrics/per_fold.parquet",
    output:
        table2=report(
            "results/tables/table2.csv",
            caption="../report/table2.rst",
            category="Tables",
            labels={"table": "Table 2", "content": "valence and activation levels"},
        ),
        table2_md="results/tables/table2.md",
        table3=report(
            "results/tables/table3.csv",
            caption="../report/table3.rst",
            category="Tables",
            labels={"table": "Table 3", "content": "3, 4 and 5 clusters"},
        ),
        table3_md="results/tables/table3.md",
        table4=report(
            "results/tables/table4.csv",
            caption="../report/table4.rst",
            category="Tables",
            labels={"table": "Table 4", "content": "what context adds"},
        ),
        table4_md="results/tables/table4.md",
        significance=report(
            "results/tables/significance.csv",
            caption="../report/significance.rst",
            category="Tables",
            labels={"table": "significance", "content": "BLSTM vs. each classifier (F1)"},
        ),
    params:
        note=corpus_note(),
        synthetic=is_synthetic(),
    log:
        "logs/results/tables.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=scaled_by_attempt(5),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/make_tables.py"


rule make_figures:
    input:
        per_fold="results/metrics/per_fold.parquet",
        table1="results/tables/table1.csv",
        labels=f"results/folds/{FOLDS[0]}/labels.parquet",
        clusters=f"results/folds/{FOLDS[0]}/clusters.json",
        index="results/index/utterances.parquet",
    output:
        annotations=report(
            "results/figures/figure2.png",
            caption="../report/figure2.rst",
            category="Figures",
            subcategory="Figure 2",
            labels={"task": "3 clusters", "folds": f"{FOLDS[0]} (training speakers)"},
        ),
        table1=report(
            "results/figures/table1.png",
            caption="../report/table1_chart.rst",
            category="Figures",
            subcategory="Table 1 as bars",
            labels={"task": "all", "folds": "mean over all"},
        ),
        **{
            f"confusion_{task}": report(
                f"results/figures/confusion_{task}.png",
                caption="../report/confusion.rst",
                category="Figures",
                subcategory="Confusion matrices",
                labels={"task": TASK_LABELS.get(task, task), "folds": "summed over all"},
            )
            for task in TASKS
        },
        **{
            f"f1_{task}": report(
                f"results/figures/f1_{task}.png",
                caption="../report/f1_per_fold.rst",
                category="Figures",
                subcategory="F1 per fold",
                labels={"task": TASK_LABELS.get(task, task), "folds": "each"},
            )
            for task in TASKS
        },
    params:
        fold=FOLDS[0],
        note=corpus_note(),
    log:
        "logs/results/figures.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=scaled_by_attempt(10),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/make_figures.py"
