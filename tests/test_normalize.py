"""Fold normaliser: audio z-scores on training frames, face speaker means onto the global mean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from affectflow.features.groups import AUDIO_LLDS, FACE_COORDS
from affectflow.normalize import STD_FLOOR, Normalizer, fit_normalizer, frame_speakers

SPEAKERS = ["Ses01F", "Ses01M", "Ses02F", "Ses02M"]
TEST = "Ses02M"


def frames(seed: int = 0, n_utts: int = 3, n_frames: int = 50):
    """In-memory audio and face LLD tables; speakers differ in offset and scale."""
    rng = np.random.default_rng(seed)
    audio, face, utt_speaker = [], [], {}
    for k, spk in enumerate(SPEAKERS):
        face_offset = rng.normal(scale=20.0, size=len(FACE_COORDS))
        for u in range(n_utts):
            utt = f"{spk}_impro01_{spk[-1]}{u:03d}"
            utt_speaker[utt] = spk
            a = rng.normal(loc=k, scale=1 + k, size=(n_frames, len(AUDIO_LLDS))).astype(np.float32)
            a[rng.random(n_frames) < 0.4, AUDIO_LLDS.index("pitch")] = np.nan
            a[:, AUDIO_LLDS.index("mfcc_1")] = 7.0  # constant: std floor
            f = (face_offset + rng.normal(size=(n_frames, len(FACE_COORDS)))).astype(np.float32)
            f[5:9, :6] = np.nan  # a marker gap
            head = {"utt_id": utt, "frame": np.arange(n_frames, dtype=np.int32)}
            audio.append(
                pd.concat([pd.DataFrame(head), pd.DataFrame(a, columns=AUDIO_LLDS)], axis=1)
            )
            face.append(
                pd.concat([pd.DataFrame(head), pd.DataFrame(f, columns=FACE_COORDS)], axis=1)
            )
    return pd.concat(audio, ignore_index=True), pd.concat(face, ignore_index=True), utt_speaker


TRAIN = [s for s in SPEAKERS if s != TEST]


@pytest.fixture(scope="module")
def data():
    audio, face, utt_speaker = frames()
    return audio, face, utt_speaker, fit_normalizer(audio, face, utt_speaker, TRAIN)


def test_audio_z_scores_on_training_frames(data) -> None:
    audio, _, utt_speaker, norm = data
    z = norm.apply_audio(audio)
    train = audio["utt_id"].map(utt_speaker).isin(TRAIN).to_numpy()
    zt = z.loc[train, list(AUDIO_LLDS)].to_numpy(dtype=np.float64)
    moving = [i for i, c in enumerate(AUDIO_LLDS) if c != "mfcc_1"]
    np.testing.assert_allclose(np.nanmean(zt, axis=0)[moving], 0.0, atol=1e-5)
    np.testing.assert_allclose(np.nanstd(zt, axis=0)[moving], 1.0, atol=1e-5)
    pitch = AUDIO_LLDS.index("pitch")
    voiced = audio.loc[train, "pitch"].dropna().to_numpy(dtype=np.float64)
    assert norm.audio_mean[pitch] == pytest.approx(voiced.mean())
    assert z["pitch"].isna().equals(audio["pitch"].isna())  # unvoiced stays NaN
    assert norm.audio_std[AUDIO_LLDS.index("mfcc_1")] == STD_FLOOR
    assert z["mfcc_1"].dtype == np.float32 and z["utt_id"].equals(audio["utt_id"])


def test_face_speaker_means_shift_onto_global_mean(data) -> None:
    _, face, utt_speaker, norm = data
    coords = list(FACE_COORDS)
    per_speaker = face.assign(s=face["utt_id"].map(utt_speaker)).groupby("s")[coords].mean()
    expected_global = per_speaker.loc[TRAIN].mean().to_numpy()
    np.testing.assert_allclose(norm.face_global_mean, expected_global, rtol=1e-5, atol=1e-4)
    assert set(norm.face_speaker_mean) == set(SPEAKERS)  # the test speaker too
    np.testing.assert_allclose(
        norm.face_speaker_mean[TEST], per_speaker.loc[TEST].to_numpy(), rtol=1e-5, atol=1e-4
    )
    shifted = norm.apply_face(face, utt_speaker)
    after = shifted.assign(s=face["utt_id"].map(utt_speaker)).groupby("s")[coords].mean()
    for spk in SPEAKERS:
        np.testing.assert_allclose(after.loc[spk].to_numpy(), expected_global, atol=2e-3)
    assert shifted[coords[0]].isna().equals(face[coords[0]].isna())
    # the same with a per-row speaker list instead of the mapping
    rows = face["utt_id"].map(utt_speaker).to_numpy()
    pd.testing.assert_frame_equal(norm.apply_face(face, rows), shifted)
    with pytest.raises(ValueError):
        norm.apply_face(face, {})


def test_save_load_round_trip(data, tmp_path) -> None:
    audio, face, utt_speaker, norm = data
    path = tmp_path / "fold" / "normalizer.npz"
    norm.save(path)
    back = Normalizer.load(path)
    np.testing.assert_array_equal(back.audio_std, norm.audio_std)
    np.testing.assert_array_equal(back.face_global_mean, norm.face_global_mean)
    assert back.train_speakers == tuple(sorted(TRAIN)) and back.face_names == FACE_COORDS
    for spk in SPEAKERS:
        np.testing.assert_array_equal(back.face_speaker_mean[spk], norm.face_speaker_mean[spk])
    pd.testing.assert_frame_equal(back.apply_audio(audio), norm.apply_audio(audio))


def test_test_speaker_frames_only_move_its_own_face_mean(data) -> None:
    audio, face, utt_speaker, norm = data
    test_rows = audio["utt_id"].map(utt_speaker).eq(TEST).to_numpy()
    audio2, face2 = audio.copy(), face.copy()
    audio2.loc[test_rows, list(AUDIO_LLDS)] = 1e3
    face2.loc[test_rows, list(FACE_COORDS)] += 50.0
    norm2 = fit_normalizer(audio2, face2, utt_speaker, TRAIN)
    np.testing.assert_array_equal(norm2.audio_mean, norm.audio_mean)
    np.testing.assert_array_equal(norm2.audio_std, norm.audio_std)
    np.testing.assert_array_equal(norm2.face_global_mean, norm.face_global_mean)
    for spk in TRAIN:
        np.testing.assert_array_equal(norm2.face_speaker_mean[spk], norm.face_speaker_mean[spk])
    np.testing.assert_allclose(
        norm2.face_speaker_mean[TEST], norm.face_speaker_mean[TEST] + 50.0, atol=1e-3
    )


def test_face_frames_belong_to_the_marker_wearer(data) -> None:
    """A non-wearer utterance shows the wearer's face: default face speaker is the wearer."""
    _, face, _, norm = data
    row = face.iloc[:2].copy()
    row["utt_id"] = "Ses01F_impro01_M009"  # Ses01M speaks, Ses01F wears the markers
    assert frame_speakers(row, None).tolist() == ["Ses01M", "Ses01M"]
    assert frame_speakers(row, None, face=True).tolist() == ["Ses01F", "Ses01F"]
    coord = FACE_COORDS[20]
    shift = norm.face_global_mean[20] - norm.face_speaker_mean["Ses01F"][20]
    np.testing.assert_allclose(
        norm.apply_face(row)[coord].to_numpy(), row[coord].to_numpy() + shift, rtol=1e-6
    )
