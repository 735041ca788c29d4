"""Missing functionals: NaN in the functionals, filled per fold with training means only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from affectflow.features.deltas import bounds_from_lengths
from affectflow.features.functionals import FUNCTIONALS, functionals_frame
from affectflow.fold_tables import FoldTables
from affectflow.impute import NO_TRAINING_VALUE, MeanImputer

CHANNELS = ["mfcc1", "LC7_z"]
#: utt_id -> role; one training utterance loses the face channel for all its frames.
ROLES = {
    "Ses01F_impro01_F000": "train",
    "Ses01F_impro01_F001": "train",
    "Ses02F_impro01_F000": "train",
    "Ses02F_impro01_F001": "train",  # LC7_z all NaN
    "Ses01M_impro01_M000": "validation",
    "Ses03F_impro01_F000": "test",
    "Ses03F_impro01_F001": "test",  # LC7_z all NaN
}
EMPTY_TRAIN, EMPTY_TEST = "Ses02F_impro01_F001", "Ses03F_impro01_F001"


def fold_functionals(test_scale: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """Functionals of the ROLES utterances; face values around -85 mm as on real markers. The
    test speaker's frames are scaled and shifted by ``test_scale`` (1: unchanged)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(15, 40, size=len(ROLES))
    parts = []
    for (utt, role), n in zip(ROLES.items(), lengths, strict=True):
        x = np.column_stack([rng.normal(0, 1, n), rng.normal(-85, 2, n)])
        if role == "test":
            x = x * test_scale + (test_scale - 1.0) * rng.normal(0, 5, size=x.shape)
        if utt in (EMPTY_TRAIN, EMPTY_TEST):
            x[:, 1] = np.nan
        parts.append(x)
    values = np.vstack(parts).astype(np.float32)
    return functionals_frame(values, bounds_from_lengths(lengths), CHANNELS, list(ROLES))


def labels_frame() -> pd.DataFrame:
    return pd.DataFrame({"utt_id": list(ROLES), "split": list(ROLES.values())})


def face_columns() -> list[str]:
    return [f"LC7_z__{f}" for f in FUNCTIONALS]


def test_empty_face_channel_gets_the_training_mean_of_each_functional(caplog) -> None:
    raw = fold_functionals()
    cols = face_columns()
    assert raw.set_index("utt_id").loc[[EMPTY_TRAIN, EMPTY_TEST], cols].isna().all().all()
    with caplog.at_level("INFO", logger="affectflow"):
        tables = FoldTables.impute(raw, labels_frame())
    messages = caplog.messages
    filled = tables.functionals.set_index("utt_id")
    train_ids = [u for u, r in ROLES.items() if r != "test" and u != EMPTY_TRAIN]
    expected = raw.set_index("utt_id").loc[train_ids, cols].to_numpy(np.float64).mean(axis=0)
    np.testing.assert_allclose(filled.loc[EMPTY_TRAIN, cols].to_numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(filled.loc[EMPTY_TEST, cols].to_numpy(), expected, rtol=1e-12)
    assert filled.loc[EMPTY_TRAIN, "LC7_z__mean"] == pytest.approx(-85, abs=2)  # not 0 mm
    # every other value is untouched
    others = [u for u in ROLES if u not in (EMPTY_TRAIN, EMPTY_TEST)]
    np.testing.assert_array_equal(
        filled.loc[others].to_numpy(), raw.set_index("utt_id").loc[others].to_numpy(np.float64)
    )
    n_cells = 2 * len(FUNCTIONALS)
    assert f"imputed {n_cells} missing functional cells" in messages[0]
    assert f"test {len(FUNCTIONALS)}" in messages[0] and "train 24" in messages[0]


def test_the_test_speaker_never_enters_the_imputation_mean() -> None:
    base, moved = fold_functionals(), fold_functionals(test_scale=50.0)
    test_ids = [u for u, r in ROLES.items() if r == "test" and u != EMPTY_TEST]
    changed = moved.set_index("utt_id").loc[test_ids].to_numpy()
    assert not np.allclose(changed, base.set_index("utt_id").loc[test_ids].to_numpy())
    a = FoldTables.impute(base, labels_frame())
    b = FoldTables.impute(moved, labels_frame())
    np.testing.assert_array_equal(a.imputer.means, b.imputer.means)
    non_test = [u for u, r in ROLES.items() if r != "test"]
    fa, fb = a.functionals.set_index("utt_id"), b.functionals.set_index("utt_id")
    pd.testing.assert_frame_equal(fa.loc[non_test], fb.loc[non_test])
    cols = face_columns()
    pd.testing.assert_series_equal(fa.loc[EMPTY_TEST, cols], fb.loc[EMPTY_TEST, cols])
    # and a test row counted as training would have moved the mean
    leaky = labels_frame().assign(split="train")
    assert not np.array_equal(
        FoldTables.impute(base, leaky).imputer.means, FoldTables.impute(moved, leaky).imputer.means
    )


def test_imputer_subset_json_and_column_without_training_value() -> None:
    X = np.array([[1.0, np.nan, 4.0], [3.0, np.nan, np.nan]])
    imputer = MeanImputer.fit(X, ["a", "b", "c"])
    assert imputer.means.tolist() == [2.0, NO_TRAINING_VALUE, 4.0]
    assert imputer.no_training_value == ("b",) and imputer.n_train == 2
    filled, n = imputer.transform(np.array([[np.nan, np.nan, 5.0]]))
    assert filled.tolist() == [[2.0, NO_TRAINING_VALUE, 5.0]] and n == 2
    sub = MeanImputer.from_json(imputer.to_json()).subset(["c", "a"])
    assert sub.columns == ("c", "a") and sub.means.tolist() == [4.0, 2.0]
    with pytest.raises(KeyError, match="no training mean"):
        imputer.subset(["zz"])
    with pytest.raises(ValueError, match="rows x 3"):
        imputer.transform(np.zeros((2, 2)))
