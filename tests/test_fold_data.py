"""From LLD Parquet files to normalised fold features: loading, feature sets, NaN policy,
functionals, and no leakage from the test speaker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectflow import fold_data
from affectflow.features.deltas import deltas
from affectflow.features.functionals import FUNCTIONALS, compute_functionals
from affectflow.features.groups import AUDIO_LLDS, FACE_COORDS, HMM_VOICE_LLDS
from affectflow.folds import FoldSplit, make_split
from affectflow.io import read_json, write_parquet
from affectflow.labels import build_labels
from affectflow.normalize import Normalizer, fit_normalizer
from affectflow.selection.cfs import MAX_STALE
from affectflow.selection.pfa import PFAResult
from affectflow.stages import folds as fold_stages

SESSIONS = (1, 2, 3)
TEST = "Ses02F"
ALL_NAN_UTT = "Ses03M_impro01_M002"  # one face coordinate missing for the whole utterance


#: Utterance selections (``corpus.utterances``) the leakage tests cover.
UTTERANCE_MODES = ("wearer_only", "all")


def utterances(mode: str = "wearer_only") -> list[tuple[int, str]]:
    """(session, utt_id): each speaker's utterances in the dialog where they wear the markers;
    ``mode="all"`` adds the partner's utterances in each dialog (their face frames show the
    wearer, as in IEMOCAP)."""
    ids = [(s, f"Ses0{s}{g}_impro01_{g}{i:03d}") for s in SESSIONS for i in range(6) for g in "FM"]
    if mode == "all":
        ids += [(s, f"Ses0{s}{w}_impro01_{p}{i:03d}")
                for s in SESSIONS for i in range(6, 9) for w, p in ("FM", "MF")]  # fmt: skip
    elif mode != "wearer_only":
        raise ValueError(mode)
    return ids


def synth_lld(
    root: Path, seed: int = 0, *, mode: str = "wearer_only", test_noise: float = 0.0
) -> dict[str, list[Path]]:
    """Per-session audio.parquet / face.parquet with speaker-specific offsets and NaN.

    ``test_noise`` > 0 adds independent per-frame noise (its own random stream, so every other
    value is unchanged) to every frame recorded from the test speaker: the audio of its
    utterances (standard deviation ``test_noise``) and every face frame showing it (the
    dialogs where it wears the markers; per-coordinate standard deviations between
    ``test_noise`` and ``5 * test_noise`` mm). Unlike a constant shift, neither normalisation
    can cancel it.
    """
    rng = np.random.default_rng(seed)
    noise = np.random.default_rng([seed, 1])
    face_noise = test_noise * noise.uniform(1.0, 5.0, size=len(FACE_COORDS))
    mixing = rng.normal(size=(4, len(FACE_COORDS)))
    offsets: dict[str, np.ndarray] = {}
    paths: dict[str, list[Path]] = {"audio": [], "face": []}
    for s in SESSIONS:
        audio_parts, face_parts = [], []
        for _, utt in [u for u in utterances(mode) if u[0] == s]:
            spk, wearer = f"Ses0{s}{utt[-4]}", utt[:6]  # the voice's and the face's speaker
            offsets.setdefault(wearer, rng.normal(scale=10.0, size=len(FACE_COORDS)))
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
            f = offsets[wearer] + rng.normal(size=(n, 4)) * [5, 3, 2, 1] @ mixing
            f += rng.normal(scale=0.2, size=f.shape)
            if test_noise and spk == TEST:
                a += noise.normal(scale=test_noise, size=a.shape).astype(np.float32)
            if test_noise and wearer == TEST:
                f += noise.normal(size=f.shape) * face_noise
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


def index_frame(seed: int = 0, mode: str = "wearer_only") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for turn, (s, utt) in enumerate(utterances(mode)):
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


# ------------------------------------------------------------------ no leakage from the test


#: Tasks whose CFS subsets the leakage tests compare (one level task, one cluster task).
CFS_TASKS = ("valence3", "clusters3")


@dataclass
class FoldArtifacts:
    """What a fold derives from its LLDs and labels, as the fold jobs do (stages.folds)."""

    split: FoldSplit
    audio: pd.DataFrame
    face: pd.DataFrame
    normalizer: Normalizer
    pfa: PFAResult
    labels: pd.DataFrame
    clusters: dict
    functionals: pd.DataFrame
    cfs: dict[str, list[str]]


def fold_artifacts(
    paths: dict[str, list[Path]], index: pd.DataFrame, workdir: Path, test: str = TEST,
    tasks: Sequence[str] = CFS_TASKS,
) -> FoldArtifacts:
    """Normaliser, PFA, labels, clusters, functionals and CFS subsets of fold ``test`` (the
    CFS job's files under ``workdir``)."""
    split = make_split(index, test)
    audio, face = fold_data.load_lld(paths["audio"], paths["face"])
    normalizer, pfa = fold_data.fit_fold_transforms(audio, face, split)
    lab, clusters = build_labels(index, split, seeds=0)
    keep = fold_data.utterance_speakers(audio["utt_id"]).isin((split.test, *split.train))
    table = fold_data.fold_functionals(audio, face, normalizer, pfa, keep_utterances=keep)
    write_parquet(table, workdir / "functionals.parquet")
    write_parquet(lab, workdir / "labels.parquet")
    cfs_paths = [workdir / f"cfs_{task}.json" for task in tasks]
    fold_stages.select_features(workdir / "functionals.parquet", workdir / "labels.parquet",
                                  tasks, cfs_paths, MAX_STALE)
    cfs = {task: read_json(path)["features"] for task, path in zip(tasks, cfs_paths, strict=True)}
    return FoldArtifacts(split, audio, face, normalizer, pfa, lab, clusters, table, cfs)


def training_side_differences(a: FoldArtifacts, b: FoldArtifacts) -> list[str]:
    """The training-side artifacts that differ (exactly) between two versions of a fold."""
    split = a.split
    diffs = [f"normaliser {name}" for name in ("audio_mean", "audio_std", "face_global_mean")
             if not np.array_equal(getattr(a.normalizer, name), getattr(b.normalizer, name))]
    diffs += [f"face mean of {spk}" for spk in split.train if not np.array_equal(
        a.normalizer.face_speaker_mean[spk], b.normalizer.face_speaker_mean[spk], equal_nan=True)]
    if a.pfa != b.pfa:
        diffs.append("PFA")
    if a.clusters != b.clusters:
        diffs.append("clusters")
    train_ids = a.labels.loc[a.labels["split"] != "test", "utt_id"]
    if set(train_ids) != set(b.labels.loc[b.labels["split"] != "test", "utt_id"]):
        diffs.append("training utterances")

    def rows(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["utt_id"].isin(train_ids)].reset_index(drop=True)

    if not rows(a.labels).equals(rows(b.labels)):
        diffs.append("training labels")
    if not rows(a.functionals).equals(rows(b.functionals)):
        diffs.append("training functionals")
    diffs += [f"CFS {task}" for task in a.cfs if a.cfs[task] != b.cfs[task]]
    return diffs


def relabel_test_speaker(index: pd.DataFrame, test: str = TEST) -> pd.DataFrame:
    """The index with the test speaker's valence and activation mirrored on the 1..5 scale."""
    out = index.copy()
    rows = out["speaker"] == test
    out.loc[rows, ["valence", "activation"]] = 6.0 - out.loc[rows, ["valence", "activation"]]
    return out


def assert_lld_noise_took_effect(a: FoldArtifacts, b: FoldArtifacts) -> None:
    """Only frames recorded from the test speaker changed, and the change survives both
    normalisations into its own functionals (it is not a per-speaker constant)."""
    test = a.split.test
    voice = (fold_data.utterance_speakers(a.audio["utt_id"]) == test).to_numpy()
    shown = (fold_data.face_owners(a.face["utt_id"]) == test).to_numpy()
    assert voice.any() and shown.any()
    pd.testing.assert_frame_equal(a.audio[~voice], b.audio[~voice])
    pd.testing.assert_frame_equal(a.face[~shown], b.face[~shown])
    audio_cols = list(AUDIO_LLDS)
    face_cols = [c for c in a.pfa.selected if c in b.pfa.selected]
    za = a.normalizer.apply_audio(a.audio[voice])[audio_cols].to_numpy(np.float64)
    zb = b.normalizer.apply_audio(b.audio[voice])[audio_cols].to_numpy(np.float64)
    assert np.all(np.nanstd(zb - za, axis=0) > 0.1), "audio noise cancelled by z-scoring"
    fa = a.normalizer.apply_face(a.face[shown])[face_cols].to_numpy(np.float64)
    fb = b.normalizer.apply_face(b.face[shown])[face_cols].to_numpy(np.float64)
    assert np.all(np.nanstd(fb - fa, axis=0) > 0.1), "face noise cancelled by the speaker means"
    assert not np.array_equal(a.normalizer.face_speaker_mean[test],
                              b.normalizer.face_speaker_mean[test])
    # Every utterance of the test speaker gets other audio functionals; those whose face
    # frames show it, other face functionals.
    own = a.labels.loc[a.labels["speaker"] == test, "utt_id"]
    face_own = own[(fold_data.face_owners(own) == test).to_numpy()]
    fun_a, fun_b = a.functionals.set_index("utt_id"), b.functionals.set_index("utt_id")
    for ids, prefix in ((own, "mfcc"), (face_own, face_cols[0])):
        cols = [c for c in fun_a.columns if c.startswith(prefix)]
        assert len(ids) and cols, prefix
        assert (fun_a.loc[ids, cols] != fun_b.loc[ids, cols]).any(axis=1).all(), prefix


def assert_relabelling_took_effect(
    index_a: pd.DataFrame, index_b: pd.DataFrame, a: FoldArtifacts, b: FoldArtifacts
) -> None:
    """Only the test speaker's annotations differ in the input, and its labels changed in
    every task."""
    own = (index_a["speaker"] == a.split.test).to_numpy()
    pd.testing.assert_frame_equal(index_a[~own], index_b[~own])
    assert (index_a.loc[own, "valence"] != index_b.loc[own, "valence"]).any()
    assert (index_a.loc[own, "activation"] != index_b.loc[own, "activation"]).any()
    rows = (a.labels["speaker"] == a.split.test).to_numpy()
    for task in ("valence3", "activation3", *CFS_TASKS):
        assert (a.labels.loc[rows, task] != b.labels.loc[rows, task]).any(), task


@pytest.fixture(scope="module")
def baseline_folds(tmp_path_factory) -> Callable[[str], FoldArtifacts]:
    """The unperturbed fold ``TEST`` per utterance selection (computed once each)."""
    cache: dict[str, FoldArtifacts] = {}

    def get(mode: str) -> FoldArtifacts:
        if mode not in cache:
            root = tmp_path_factory.mktemp(f"base_{mode}")
            paths = synth_lld(root, mode=mode)
            cache[mode] = fold_artifacts(paths, index_frame(mode=mode), root)
        return cache[mode]

    return get


@pytest.mark.parametrize("perturbation", ["lld_noise", "labels"])
@pytest.mark.parametrize("mode", UTTERANCE_MODES)
def test_no_leakage_from_the_test_speaker(
    baseline_folds, tmp_path: Path, mode: str, perturbation: str
) -> None:
    """Per-frame noise on every frame recorded from the test speaker (its audio and every face
    frame showing it), or other labels for its utterances, change its own normalised frames,
    functionals or labels but no training-side artifact: normaliser statistics, PFA, clusters,
    training rows of labels and functionals, CFS subsets."""
    base = baseline_folds(mode)
    index = index_frame(mode=mode)
    if perturbation == "lld_noise":
        paths = synth_lld(tmp_path, mode=mode, test_noise=1.0)
        other = fold_artifacts(paths, index, tmp_path)
        assert_lld_noise_took_effect(base, other)
    else:
        relabelled = relabel_test_speaker(index)
        other = fold_artifacts(synth_lld(tmp_path, mode=mode), relabelled, tmp_path)
        assert_relabelling_took_effect(index, relabelled, base, other)
    assert training_side_differences(base, other) == []


def test_normaliser_with_an_explicit_speaker_map_agrees(fold) -> None:
    """The normaliser alone, with an explicit speaker mapping, agrees with the fold helper."""
    _, audio, face, split, normalizer, _ = fold
    mapped = fit_normalizer(audio, face, fold_data.speaker_map(index_frame()), split.train)
    np.testing.assert_array_equal(mapped.audio_std, normalizer.audio_std)
    np.testing.assert_array_equal(mapped.face_global_mean, normalizer.face_global_mean)
