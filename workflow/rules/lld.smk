# Low-level descriptors per session. Cached between workflows (`--cache`): two experiments
# over the same corpus share them. (Snakemake forbids `benchmark:` on cached rules; the job
# logs carry start/end times instead.) The extraction streams one utterance at a time, so its
# memory does not grow with the session; limits grow with the attempt.
#
# The cache key (Snakemake's provenance hash) covers the rule's script, its params and the
# upstream jobs, but not wildcards: the session therefore is a param too, or every session
# would share one cache entry. Nor does it cover the affectflow package the script calls: the
# param `code` is a hash of the code that computes each kind of LLD (affectflow.provenance:
# the entry function and its helpers, the LLD modules and every affectflow module they import),
# so changed LLD code gets new cache entries, and reruns the LLD jobs of an existing run.
# "omit-software": the cache assumes one software environment (Praat/parselmouth, numpy, ...).


rule extract_audio_lld:
    input:
        index="results/index/utterances.parquet",
    output:
        multiext("results/lld/{session}/audio", ".parquet", ".excluded.tsv"),
    params:
        session=lambda wildcards: wildcards.session,
        options=canonical(
            {
                "utterances": config["corpus"]["utterances"],
                "strict": config["strict"],
                "pitch_ceiling": config["lld"]["pitch_ceiling"],
            }
        ),
        code=lld_code_hash("audio"),
    cache: "omit-software"
    conda:
        "../../envs/affectflow.yaml"
    log:
        "logs/lld/{session}/audio.log",
    threads: 1
    resources:
        mem_mb=scaled_by_attempt(1500),
        runtime=scaled_by_attempt(30),
    script:
        "../scripts/extract_audio_lld.py"


rule extract_face_lld:
    input:
        index="results/index/utterances.parquet",
    output:
        multiext("results/lld/{session}/face", ".parquet", ".excluded.tsv"),
    params:
        session=lambda wildcards: wildcards.session,
        options=canonical(
            {
                "utterances": config["corpus"]["utterances"],
                "strict": config["strict"],
                "max_gap_frames": config["lld"]["max_gap_frames"],
            }
        ),
        code=lld_code_hash("face"),
    cache: "omit-software"
    conda:
        "../../envs/affectflow.yaml"
    log:
        "logs/lld/{session}/face.log",
    threads: 1
    resources:
        mem_mb=scaled_by_attempt(1500),
        runtime=scaled_by_attempt(30),
    script:
        "../scripts/extract_face_lld.py"


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
        mem_mb=scaled_by_attempt(500),
        runtime=scaled_by_attempt(5),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/collect_lld_exclusions.py"
