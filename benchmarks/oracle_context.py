"""Oracle context gain of the synthetic corpus (issue 15, item 4): writes oracle_context.md.

For each preset, the UAR of the best level decision (low/medium/high) from one utterance's
evidence vs from the whole dialog's evidence, computed from the generator's own model by
:func:`affectflow.corpus.oracle.oracle_context_gain` (no classifier of the project; no corpus
files are written). Evidence noise at the generator's levels (scale 1), plus scale 0 (noise-free
evidence: no gain possible), 2, and the evidence of the generator before issue 15 item 4
("previous": ``oracle.PREVIOUS_NOISES``) for reference.

    .venv/bin/python benchmarks/oracle_context.py [--presets tiny demo iemocap] [--out PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from affectflow.corpus.oracle import PREVIOUS_NOISES, evidence_summary, oracle_context_gain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="*", default=["tiny", "demo", "iemocap"])
    parser.add_argument("--scales", nargs="*", default=["1", "0", "2", "previous"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".md"))
    args = parser.parse_args()

    lines = [
        "# Oracle context gain",
        "",
        f"`benchmarks/oracle_context.py`, seed {args.seed}. UAR of the level decision "
        "(low/medium/high of the rater-mean label) of the marker wearer's utterances, from one "
        "utterance's evidence (single) and from the whole dialog's (sequence); mean over 10 "
        "draws of the evidence. MAP: level of highest posterior probability; balanced: highest "
        "posterior / prior. Noise scale 1 is the generator's; 0 makes the evidence the latent "
        "state itself; previous: the evidence of the generator before issue 15 item 4.",
        "",
        "| preset | dimension | noise scale | utterances | UAR single | UAR sequence | gain "
        "| balanced: single | sequence | gain |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for preset in args.presets:
        for scale in args.scales:
            t0 = time.perf_counter()
            if scale == "previous":
                res = oracle_context_gain(preset, args.seed, noises=PREVIOUS_NOISES)
            else:
                res = oracle_context_gain(preset, args.seed, noise_scale=float(scale))
            print(f"{preset} scale {scale}: {time.perf_counter() - t0:.1f} s", flush=True)
            for dim, r in res.items():
                lines.append(
                    f"| {preset} | {dim} | {scale} | {r['n']} | {r['uar_single']:.3f} "
                    f"| {r['uar_sequence']:.3f} | {r['gain']:+.3f} "
                    f"| {r['balanced_uar_single']:.3f} | {r['balanced_uar_sequence']:.3f} "
                    f"| {r['balanced_gain']:+.3f} |"
                )
                print(lines[-1], flush=True)
    lines += ["", "Evidence noise (rating scale; `synth_face`/`synth_audio` constants):", ""]
    for dim, noise in evidence_summary().items():
        lines.append(f"- {dim}: " + ", ".join(f"{k} {v:.3f}" for k, v in noise.items()))
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
