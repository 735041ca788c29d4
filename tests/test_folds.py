"""Leave-one-speaker-out split rule."""

from __future__ import annotations

import pandas as pd
import pytest

from affectflow.folds import (
    NO_TEST_SPEAKER,
    FoldSplit,
    all_speakers_split,
    all_splits,
    fold_split,
    make_split,
    speakers,
    split_from_json,
    split_to_json,
)
from affectflow.targets import FINAL_FOLD

TEN = [f"Ses0{s}{g}" for s in range(1, 6) for g in "MF"]


def test_speakers_sorted_and_distinct() -> None:
    index = pd.DataFrame({"speaker": ["Ses02M", "Ses01F", "Ses02M", "Ses01M"]})
    assert speakers(index) == ["Ses01F", "Ses01M", "Ses02M"]


def test_validation_is_the_session_partner() -> None:
    split = make_split(TEN, "Ses01F")
    assert split.test == "Ses01F" and split.validation == "Ses01M"
    assert len(split.train) == 9 and "Ses01F" not in split.train
    assert "Ses01M" in split.train
    assert split.train_for_early_stopping == tuple(s for s in split.train if s != "Ses01M")
    assert make_split(TEN, "Ses04M").validation == "Ses04F"
    for s in all_splits(TEN):
        assert s.validation[:-1] == s.test[:-1] and s.validation != s.test


def test_validation_falls_back_to_first_training_speaker() -> None:
    split = make_split(["Ses01F", "Ses02F", "Ses02M"], "Ses01F")
    assert split.validation == "Ses02F"
    assert split.train_for_early_stopping == ("Ses02M",)


def test_bad_splits_rejected() -> None:
    with pytest.raises(ValueError):
        make_split(TEN, "Ses09F")
    with pytest.raises(ValueError):
        make_split(["Ses01F"], "Ses01F")
    with pytest.raises(ValueError):
        FoldSplit(test="Ses01F", validation="Ses01M", train=("Ses01F", "Ses01M"))


def test_json_round_trip() -> None:
    split = make_split(TEN, "Ses03M")
    obj = split_to_json(split)
    assert set(obj) == {"test", "validation", "train"}
    assert split_from_json(obj) == split
    assert split.role("Ses03M") == "test" and split.role("Ses03F") == "validation"
    assert split.role("Ses01F") == "train"


def test_final_fold_trains_every_speaker_and_tests_none() -> None:
    """The pseudo-fold of the final models goes through the fold rules under its own name."""
    split = fold_split(TEN, FINAL_FOLD)
    assert split == all_speakers_split(TEN)
    assert split.test == NO_TEST_SPEAKER and split.train == tuple(sorted(TEN))
    assert split.validation == sorted(TEN)[-1]
    assert fold_split(TEN, "Ses02M") == make_split(TEN, "Ses02M")
    with pytest.raises(ValueError, match="two speakers"):
        all_speakers_split(["Ses01F"])
