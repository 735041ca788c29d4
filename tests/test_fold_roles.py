"""Roles of utterances in a fold: with ``utterances: all`` no frame of the test speaker's face
reaches a training-side artifact (normaliser, PFA, clusters, labels' training rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from affectflow import fold_data
from affectflow.features.groups import AUDIO_LLDS, FACE_COORDS
from affectflow.folds import FoldSplit, make_split
from affectflow.labels import build_labels
from affectflow.normalize import fit_normalizer, speakers_from_ids
from affectflow.selection.pfa import fit_pfa

TEST = "Ses01F"
SPEAKERS = ("Ses01F", "Ses01M", "Ses02F", "Ses02M", "Ses03F", "Ses03M")


def all_utterances() -> list[str]:
    """Both actors' turns in the dialogs each actor wears (``utterances: all``)."""
    ids = []
    for s in (1, 2, 3):
        for wearer in "FM":
            for i in range(5):
                for speaker in "FM":
                    ids.append(f"Ses0{s}{wearer}_impro01_{speaker}{i:03d}")
    return ids


def index_rows(ids: list[str], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "utt_id": ids,
        "dialog": [u[:14] for u in ids],
        "turn": np.arange(len(ids)),
        "speaker": speakers_from_ids(pd.Series(ids)).to_numpy(),
        "valence": rng.choice(np.arange(1, 5.01, 0.5), size=len(ids)),
        "activation": rng.choice(np.arange(1, 5.01, 0.5), size=len(ids)),
    })


def frames(ids: list[str], seed: int = 0, noisy: str | None = None) -> tuple[pd.DataFrame, ...]:
    """Audio and face frames; ``noisy``: per-frame noise on every utterance spoken by that
    speaker or showing its face (a perturbation no normalisation can cancel)."""
    rng = np.random.default_rng(seed)
    owners = speakers_from_ids(pd.Series(ids), face_owner=True)
    voices = speakers_from_ids(pd.Series(ids))
    mixing = rng.normal(size=(5, len(FACE_COORDS)))
    offsets = {s: rng.normal(scale=10.0, size=len(FACE_COORDS)) for s in SPEAKERS}
    audio, face = [], []
    noise_rng = np.random.default_rng(seed + 99)
    for utt, owner, voice in zip(ids, owners, voices, strict=True):
        n = int(rng.integers(15, 30))
        head = pd.DataFrame({"utt_id": utt, "frame": np.arange(n, dtype=np.int32)})
        a = rng.normal(loc=2.0, scale=1.5, size=(n, len(AUDIO_LLDS)))
        f = offsets[owner] + rng.normal(size=(n, 5)) * [6, 4, 3, 2, 1] @ mixing
        if noisy in (owner, voice):
            a = a + noise_rng.normal(scale=3.0, size=a.shape)
            f = f + noise_rng.normal(scale=8.0, size=f.shape)
        audio.append(pd.concat([head, pd.DataFrame(a.astype(np.float32), columns=AUDIO_LLDS)],
                               axis=1))
        face.append(pd.concat([head, pd.DataFrame(f.astype(np.float32), columns=FACE_COORDS)],
                              axis=1))
    return pd.concat(audio, ignore_index=True), pd.concat(face, ignore_index=True)


@pytest.mark.parametrize(
    ("speaker", "owner", "role"),
    [
        ("Ses01F", "Ses01F", "test"),
        ("Ses01F", "Ses01M", "test"),  # the test speaker's turn, partner's face: test side
        ("Ses01M", "Ses01F", None),  # partner's turn showing the test speaker's face: left out
        ("Ses01M", "Ses01M", "validation"),
        ("Ses02F", "Ses02F", "train"),
    ],
)
def test_utterance_role(speaker: str, owner: str, role: str | None) -> None:
    split = make_split(SPEAKERS, TEST)
    assert split.validation == "Ses01M"
    assert split.utterance_role(speaker, owner) == role
    assert split.is_training_utterance(speaker, owner) == (role in ("train", "validation"))


def test_training_speakers_turn_in_a_validation_worn_dialog_is_validation() -> None:
    split = FoldSplit(test="Ses03F", validation="Ses01M", train=SPEAKERS[:4] + ("Ses03M",))
    assert split.utterance_role("Ses01F", "Ses01M") == "validation"


def test_labels_of_all_utterances_leave_out_turns_with_the_test_speakers_face() -> None:
    ids = all_utterances()
    split = make_split(SPEAKERS, TEST)
    table, clusters = build_labels(index_rows(ids), split)
    owners = speakers_from_ids(table["utt_id"], face_owner=True)
    training = table["split"] != "test"
    assert not (owners[training] == TEST).any()
    left_out = [u for u in ids if u.startswith("Ses01F") and u[-4] == "M"]
    assert table.attrs["left_out"] == len(left_out) == 5
    assert not set(left_out) & set(table["utt_id"])
    assert clusters["clusters3"]["n_train"] == int(training.sum())
    # the test speaker's own turns in the partner's dialogs are test rows
    assert set(table.loc[table["split"] == "test", "speaker"]) == {TEST}
    assert (owners[table["split"] == "test"] == "Ses01M").sum() == 5
    # wearer_only: nothing left out, the roles are the speakers'
    wearer = [u for u in ids if u[5] == u[-4]]
    table_w, _ = build_labels(index_rows(wearer), split)
    assert table_w.attrs["left_out"] == 0
    assert list(table_w["split"]) == [split.role(s) for s in table_w["speaker"]]


def test_normaliser_and_pfa_never_see_the_test_speakers_face() -> None:
    """Per-frame noise on every utterance of the test speaker or showing its face (its own
    turns, the partner's in its dialogs) changes the test speaker's statistics but no training
    one."""
    ids = all_utterances()
    split = make_split(SPEAKERS, TEST)
    clean, noisy = frames(ids), frames(ids, noisy=TEST)
    face_ids = clean[1]["utt_id"]
    owners = speakers_from_ids(face_ids, face_owner=True).to_numpy()
    spoken = speakers_from_ids(face_ids).to_numpy()
    shows_test = owners == TEST
    assert not np.allclose(clean[1].loc[shows_test, FACE_COORDS],
                           noisy[1].loc[shows_test, FACE_COORDS])
    assert (shows_test & (spoken != TEST)).any()  # the partner's turns are perturbed too
    norm = [fit_normalizer(au, fa, None, split.train) for au, fa in (clean, noisy)]
    # the perturbation took effect on the test speaker's own face mean ...
    assert not np.allclose(norm[0].face_speaker_mean[TEST], norm[1].face_speaker_mean[TEST])
    # ... and on nothing fit on training utterances
    np.testing.assert_array_equal(norm[0].audio_mean, norm[1].audio_mean)
    np.testing.assert_array_equal(norm[0].audio_std, norm[1].audio_std)
    np.testing.assert_array_equal(norm[0].face_global_mean, norm[1].face_global_mean)
    for s in split.train:
        np.testing.assert_array_equal(norm[0].face_speaker_mean[s], norm[1].face_speaker_mean[s])
    picks = []
    for (_, face), n in zip((clean, noisy), norm, strict=True):
        values, names = fold_data.training_face_frames(face, n, split.train)
        picks.append(fit_pfa(values, names, n_features=10, seed=0).selected)
        training = np.isin(owners, split.train) & np.isin(spoken, split.train)
        assert len(values) == int(training.sum())
    assert picks[0] == picks[1]
