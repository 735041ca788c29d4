"""One synthetic dialog: turn timeline, latent emotion, annotation, and all its files.

Every dialog is generated from its own random streams, seeded from (seed, session, dialog
index), so the corpus is the same whether dialogs are generated one after another or in
parallel. Three streams keep concerns apart: the structure (turns, emotion), the annotation,
and the signals (audio, face), so changing the synthesiser never changes the labels.
"""

from __future__ import annotations

import math
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from affectflow.corpus import layout
from affectflow.corpus.synth_audio import (
    ENVELOPE_RATE,
    Voice,
    make_voice,
    synthesize,
    utterance_gain,
)
from affectflow.corpus.synth_emotion import (
    Annotation,
    DialogEmotion,
    annotate,
    dialog_emotion,
    format_block,
    make_raters,
)
from affectflow.corpus.synth_face import (
    Face,
    add_gaps,
    face_frames,
    format_mocap,
    listening_motion,
    make_face,
    speech_motion,
    utterance_display,
)

EMO_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n"
_APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(58)

# random-stream keys (third element of the seed sequence)
_STREAM_RATERS = 1
_STREAM_SPEAKER = {"F": 10, "M": 11}
_STREAM_DIALOG = 1000  # + dialog index; sub-streams 0 structure, 1 annotation, 2 signals, 3 text


@dataclass(frozen=True)
class DialogSpec:
    """What to generate: a dialog of a session, its position (for seeding) and size."""

    session: int
    index: int
    name: str
    n_turns: int


@dataclass(frozen=True)
class Style:
    """Preset-dependent shape of utterances."""

    duration_median: float
    duration_sigma: float
    duration_range: tuple[float, float]
    edge_silence: tuple[float, float]
    p_same_speaker: float
    min_turns_per_speaker: int


@dataclass(frozen=True)
class Speaker:
    """A synthetic actor: voice and face."""

    voice: Voice
    face: Face


@dataclass(frozen=True)
class Turn:
    """One utterance of the dialog timeline."""

    utt_id: str
    gender: str
    start: str  # 4-decimal text as written; floats parse from it
    end: str
    index: int  # position in time order


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """An independent generator for (seed, key...)."""
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


@lru_cache(maxsize=64)
def speaker(seed: int, session: int, gender: str) -> Speaker:
    """The actor of a session and gender (same in every dialog of the session)."""
    rng = rng_for(seed, session, _STREAM_SPEAKER[gender])
    return Speaker(voice=make_voice(rng, gender), face=make_face(rng))


def scenario_of(dialog: str) -> tuple[str, bool]:
    """Scenario name (``impro05``, ``script01``) and whether the dialog is scripted."""
    part = dialog.split("_")[1]
    return part[:7] if part.startswith("impro") else part[:8], part.startswith("script")


def timeline(rng: np.random.Generator, spec: DialogSpec, style: Style) -> list[Turn]:
    """Turns in time order: alternating speakers, log-normal durations, small overlaps."""
    genders = _speaker_sequence(rng, spec.n_turns, style)
    lo, hi = style.duration_range
    durations = np.clip(
        rng.lognormal(np.log(style.duration_median), style.duration_sigma, spec.n_turns), lo, hi
    )
    turns: list[Turn] = []
    counters = {"F": 0, "M": 0}
    t = rng.uniform(1.0, 5.0)
    prev_start, prev_end = -1.0, t
    for i, (g, dur) in enumerate(zip(genders, durations, strict=True)):
        if i > 0:
            same = g == genders[i - 1]
            gap = rng.uniform(0.2, 1.2) if same else float(np.clip(rng.normal(0.5, 0.6), -0.5, 3))
            t = max(prev_end + gap, prev_start + 0.3)
        start, end = f"{t:.4f}", f"{t + dur:.4f}"
        turns.append(Turn(f"{spec.name}_{g}{counters[g]:03d}", g, start, end, i))
        counters[g] += 1
        prev_start, prev_end = float(start), float(end)
    return turns


def _speaker_sequence(rng: np.random.Generator, n: int, style: Style) -> list[str]:
    """Mostly alternating F/M with occasional repeats; each speaker gets enough turns."""
    need = min(style.min_turns_per_speaker, n // 2)
    for _ in range(100):
        seq = [str(rng.choice(["F", "M"]))]
        for _ in range(n - 1):
            repeat = rng.random() < style.p_same_speaker
            seq.append(seq[-1] if repeat else ("M" if seq[-1] == "F" else "F"))
        if min(seq.count("F"), seq.count("M")) >= need:
            return seq
    return ["F" if i % 2 == 0 else "M" for i in range(n)]


@dataclass(frozen=True)
class DialogLabels:
    """A dialog's structure and annotation: what the labels depend on (no signals)."""

    turns: list[Turn]
    emotion: DialogEmotion
    annotations: dict[str, Annotation]


_COL = {"F": 0, "M": 1}


def dialog_labels(seed: int, spec: DialogSpec, style: Style) -> DialogLabels:
    """Timeline, latent emotion and annotation of a dialog, from the structure and annotation
    streams only: the signal streams never influence them."""
    base = _STREAM_DIALOG + spec.index
    rng_struct = rng_for(seed, spec.session, base, 0)
    rng_ann = rng_for(seed, spec.session, base, 1)
    turns = timeline(rng_struct, spec, style)
    scenario, scripted = scenario_of(spec.name)
    emotion = dialog_emotion(rng_struct, scenario, spec.n_turns, scripted)
    raters = make_raters(rng_for(seed, spec.session, _STREAM_RATERS))
    annotations: dict[str, Annotation] = {}
    for turn in turns:
        v = float(emotion.valence[turn.index, _COL[turn.gender]])
        a = float(emotion.activation[turn.index, _COL[turn.gender]])
        annotations[turn.utt_id] = annotate(rng_ann, raters, v, a, f"{turn.gender}{spec.session}")
    return DialogLabels(turns=turns, emotion=emotion, annotations=annotations)


def generate_dialog(root: Path, seed: int, spec: DialogSpec, style: Style) -> list[dict]:
    """Write every file of one dialog; return its ground-truth rows (one per utterance)."""
    base = _STREAM_DIALOG + spec.index
    rng_sig = rng_for(seed, spec.session, base, 2)
    labels = dialog_labels(seed, spec, style)
    emotion = labels.emotion
    wearer = spec.name[5]
    rows = []
    for turn in labels.turns:
        v = float(emotion.valence[turn.index, _COL[turn.gender]])
        a = float(emotion.activation[turn.index, _COL[turn.gender]])
        wearer_state = (
            float(emotion.valence[turn.index, _COL[wearer]]),
            float(emotion.activation[turn.index, _COL[wearer]]),
        )
        _write_signals(root, rng_sig, seed, spec, style, turn, (v, a), wearer_state)
        rows.append(_truth_row(spec, turn, wearer, labels.annotations[turn.utt_id], v, a))
    _write_texts(root, spec, labels.turns, labels.annotations,
                 rng_for(seed, spec.session, base, 3))
    return rows


def _write_signals(
    root: Path,
    rng: np.random.Generator,
    seed: int,
    spec: DialogSpec,
    style: Style,
    turn: Turn,
    state: tuple[float, float],
    wearer_state: tuple[float, float],
) -> None:
    """The utterance's wav (speaker's voice) and MOCAP file (wearer's face)."""
    start, end = float(turn.start), float(turn.end)
    actor = speaker(seed, spec.session, turn.gender)
    n_samples = round((end - start) * layout.SAMPLE_RATE)
    speech = synthesize(rng, actor.voice, state[0], state[1], n_samples, style.edge_silence,
                        gain=utterance_gain(rng))
    _write_wav(layout.wav_path(root, spec.session, spec.name, turn.utt_id), speech.samples)
    first = math.ceil(round(start * layout.MOCAP_FPS, 6))
    n_frames = max(math.ceil(round(end * layout.MOCAP_FPS, 6)) - first, 1)
    wearer = spec.name[5]
    speaking = turn.gender == wearer
    if speaking:
        t = (first + np.arange(n_frames)) / layout.MOCAP_FPS - start
        motion = speech_motion(rng, t, ENVELOPE_RATE, speech.envelope, speech.vowel,
                               speech.fricative, speech.syllable_start, state[1])
    else:
        motion = listening_motion(rng, n_frames)
    face = speaker(seed, spec.session, wearer).face
    coords = face_frames(rng, face, wearer_state[0], wearer_state[1], motion,
                         utterance_display(rng), speaking)
    add_gaps(rng, coords, end - start)
    path = layout.mocap_path(root, spec.session, spec.name, turn.utt_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(format_mocap(first + 1, coords))


def _write_wav(path: Path, samples: np.ndarray) -> None:
    """16 kHz mono 16-bit PCM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(layout.SAMPLE_RATE)
        w.writeframes(samples.astype("<i2").tobytes())


def _truth_row(
    spec: DialogSpec, turn: Turn, wearer: str, ann: Annotation, v: float, a: float
) -> dict:
    return {
        "utt_id": turn.utt_id,
        "session": spec.session,
        "dialog": spec.name,
        "speaker": layout.speaker_id(spec.session, turn.gender),
        "gender": turn.gender,
        "wearer": turn.gender == wearer,
        "start": float(turn.start),
        "end": float(turn.end),
        "valence": ann.summary[0],
        "activation": ann.summary[1],
        "dominance": ann.summary[2],
        "code": ann.code,
        "latent_valence": v,
        "latent_activation": a,
        "n_raters": len(ann.attribute),
    }


def _write_texts(
    root: Path,
    spec: DialogSpec,
    turns: list[Turn],
    annotations: dict[str, Annotation],
    rng: np.random.Generator,
) -> None:
    """EmoEvaluation (blocks grouped by speaker), transcription, and the evaluation junk."""
    emo_dir = layout.emo_evaluation_dir(root, spec.session)
    emo_dir.mkdir(parents=True, exist_ok=True)
    by_speaker = sorted(turns, key=lambda t: (t.gender, t.utt_id))
    blocks = [format_block(t.utt_id, t.start, t.end, annotations[t.utt_id]) for t in by_speaker]
    (emo_dir / f"{spec.name}.txt").write_text(EMO_HEADER + "\n" + "\n".join(blocks) + "\n")
    tr = layout.transcription_path(root, spec.session, spec.name)
    tr.parent.mkdir(parents=True, exist_ok=True)
    tr.write_text("".join(
        f"{t.utt_id} [{float(t.start):08.4f}-{float(t.end):08.4f}]: "
        f"{_pseudo_text(rng, float(t.end) - float(t.start))}\n"
        for t in turns
    ))
    _write_junk(emo_dir, spec, turns, annotations)


_ONSETS = ("b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "")
_NUCLEI = ("a", "e", "i", "o", "u", "ay", "ee", "oo")


def _pseudo_text(rng: np.random.Generator, duration: float) -> str:
    """Pronounceable nonsense, about 2.5 words per second."""
    words = []
    for _ in range(max(1, round(duration * 2.5 + rng.normal(0.0, 0.7)))):
        n_syl = int(rng.integers(1, 4))
        words.append("".join(
            _ONSETS[rng.integers(len(_ONSETS))] + _NUCLEI[rng.integers(len(_NUCLEI))]
            for _ in range(n_syl)
        ))
    text = " ".join(words)
    return text[0].upper() + text[1:] + str(rng.choice([".", ".", ".", "?", "!"]))


def _write_junk(
    emo_dir: Path, spec: DialogSpec, turns: list[Turn], annotations: dict[str, Annotation]
) -> None:
    """Per-rater files in Categorical/, Attribute/, Self-evaluation/ (not evaluations) and an
    AppleDouble ``._<dialog>.txt`` in sessions 2 and 4: all must be ignored by the loader."""
    cat: dict[str, list[str]] = {}
    att: dict[str, list[str]] = {}
    own: list[str] = []
    for t in turns:
        ann = annotations[t.utt_id]
        for rater, names, comment in ann.categorical:
            cat.setdefault(rater, []).append(f"{t.utt_id} :{'; '.join(names)}; ({comment})")
        for rater, val, act, dom, _ in ann.attribute:
            att.setdefault(rater, []).append(
                f"{t.utt_id} :act {act}; val {val}; dom  {'' if dom is None else dom}; ()"
            )
        if ann.self_attribute is not None:
            _, val, act, dom, _ = ann.self_attribute
            own.append(f"{t.utt_id} :act {act}; val {val}; dom  {dom}; ()")
    for sub, table, suffix in (("Categorical", cat, "cat"), ("Attribute", att, "atr")):
        (emo_dir / sub).mkdir(exist_ok=True)
        for rater, lines in sorted(table.items()):
            name = f"{spec.name}_{rater.lower()}_{suffix}.txt"
            (emo_dir / sub / name).write_text("\n".join(lines) + "\n")
    (emo_dir / "Self-evaluation").mkdir(exist_ok=True)
    (emo_dir / "Self-evaluation" / f"{spec.name}.txt").write_text("\n".join(own) + "\n")
    if spec.session in (2, 4) and spec.index == 0:
        (emo_dir / f"._{spec.name}.txt").write_bytes(_APPLEDOUBLE)
