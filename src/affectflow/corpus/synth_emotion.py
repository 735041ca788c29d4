"""Latent emotion and its annotation in the synthetic corpus.

The latent state of both speakers of a dialog, (valence, activation) on the 1..5 rating scale,
is known at every turn: a dialog mood (the scenario's, shifted per dialog; scripted dialogs
move along an arc from a start to an end mood) plus a per-speaker offset plus an AR(1)
deviation with high autocorrelation, coupled between the two speakers (each is pulled towards
the other's deviation). Emotion therefore changes slowly within a conversation and the
partners influence each other: the assumption behind the paper's context modelling.

Annotation: external raters E1..E6 of a session (each with a small personal bias) are noisy
integer observers of the latent state (rounded, clipped to 1..5); the block summary is the mean
of 2-4 of them. Categorical raters perceive the state with noise and pick a category near it
(sometimes two); the code is the majority category, or ``xxx`` when there is none. The
speaker's own self-evaluation exaggerates the state and never enters the summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Scenario moods (V, A) at the start and end of a dialog, on the 1..5 scale. Invented, loosely
#: after IEMOCAP's elicitation design (improvisations of frustrating, sad, happy and angry
#: situations; three plays with emotional turns).
SCENARIOS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "impro01": ((2.4, 3.2), (2.2, 3.4)),  # frustration at an office counter
    "impro02": ((2.3, 2.5), (2.2, 2.4)),  # sad farewell
    "impro03": ((3.9, 3.5), (4.1, 3.7)),  # happy news
    "impro04": ((2.8, 2.8), (2.6, 2.9)),  # disappointment
    "impro05": ((2.2, 3.5), (2.0, 3.8)),  # anger at a lost item
    "impro06": ((2.1, 2.4), (2.2, 2.3)),  # grief
    "impro07": ((3.8, 3.4), (3.9, 3.6)),  # excitement about a new job
    "impro08": ((3.0, 2.9), (2.8, 3.0)),  # small talk, mild irritation
    "script01": ((3.1, 2.9), (2.1, 3.6)),  # a quarrel builds up
    "script02": ((2.5, 2.5), (3.4, 2.8)),  # sadness turns into reconciliation
    "script03": ((3.8, 3.4), (2.1, 3.7)),  # happy start, angry end
}

#: Category names as written in rater lines, their codes, prototype (V, A) and prior weight.
CATEGORIES: tuple[tuple[str, str, float, float, float], ...] = (
    ("Neutral", "neu", 3.0, 2.7, 1.4),
    ("Frustration", "fru", 2.2, 3.2, 1.0),
    ("Anger", "ang", 1.8, 4.0, 0.8),
    ("Sadness", "sad", 1.9, 2.2, 0.9),
    ("Happiness", "hap", 4.1, 3.2, 0.8),
    ("Excited", "exc", 4.0, 3.9, 0.9),
    ("Surprise", "sur", 3.4, 4.1, 0.15),
    ("Fear", "fea", 2.0, 3.7, 0.1),
    ("Disgust", "dis", 1.8, 3.1, 0.05),
    ("Other", "oth", 3.0, 3.0, 0.05),
)
_CAT_VA = np.array([[c[2], c[3]] for c in CATEGORIES])
_CAT_PRIOR = np.array([c[4] for c in CATEGORIES])

N_EXTERNAL_RATERS = 6
RATER_NOISE = (0.55, 0.55, 0.6)  # sd of a rater's V, A, D reading of the latent state
_CATEGORY_NOISE = 0.2  # sd of a categorical rater's perception of (V, A)
_CATEGORY_WIDTH = 0.35  # sd of the Gaussian similarity to a category prototype
RATER_BIAS_SD = 0.2  # sd of a rater's personal bias per dimension
N_RATERS_CHOICES, N_RATERS_P = (2, 3, 4), (0.6, 0.3, 0.1)  # dimensional raters per utterance
# Latent state (valence, activation): sd of the per-dialog mood shift, of the impro end-mood
# drift and of the per-dialog speaker offset; the coupled AR(1) deviation.
MOOD_SHIFT_SD = (0.35, 0.25)
IMPRO_DRIFT_SD = (0.2, 0.15)
SPEAKER_OFFSET_SD = (0.2, 0.15)
AR_PHI, AR_KAPPA, AR_INNOVATION = 0.9, 0.12, (0.22, 0.17)
_COMMENTS = ("slightly", "not sure", "mixed", "sarcastic", "quiet", "hard to tell")
_P_COMMENT = 0.08


@dataclass(frozen=True)
class Raters:
    """A session's pool of external raters: personal biases in (V, A, D)."""

    bias: np.ndarray  # (N_EXTERNAL_RATERS, 3)


def make_raters(rng: np.random.Generator) -> Raters:
    """Draw a session's rater pool."""
    return Raters(bias=rng.normal(0.0, RATER_BIAS_SD, (N_EXTERNAL_RATERS, 3)))


@dataclass(frozen=True)
class DialogEmotion:
    """Latent state of both speakers at every turn: arrays (n_turns, 2), columns F, M."""

    valence: np.ndarray
    activation: np.ndarray


def dialog_emotion(
    rng: np.random.Generator, scenario: str, n_turns: int, scripted: bool
) -> DialogEmotion:
    """Latent (V, A) trajectories of both speakers over the turns of a dialog.

    Per dimension: mood(t) + speaker offset + deviation, with the deviation an AR(1) process
    (phi 0.9) coupled between speakers (kappa 0.12). Impro moods stay near the scenario's
    start mood; scripted dialogs move linearly from the start to the end mood.
    """
    (v0, a0), (v1, a1) = SCENARIOS[scenario]
    if not scripted:
        v1, a1 = v0 + rng.normal(0.0, IMPRO_DRIFT_SD[0]), a0 + rng.normal(0.0, IMPRO_DRIFT_SD[1])
    shift = rng.normal(0.0, list(MOOD_SHIFT_SD))
    progress = np.linspace(0.0, 1.0, n_turns)[:, None]
    mood = np.array([v0, a0]) + shift + progress * (np.array([v1, a1]) - [v0, a0])
    offset = rng.normal(0.0, list(SPEAKER_OFFSET_SD), (2, 2))  # (speaker, dim)
    dev = _coupled_ar1(rng, n_turns, phi=AR_PHI, kappa=AR_KAPPA,
                       innovation=np.array(AR_INNOVATION))
    state = np.clip(mood[:, None, :] + offset[None] + dev, 1.0, 5.0)  # (turn, speaker, dim)
    return DialogEmotion(valence=state[:, :, 0], activation=state[:, :, 1])


def _coupled_ar1(
    rng: np.random.Generator, n: int, phi: float, kappa: float, innovation: np.ndarray
) -> np.ndarray:
    """(n, 2 speakers, dims) deviations: d_s <- phi d_s + kappa (d_other - d_s) + noise."""
    dims = len(innovation)
    stationary = innovation / np.sqrt(1.0 - phi * phi)
    d = rng.normal(0.0, stationary, (2, dims))
    out = np.empty((n, 2, dims))
    noise = rng.normal(0.0, innovation, (n, 2, dims))
    for t in range(n):
        d = phi * d + kappa * (d[::-1] - d) + noise[t]
        out[t] = d
    return out


@dataclass(frozen=True)
class Annotation:
    """The EmoEvaluation block of one utterance, before formatting."""

    code: str
    summary: tuple[float, float, float]  # 4-decimal V, A, D as written in the header
    attribute: tuple[tuple[str, int, int, int | None, str], ...]  # rater, val, act, dom, comment
    categorical: tuple[tuple[str, tuple[str, ...], str], ...]  # rater, category names, comment
    self_attribute: tuple[str, int, int, int | None, str] | None
    self_categorical: tuple[str, tuple[str, ...], str] | None


def annotate(
    rng: np.random.Generator,
    raters: Raters,
    valence: float,
    activation: float,
    self_rater: str,
    self_rate_prob: float = 0.6,
) -> Annotation:
    """Rate one utterance whose latent state is (valence, activation).

    ``self_rater`` is the speaker's self-evaluation id (``F1``, ``M3``, ...).
    """
    dominance = 3.0 + 0.6 * (activation - 3.0) - 0.2 * (valence - 3.0)
    latent = np.array([valence, activation, dominance])
    n_attr = int(rng.choice(list(N_RATERS_CHOICES), p=list(N_RATERS_P)))
    attr_ids = np.sort(rng.choice(N_EXTERNAL_RATERS, n_attr, replace=False))
    ratings = _integer_ratings(rng, latent + raters.bias[attr_ids], np.array(RATER_NOISE))
    dom: list[int | None] = [int(d) for d in ratings[:, 2]]
    if rng.random() < 0.03:  # a rater left dominance empty (never all of them)
        dom[int(rng.integers(0, n_attr))] = None
    attribute = tuple(
        (f"E{i + 1}", int(r[0]), int(r[1]), d, _comment(rng))
        for i, r, d in zip(attr_ids, ratings, dom, strict=True)
    )
    n_cat = int(rng.choice([3, 4], p=[0.85, 0.15]))
    cat_ids = np.sort(rng.choice(N_EXTERNAL_RATERS, n_cat, replace=False))
    categorical = tuple(
        (f"E{i + 1}", _perceive_categories(rng, latent[:2] + raters.bias[i, :2]), _comment(rng))
        for i in cat_ids
    )
    self_attr = self_cat = None
    if rng.random() < self_rate_prob:
        exaggerated = 3.0 + 1.3 * (latent - 3.0)
        r = _integer_ratings(rng, exaggerated[None], np.array(RATER_NOISE))[0]
        self_attr = (self_rater, int(r[0]), int(r[1]), int(r[2]), "")
        self_cat = (self_rater, _perceive_categories(rng, exaggerated[:2]), "")
    return Annotation(
        code=_majority([c[1] for c in categorical]),
        summary=_summary(attribute),
        attribute=attribute,
        categorical=categorical,
        self_attribute=self_attr,
        self_categorical=self_cat,
    )


def _integer_ratings(rng: np.random.Generator, means: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Integer 1..5 readings of ``means`` (rows: raters) with Gaussian noise."""
    return np.clip(np.rint(means + rng.normal(0.0, sd, means.shape)), 1, 5).astype(int)


def _perceive_categories(rng: np.random.Generator, va: np.ndarray) -> tuple[str, ...]:
    """One rater's categories: drawn by similarity of a noisy percept to the prototypes."""
    percept = va + rng.normal(0.0, _CATEGORY_NOISE, 2)
    d2 = ((_CAT_VA - percept) ** 2).sum(axis=1)
    p = _CAT_PRIOR * np.exp(-d2 / (2 * _CATEGORY_WIDTH**2))
    p /= p.sum()
    first = int(rng.choice(len(p), p=p))
    names = [CATEGORIES[first][0]]
    rest = p.copy()
    rest[first] = 0.0
    second = int(np.argmax(rest))
    if rest[second] > 0.5 * p[first] and rng.random() < 0.35:
        names.append(CATEGORIES[second][0])
    return tuple(names)


def _majority(votes: list[tuple[str, ...]]) -> str:
    """Code of the category named by more than half of the raters, else ``xxx``."""
    counts: dict[str, int] = {}
    for names in votes:
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    best = max(counts.values())
    winners = [name for name, c in counts.items() if c == best]
    if best * 2 <= len(votes) or len(winners) > 1:
        return "xxx"
    return next(c[1] for c in CATEGORIES if c[0] == winners[0])


def _summary(attribute: tuple[tuple[str, int, int, int | None, str], ...]) -> tuple[float, ...]:
    """Mean V, A, D over the external raters (empty dominance left out), as 4-decimal values."""
    val = np.mean([a[1] for a in attribute])
    act = np.mean([a[2] for a in attribute])
    dom = np.mean([a[3] for a in attribute if a[3] is not None])
    return tuple(float(f"{x:.4f}") for x in (val, act, dom))


def _comment(rng: np.random.Generator) -> str:
    """Mostly empty, as in IEMOCAP; now and then a short remark."""
    if rng.random() >= _P_COMMENT:
        return ""
    return _COMMENTS[int(rng.integers(0, len(_COMMENTS)))]


def format_block(utt_id: str, start: str, end: str, ann: Annotation) -> str:
    """The EmoEvaluation block of one utterance (``start``/``end`` already formatted)."""
    v, a, d = ann.summary
    lines = [f"[{start} - {end}]\t{utt_id}\t{ann.code}\t[{v:.4f}, {a:.4f}, {d:.4f}]"]
    cats = list(ann.categorical) + ([ann.self_categorical] if ann.self_categorical else [])
    for rater, names, comment in cats:
        lines.append(f"C-{rater}:\t{'; '.join(names)};\t({comment})")
    attrs = list(ann.attribute) + ([ann.self_attribute] if ann.self_attribute else [])
    for rater, val, act, dom, comment in attrs:
        dom_text = "" if dom is None else str(dom)
        lines.append(f"A-{rater}:\tval {val}; act {act}; dom  {dom_text};\t({comment})")
    return "\n".join(lines) + "\n"
