"""Rules extract_audio_lld / extract_face_lld: one session's LLDs to Parquet."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    kind = "audio" if snakemake.rule == "extract_audio_lld" else "face"
    pipeline.extract_lld(
        kind,
        index_path=snakemake.input.index,
        session=snakemake.params.session,
        out_path=snakemake.output[0],
        excluded_path=snakemake.output[1],
        utterances=snakemake.params.utterances,
        strict=snakemake.params.strict,
        max_gap_frames=snakemake.params.get("max_gap_frames", 0),
        pitch_ceiling=snakemake.params.get("pitch_ceiling"),
        log=log,
    )
