"""The `affectflow` command: synth + index round trip, strict and lenient indexing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from affectflow.cli import main


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    assert main(["synth", str(out), "--preset", "tiny", "--seed", "3", "--jobs", "2"]) == 0
    return out


def test_index_of_generated_corpus_reproduces_its_ground_truth(corpus: Path, tmp_path) -> None:
    out = tmp_path / "index.parquet"
    # The folder that contains IEMOCAP_full_release is accepted as the root, too.
    assert main(["index", str(corpus), "--out", str(out), "--quiet"]) == 0
    index = pd.read_parquet(out)
    truth = pd.read_parquet(corpus / "ground_truth.parquet")
    merged = truth.merge(index, on="utt_id", suffixes=("_truth", ""), validate="1:1")
    assert len(merged) == len(truth) == len(index) > 100
    for col in ("session", "dialog", "speaker", "gender", "wearer", "start", "end",
                "valence", "activation", "dominance", "code"):
        left, right = merged[f"{col}_truth"], merged[col]
        if left.dtype.kind == "f":
            assert ((left == right) | (left.isna() & right.isna())).all(), col
        else:
            assert (left.astype(str) == right.astype(str)).all(), col
    # turn = order by start time within each dialog.
    for _, dialog in index.groupby("dialog"):
        ordered = dialog.sort_values(["start", "utt_id"])
        assert ordered["turn"].tolist() == list(range(len(dialog)))
    assert len(pd.read_csv(tmp_path / "excluded.tsv", sep="\t")) == 0


def test_strict_index_names_the_broken_file_and_lenient_lists_it(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    broken = tmp_path / "corpus"
    shutil.copytree(corpus / "IEMOCAP_full_release", broken / "IEMOCAP_full_release")
    wav = sorted((broken / "IEMOCAP_full_release/Session2/sentences/wav").rglob("*.wav"))[0]
    wav.write_bytes(b"not a wav")
    out = tmp_path / "index.parquet"
    assert main(["index", str(broken), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert wav.name in err and "EmoEvaluation" in err
    assert main(["index", str(broken), "--out", str(out), "--lenient", "--quiet"]) == 0
    excluded = pd.read_csv(tmp_path / "excluded.tsv", sep="\t")
    assert excluded["utt_id"].tolist() == [wav.stem]
    assert wav.stem not in set(pd.read_parquet(out)["utt_id"])


def test_synth_refuses_to_overwrite_a_folder_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "IEMOCAP_full_release" / "Session1").mkdir(parents=True)
    assert main(["synth", str(tmp_path), "--preset", "tiny"]) == 1
    assert "IEMOCAP_full_release" in capsys.readouterr().err
    assert (tmp_path / "IEMOCAP_full_release" / "Session1").is_dir()


def test_predict_checks_its_arguments_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Wrong --out, a missing bundle or input: exit status 1 and one line naming the path (the
    error paths that need a real bundle: tests/test_predict.py)."""
    bundle, folder = tmp_path / "bundle", tmp_path / "wavs"
    folder.mkdir()
    cases = [
        (bundle, folder, tmp_path / "out.xlsx", f"{tmp_path / 'out.xlsx'}: --out must end in "
         ".csv or .parquet"),
        (bundle, folder, tmp_path / "x" / "out.csv", f"--out folder {tmp_path / 'x'} does not "
         "exist"),
        (bundle, folder, tmp_path / "out.csv", f"{bundle}: no such bundle directory"),
    ]
    for bundle_path, input_path, out, message in cases:
        argv = ["predict", "--bundle", str(bundle_path), "--input", str(input_path),
                "--out", str(out)]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("affectflow: error: ") and message in err, err
        assert "Traceback" not in err and not out.exists()
    with pytest.raises(SystemExit) as exit_info:  # argparse: a required option missing
        main(["predict", "--bundle", str(bundle), "--input", str(folder)])
    assert exit_info.value.code == 2
    assert "--out" in capsys.readouterr().err
