"""Rule extract_audio_lld: one session's audio LLDs to Parquet."""

from affectflow.logs import job_log
from affectflow.stages import lld

with job_log(snakemake.log[0]) as log:
    lld.extract_lld(
        "audio",
        index_path=snakemake.input.index,
        session=snakemake.params.session,
        out_path=snakemake.output[0],
        excluded_path=snakemake.output[1],
        utterances=snakemake.params.utterances,
        strict=snakemake.params.strict,
        max_gap_frames=0,
        pitch_ceiling=snakemake.params.pitch_ceiling,
        log=log,
    )
