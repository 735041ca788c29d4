# Metrics per fold, the paper's tables for this run, significance and figures.


rule aggregate_metrics:
    input:
        prediction_files(),
    output:
        "results/metrics/per_fold.parquet",
    log:
        "logs/results/aggregate_metrics.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/aggregate_metrics.py"


rule make_table1:
    input:
        cfs_files(),
    output:
        csv="results/tables/table1.csv",
        md="results/tables/table1.md",
    params:
        note=corpus_note(),
    log:
        "logs/results/table1.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/make_table1.py"


rule make_tables:
    input:
        "results/metrics/per_fold.parquet",
    output:
        table2="results/tables/table2.csv",
        table2_md="results/tables/table2.md",
        table3="results/tables/table3.csv",
        table3_md="results/tables/table3.md",
        significance="results/tables/significance.csv",
    params:
        note=corpus_note(),
    log:
        "logs/results/tables.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/make_tables.py"
