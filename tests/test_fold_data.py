"""From LLD Parquet files to normalised fold features: loading, feature sets, NaN policy,
functionals, and no leakage from the test speaker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectflow import fold_data
from affectflow.features.deltas import deltas
from affectflow.features.functionals import FUNCTIONALS, compute_functionals
from affectflow.features.groups import AUDIO_LLDS, FACE_COORDS, HMM_VOICE_LLDS
from affectflow.folds import make_split
from affectflow.io import write_parquet
from affectflow.labels import build_labels
from affectflow.normalize import fit_normalizer

SESSIONS = (1, 2, 3)
TEST = "Ses02F"
ALL_NAN_UTT = "Ses03M_impro01_M002"  # one face coordinate missing for the whole utterance


def utterances() -> list[tuple[int, str]]:
    return [(s, f"Ses0{s}{g}_impro01_{g}{i:03d}") for s in SESSIONS for i in range(6) for g in "FM"]


def synth_lld(root: Path, seed: int = 0, test_face_shift: float = 0.0) -> dict[str, list[Path]]:
    """Per-session audio.parquet / face.parquet with speaker-specific offsets and NaN."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(4, len(FACE_COORDS)))
    offsets: dict[str, np.ndarray] = {}
    paths: dict[str, list[Path]] = {"audio": [], "face": []}
    for s in SESSIONS:
        audio_parts, face_parts = [], []
        for _, utt in [u for u in utterances() if u[0] == s]:
            spk = f"Ses0{s}{utt[-4]}"
            offsets.setdefault(spk, rng.normal(scale=10.0, size=len(FACE_COORDS)))
            n = int(rng.integers(20, 60))
            head = pd.DataFrame(
                {
                    "utt_id": utt,
                    "frame": np.arange(n, dtype=np.int32),
                    "time": (0.025 * np.arange(n) + 0.025).astype(np.float32),
                }
            )
            a = rng.normal(loc=3.0, scale=2.0, size=(n, len(AUDIO_LLDS))).astype(np.float32)
            a[rng.random(n) < 0.3, AUDIO_LLDS.index("pitch")] = np.nan
            f = offsets[spk] + rng.normal(size=(n, 4)) * [5, 3, 2, 1] @ mixing
            f += rng.normal(scale=0.2, size=f.shape)
            if spk == TEST:
                f += test_face_shift
            f[n // 2 : n // 2 + 3, 9:12] = np.nan  # a marker gap
            if utt == ALL_NAN_UTT:
                f[:, 0] = np.nan
            audio_parts.append(pd.concat([head, pd.DataFrame(a, columns=AUDIO_LLDS)], axis=1))
            face_parts.append(
                pd.concat([head, pd.DataFrame(f.astype(np.float32), columns=FACE_COORDS)], axis=1)
            )
        for kind, parts in (("audio", audio_parts), ("face", face_parts)):
            path = root / f"Ses0{s}" / f"{kind}.parquet"
            write_parquet(pd.concat(parts, ignore_index=True), path)
            paths[kind].append(path)
    return paths


def index_frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for turn, (s, utt) in enumerate(utterances()):
        rows.append(
            {
                "utt_id": utt,
                "dialog": utt[:14],
                "turn": turn,
                "speaker": f"Ses0{s}{utt[-4]}",
                "valence": float(rng.choice(np.arange(1, 5.01, 0.5))),
                "activation": float(rng.choice(np.arange(1, 5.01, 0.5))),
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def fold(tmp_path_factory):
    paths = synth_lld(tmp_path_factory.mktemp("lld"))
    audio, face = fold_data.load_lld(paths["audio"], paths["face"])
    split = make_split(index_frame(), TEST)
    normalizer, pfa = fold_data.fit_fold_transforms(audio, face, split)
    return paths, audio, face, split, normalizer, pfa


def test_load_lld_rows_columns_and_order(fold) -> None:
    paths, audio, face, *_ = fold
    assert len(audio) == len(face)
    assert list(audio.columns) == ["utt_id", "frame", *AUDIO_LLDS]
    all_ids = [u for _, u in utterances()]
    assert list(pd.unique(audio["utt_id"])) == all_ids
    wanted = ["Ses03M_impro01_M001", "Ses01F_impro01_F000"]
    a, f = fold_data.load_lld(
        paths["audio"], paths["face"], wanted, audio_columns=["pitch"], face_columns=["CH1_x"]
    )
    assert list(pd.unique(a["utt_id"])) == wanted and list(f.columns) == [
        "utt_id",
        "frame",
        "CH1_x",
    ]
    first = a[a["utt_id"] == wanted[0]]
    assert first["frame"].tolist() == list(range(len(first)))
    face_only = fold_data.load_face(paths["face"], wanted, columns=["CH1_x"])
    pd.testing.assert_frame_equal(face_only, f)
    with pytest.raises(ValueError, match="no audio frames"):
        fold_data.load_lld(paths["audio"], None, ["Ses09F_impro01_F000"])
    with pytest.raises(ValueError, match="duplicates"):
        fold_data.load_lld(paths["audio"], None, wanted * 2)


def test_load_lld_drops_utterances_missing_in_one_modality(fold, tmp_path) -> None:
    paths, audio, face, *_ = fold
    cut = face[face["utt_id"] != "Ses01M_impro01_M003"]
    write_parquet(cut, tmp_path / "face.parquet")
    a, f = fold_data.load_lld(paths["audio"], [tmp_path / "face.parquet"])
    assert "Ses01M_impro01_M003" not in set(a["utt_id"])
    assert a.attrs["dropped"] == ["Ses01M_impro01_M003"]
    short = face.drop(index=face.index[(face["utt_id"] == "Ses02F_impro01_F001")][-1:])
    write_parquet(short, tmp_path / "short.parquet")
    with pytest.raises(ValueError, match="frame counts differ"):
        fold_data.load_lld(paths["audio"], [tmp_path / "short.parquet"])


def test_utterance_speakers_parsed_from_ids(fold) -> None:
    _, audio, *_ = fold
    speakers = fold_data.utterance_speakers(audio["utt_id"])
    assert speakers.index.equals(audio.index)
    assert speakers.iloc[0] == "Ses01F" and set(speakers) == {
        f"Ses0{s}{g}" for s in SESSIONS for g in "FM"
    }
    assert fold_data.speaker_map(index_frame())["Ses02M_impro01_M000"] == "Ses02M"


@pytest.mark.parametrize(
    ("feature_set", "n_channels"), [("v", 58), ("f", 60), ("vf", 118), ("all", 142)]
)
def test_feature_sets(fold, feature_set: str, n_channels: int) -> None:
    _, audio, face, _, normalizer, pfa = fold
    feats = fold_data.frame_features(audio, face, normalizer, pfa, None, feature_set)
    assert feats.values.shape == (len(audio), n_channels) and feats.values.dtype == np.float32
    assert len(feats.channels) == n_channels and feats.channels[n_channels // 2].endswith("_d")
    half = n_channels // 2
    assert feats.channels[half:] == [f"{c}_d" for c in feats.channels[:half]]
    assert feats.utt_ids == [u for _, u in utterances()]
    base = feats.values[:, :half]
    np.testing.assert_array_equal(feats.values[:, half:], deltas(base, feats.bounds))
    if feature_set in ("v", "vf"):
        assert feats.channels[:29] == list(HMM_VOICE_LLDS)
    if feature_set != "v":
        assert feats.channels[half - 30 : half] == list(pfa.selected)
        coord = pfa.selected[0]
        expected = normalizer.apply_face(face[["utt_id", coord]])[coord].to_numpy()
        np.testing.assert_array_equal(base[:, feats.channels.index(coord)], expected)
    if feature_set == "all":
        z = normalizer.apply_audio(audio)
        np.testing.assert_array_equal(base[:, :41], z[list(AUDIO_LLDS)].to_numpy())


def test_fill_policy_for_hmms(fold) -> None:
    _, audio, face, _, normalizer, pfa = fold
    keep = fold_data.frame_features(audio, face, normalizer, pfa, None, "vf")
    fill = fold_data.frame_features(audio, face, normalizer, pfa, None, "vf", nan_policy="fill")
    assert not np.isnan(fill.values).any()
    nan = np.isnan(keep.values)
    np.testing.assert_array_equal(fill.values[~nan], keep.values[~nan])
    ch = {c: i for i, c in enumerate(keep.channels)}
    pitch, pitch_d = ch["pitch"], ch["pitch_d"]
    assert nan[:, pitch].any() and np.all(fill.values[nan[:, pitch], pitch] == 0)
    assert np.all(fill.values[nan[:, pitch_d], pitch_d] == 0)
    assert fill.filled["pitch"] == nan[:, pitch].sum()
    assert fill.filled == {c: int(n) for c, n in zip(keep.channels, nan.sum(0), strict=True) if n}
    for coord in pfa.selected:  # face gaps: the utterance's mean over valid frames
        j = ch[coord]
        for u in range(len(keep.bounds) - 1):
            rows = slice(keep.bounds[u], keep.bounds[u + 1])
            col = keep.values[rows, j]
            if np.isnan(col).any() and not np.isnan(col).all():
                np.testing.assert_allclose(
                    fill.values[rows, j][np.isnan(col)], np.nanmean(col), rtol=1e-5
                )


def test_all_nan_face_coordinate_filled_with_global_mean(fold) -> None:
    _, audio, face, _, normalizer, _ = fold
    # a PFA selection that includes the coordinate missing in ALL_NAN_UTT
    pfa = fold_data.PFAResult(
        selected=(FACE_COORDS[0],), selected_idx=(0,), names=FACE_COORDS, n_components=1,
        explained_variance=1.0, clusters=(0,) * 138, n_frames=1, seed=0,
    )  # fmt: skip
    fill = fold_data.frame_features(audio, face, normalizer, pfa, None, "f", nan_policy="fill")
    u = fill.utt_ids.index(ALL_NAN_UTT)
    rows = slice(fill.bounds[u], fill.bounds[u + 1])
    np.testing.assert_allclose(fill.values[rows, 0], normalizer.face_global_mean[0], rtol=1e-6)
    assert np.all(fill.values[rows, 1] == 0)


def test_fold_functionals(fold) -> None:
    _, audio, face, split, normalizer, pfa = fold
    table = fold_data.fold_functionals(audio, face, normalizer, pfa, chunk_frames=150)
    assert table.shape == (len(utterances()), 1 + 142 * len(FUNCTIONALS))
    assert table["utt_id"].tolist() == [u for _, u in utterances()]
    feats = fold_data.frame_features(audio, face, normalizer, pfa, None, "all")
    direct, names = compute_functionals(feats.values, feats.bounds, feats.channels)
    assert list(table.columns[1:]) == names
    np.testing.assert_allclose(table[names].to_numpy(), direct.astype(np.float32))
    if FACE_COORDS[0] in pfa.selected:
        assert table.attrs["empty_utterances"][FACE_COORDS[0]] == 1
    mask = fold_data.utterance_speakers(audio["utt_id"]).isin(split.train)
    some = fold_data.fold_functionals(audio, face, normalizer, pfa, keep_utterances=mask)
    by_ids = fold_data.fold_functionals(
        audio, face, normalizer, pfa, keep_utterances=set(some["utt_id"])
    )
    assert TEST not in set(fold_data.utterance_speakers(some["utt_id"]))
    pd.testing.assert_frame_equal(some, by_ids)
    pd.testing.assert_frame_equal(
        some.reset_index(drop=True),
        table[table["utt_id"].isin(some["utt_id"])].reset_index(drop=True),
    )


def test_no_leakage_from_the_test_speaker(fold, tmp_path) -> None:
    """Test-speaker labels never matter; its frames only set its own face mean."""
    _, audio, face, split, normalizer, pfa = fold
    index = index_frame()
    _, clusters = build_labels(index, split, seeds=0)
    relabelled = index.copy()
    relabelled.loc[relabelled.speaker == TEST, ["valence", "activation"]] = [5.0, 1.0]
    _, clusters2 = build_labels(relabelled, split, seeds=0)
    assert clusters2 == clusters

    paths2 = synth_lld(tmp_path, test_face_shift=40.0)
    audio2, face2 = fold_data.load_lld(paths2["audio"], paths2["face"])
    normalizer2, pfa2 = fold_data.fit_fold_transforms(audio2, face2, split)
    assert pfa2 == pfa
    np.testing.assert_array_equal(normalizer2.face_global_mean, normalizer.face_global_mean)
    np.testing.assert_array_equal(normalizer2.audio_mean, normalizer.audio_mean)
    for spk in split.train:
        np.testing.assert_array_equal(
            normalizer2.face_speaker_mean[spk], normalizer.face_speaker_mean[spk]
        )
    assert not np.allclose(normalizer2.face_speaker_mean[TEST], normalizer.face_speaker_mean[TEST])
    # the normaliser alone, with an explicit speaker mapping, agrees with the fold helper
    mapped = fit_normalizer(audio, face, fold_data.speaker_map(index), split.train)
    np.testing.assert_array_equal(mapped.audio_std, normalizer.audio_std)
