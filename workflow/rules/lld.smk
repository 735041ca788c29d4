# Low-level descriptors per session. Cached between workflows (`--cache`): two experiments
# over the same corpus share them. (Snakemake forbids `benchmark:` on cached rules; the job
# logs carry start/end times instead.)


rule extract_audio_lld:
    input:
        index="results/index/utterances.parquet",
    output:
        multiext("results/lld/{session}/audio", ".parquet", ".excluded.tsv"),
    params:
        utterances=config["corpus"]["utterances"],
        strict=config["strict"],
    cache: "omit-software"
    conda:
        "../../envs/affectflow.yaml"
    log:
        "logs/lld/{session}/audio.log",
    threads: 1
    resources:
        mem_mb=1500,
        runtime=lambda wildcards, attempt: 30 * attempt,
    script:
        "../scripts/extract_lld.py"


rule extract_face_lld:
    input:
        index="results/index/utterances.parquet",
    output:
        multiext("results/lld/{session}/face", ".parquet", ".excluded.tsv"),
    params:
        utterances=config["corpus"]["utterances"],
        strict=config["strict"],
        max_gap_frames=config["lld"]["max_gap_frames"],
    cache: "omit-software"
    conda:
        "../../envs/affectflow.yaml"
    log:
        "logs/lld/{session}/face.log",
    threads: 1
    resources:
        mem_mb=1500,
        runtime=lambda wildcards, attempt: 30 * attempt,
    script:
        "../scripts/extract_lld.py"


rule collect_lld_exclusions:
    input:
        audio="results/lld/{session}/audio.excluded.tsv",
        face="results/lld/{session}/face.excluded.tsv",
    output:
        "results/lld/{session}/excluded.tsv",
    log:
        "logs/lld/{session}/excluded.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/collect_exclusions.py"
