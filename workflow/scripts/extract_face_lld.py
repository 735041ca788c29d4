"""Rule extract_face_lld: one session's face marker LLDs to Parquet."""

from affectflow.logs import job_log
from affectflow.stages import lld

with job_log(snakemake.log[0]) as log:
    lld.extract_lld(
        "face",
        index_path=snakemake.input.index,
        session=snakemake.params.session,
        out_path=snakemake.output[0],
        excluded_path=snakemake.output[1],
        utterances=snakemake.params.utterances,
        strict=snakemake.params.strict,
        max_gap_frames=snakemake.params.max_gap_frames,
        log=log,
    )
