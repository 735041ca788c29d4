"""The workflow's discrete decisions do not depend on the BLAS kernel or the thread count.

OpenBLAS picks a compute kernel by CPU (``OPENBLAS_CORETYPE`` forces one); kernels and thread
counts add in different orders, so BLAS results differ in the last bits from one machine to
another. Before the fix, PFA picked other face coordinates under the Prescott, Haswell and
SandyBridge kernels in every fold of the tiny corpus (and so every face-using result changed),
scikit-learn's k-means gave other emotion clusters, SMO other SVM weights and the float32 HMM
emissions other log-likelihoods. Here generated near-ties, then one tiny fold's whole chain
(normaliser, PFA, labels and clusters, functionals, CFS, SVM, HMM, HMM+LM, LSTM, metrics), run in
subprocesses under two kernels with 1 and 2 threads, and every result must be bit-identical. A
positive control (a BLAS dot product) checks that the forced kernels really computed differently.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectflow.numerics import exact_covariance, kmeans, squared_distances, symmetric_eigh

REPO = Path(__file__).resolve().parents[1]
#: (OPENBLAS_CORETYPE, threads): the issue's acceptance environments.
ENVIRONMENTS = [("Prescott", 1), ("Prescott", 2), ("Haswell", 1), ("Haswell", 2)]
FOLD = "Ses01F"
TASKS = ("valence3", "clusters3")
#: Short (B)LSTM training for the test; the early-stopping decision is still taken each epoch.
RNN_EPOCHS = {"max_epochs": 6, "patience": 2}


def blas_env(coretype: str, threads: int) -> dict[str, str]:
    """The environment of a subprocess with a forced OpenBLAS kernel and thread count."""
    env = dict(os.environ)
    env.pop("PYTHONHASHSEED", None)  # as real runs: hash order must not matter either
    env.update(
        OPENBLAS_CORETYPE=coretype,
        OPENBLAS_NUM_THREADS=str(threads),
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        AFFECTFLOW_TEST_TORCH_THREADS=str(threads),
    )
    return env


def run_in(env: dict[str, str], *args: str, timeout: int = 600) -> dict:
    """Run this module as a script (:func:`main`) in a subprocess; its JSON report."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.test_blas_invariance", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def require_kernel_effect() -> None:
    """Skip unless the forced kernels really compute differently (numpy on a DYNAMIC_ARCH
    OpenBLAS); otherwise equal results would prove nothing."""
    controls = {run_in(blas_env(c, 1), "control")["control"] for c in ("Prescott", "Haswell")}
    if len(controls) == 1:
        pytest.skip("OPENBLAS_CORETYPE does not change numpy's BLAS results here")


def test_generated_near_ties_decided_identically_across_kernels_and_threads() -> None:
    require_kernel_effect()
    reports = [run_in(blas_env(c, t), "generated") for c, t in ENVIRONMENTS]
    for (coretype, threads), report in zip(ENVIRONMENTS[1:], reports[1:], strict=True):
        for key, value in reports[0]["results"].items():
            assert report["results"][key] == value, f"{key}: {coretype}, {threads} thread(s)"
    pfa = reports[0]["results"]["pfa2"]
    assert len(set(pfa[0])) == 30 and len(pfa[1]) == 138


# ---------------------------------------------------------------------------------------------
# the subprocess side


def blas_control() -> float:
    """A BLAS dot product whose last bits differ between the Prescott and Haswell kernels: the
    positive control that the forced kernels really computed differently."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 1000))
    return float(a @ b)


def near_tie_faces(seed: int, n: int = 4000) -> np.ndarray:
    """138 coordinates from 2 strong components with coarse loadings: many coordinates move
    together, so the loading rows have (near-)ties. Seeds 2, 3 and 4 gave other PFA picks under
    the Prescott and Haswell kernels before the fix."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2)) * [10.0, 6.0]
    load = np.round(rng.uniform(-1, 1, (2, 138)), 1)
    return z @ load + 0.05 * rng.standard_normal((n, 138))


def grid_annotations(seed: int = 23, n: int = 110) -> np.ndarray:
    """(V, A) rating means on the 2- and 3-rater grids; seed 23 gave other 4-cluster centres
    under the two kernels before the fix (scikit-learn's k-means)."""
    rng = np.random.default_rng(seed)
    grid = np.concatenate([np.arange(1, 5.01, 0.5), np.arange(1, 5.01, 1 / 3)]).round(4)
    return rng.choice(grid, (n, 2))


def face_like_sequences(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """float32 utterances: 58 audio-like dims, 60 face-like dims around -60 mm, some face
    channels imputed (constant); the former float32 emission products differed by tenths of
    a nat between kernels and thread counts on such data."""
    rng = np.random.default_rng(seed)
    seqs, y = [], []
    for i in range(60):
        n, c = int(rng.integers(30, 90)), i % 3
        s = np.concatenate([rng.standard_normal((n, 58)) + 0.3 * c,
                            -60 + 20 * rng.standard_normal(60) + rng.standard_normal((n, 60))],
                           axis=1)
        if i % 4 == 0:
            s[:, 58:70] = s[0, 58:70]
        seqs.append(s.astype(np.float32))
        y.append(c)
    return seqs, np.array(y)


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def generated_decisions() -> dict[str, object]:
    """Discrete choices (readable) and continuous outputs (digests of their bytes) of the
    components that use numpy, on generated data with near-ties (the (B)LSTM, on torch, is
    checked by the fold test)."""
    from affectflow.labels import assign_clusters, fit_clusters
    from affectflow.models.hmm import HMMClassifier
    from affectflow.models.svm import SMOClassifier
    from affectflow.selection.cfs import cfs_select_with_merit
    from affectflow.selection.pfa import fit_pfa

    out: dict[str, object] = {}
    names = [f"c{i}" for i in range(138)]
    for seed in (2, 3, 4):
        res = fit_pfa(near_tie_faces(seed), names, seed=0)
        out[f"pfa{seed}"] = [list(res.selected_idx), list(res.clusters), res.n_components]
    va = grid_annotations()
    for k in (3, 4, 5):
        centres = fit_clusters(va, k, seed=0)
        out[f"clusters{k}"] = [centres.tolist(), assign_clusters(va, centres).tolist()]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    X = rng.standard_normal((400, 40)) + 0.3 * y[:, None]
    out["cfs"] = cfs_select_with_merit(X, y)
    svm = SMOClassifier().fit(X, y)
    out["svm"] = [_digest(svm.coef_), _digest(svm.intercept_), svm.predict(X).tolist()]
    seqs, labels = face_like_sequences()
    hmm = HMMClassifier(n_iter=20, seed=0).fit(seqs, labels)
    out["hmm"] = [[m.history_ for m in hmm.models_], _digest(hmm.loglik(seqs))]
    return out


def run_fold(run: Path, fold: str, out: Path) -> None:
    """Every per-fold stage of the workflow for ``fold``, from a finished run's LLDs and index,
    with the run's config (short (B)LSTM training), writing the workflow's layout under out."""
    import yaml

    from affectflow.stages import folds as fold_stages
    from affectflow.stages import models as model_stages
    from affectflow.stages import report

    config = yaml.safe_load((run / "config.yaml").read_text())
    res = run / "results"
    audio = sorted(res.glob("lld/*/audio.parquet"))
    face = sorted(res.glob("lld/*/face.parquet"))
    excluded = sorted(res.glob("lld/*/excluded.tsv"))
    split = res / "folds" / fold / "split.json"
    f = out / "folds" / fold
    seed, model_seed = config["folds"]["seed"], config["models"]["seed"]

    fold_stages.fit_normalizer(split, audio, face, f / "normalizer.npz")
    fold_stages.fit_pfa(split, f / "normalizer.npz", face, f / "pfa.json",
                          config["folds"]["pfa"], seed)
    fold_stages.make_labels(res / "index" / "utterances.parquet", split, excluded,
                              config["corpus"]["utterances"], f / "labels.parquet",
                              f / "clusters.json", seed)
    fold_stages.compute_functionals(split, f / "normalizer.npz", f / "pfa.json", audio, face,
                                      f / "functionals.parquet")
    cfs = [f / "cfs" / f"{task}.json" for task in TASKS]
    fold_stages.select_features(f / "functionals.parquet", f / "labels.parquet", TASKS, cfs,
                                  config["selection"]["search_termination"])

    def outputs(classifier: str, **files: str) -> dict[str, list[Path]]:
        return {name: [out / "models" / t / classifier / fold / file for t in TASKS]
                for name, file in files.items()}

    tables = {"functionals": f / "functionals.parquet", "labels": f / "labels.parquet",
              "cfs": cfs, "split": split}
    frames = {"split": split, "normalizer": f / "normalizer.npz", "pfa": f / "pfa.json",
              "labels": f / "labels.parquet", "audio": audio, "face": face}
    models = config["models"]
    model_stages.train_models(tables, TASKS, "svm_vf", outputs("svm_vf", model="model.json",
                             predictions="predictions.parquet"), models["svm"], model_seed)
    hmm_out = outputs("hmm_vf", model="model.npz", scores="scores.parquet",
                      predictions="predictions.parquet")
    model_stages.train_hmm(frames, TASKS, "vf", hmm_out, models["hmm"], model_seed,
                             tuning_tasks=TASKS)
    model_stages.train_hmm_lm({"scores": hmm_out["scores"]}, TASKS,
                                outputs("hmm_lm_vf", model="model.json",
                                        predictions="predictions.parquet"),
                                models["hmm_lm"])
    model_stages.train_models(tables, TASKS, "lstm_vf", outputs("lstm_vf", model="model.pt",
                             predictions="predictions.parquet"),
                             dict(models["lstm"], **RNN_EPOCHS), model_seed)
    predictions = sorted(out.glob("models/*/*/*/predictions.parquet"))
    report.aggregate_metrics(predictions, [p.parts[-4:-1] for p in predictions],
                               out / "metrics" / "per_fold.parquet")


def main(argv: list[str]) -> None:
    """``control``, ``generated`` or ``fold RUN FOLD OUT`` (:func:`run_fold`); prints JSON with
    the BLAS control and the generated results. Torch's thread count comes from the environment.
    """
    report: dict[str, object] = {"control": blas_control()}
    if argv[0] == "control":
        pass
    elif argv[0] == "generated":
        report["results"] = generated_decisions()
    elif argv[0] == "fold":
        import torch

        torch.set_num_threads(int(os.environ.get("AFFECTFLOW_TEST_TORCH_THREADS", "1")))
        run_fold(Path(argv[1]), argv[2], Path(argv[3]))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")
    print(json.dumps(report))


# ---------------------------------------------------------------------------------------------
# comparing artifacts


def _same_file(a: Path, b: Path) -> None:
    """Equal content; containers whose bytes hold timestamps are compared by their content."""
    if a.suffix == ".npz":
        with np.load(a) as za, np.load(b) as zb:
            assert za.files == zb.files
            for key in za.files:
                np.testing.assert_array_equal(za[key], zb[key], err_msg=f"{a}: {key}")
    elif a.suffix == ".pt":
        import torch

        ba, bb = (torch.load(p, map_location="cpu", weights_only=True) for p in (a, b))
        assert ba["meta"] == bb["meta"], a  # history: losses, best epoch
        for key, tensor in ba["state_dict"].items():
            assert torch.equal(tensor, bb["state_dict"][key]), f"{a}: {key}"
    else:
        assert a.read_bytes() == b.read_bytes(), f"{a} differs from {b}"


def assert_same_tree(a: Path, b: Path) -> list[Path]:
    """Both trees hold the same files with identical content; the files compared."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        _same_file(a / rel, b / rel)
    return files


@pytest.mark.e2e
def test_fold_artifacts_and_metrics_identical_across_kernels_and_threads(
    tiny_run: Path, tmp_path: Path
) -> None:
    require_kernel_effect()
    outs = []
    for coretype, threads in ENVIRONMENTS:
        out = tmp_path / f"{coretype}-{threads}"
        run_in(blas_env(coretype, threads), "fold", str(tiny_run), FOLD, str(out))
        outs.append(out)
    for other in outs[1:]:
        files = assert_same_tree(outs[0], other)
    names = {p.name for p in files}
    assert {"pfa.json", "clusters.json", "per_fold.parquet", "model.pt"} <= names
    metrics = pd.read_parquet(outs[0] / "metrics" / "per_fold.parquet")
    assert len(metrics) == len(TASKS) * 4  # svm, hmm, hmm+lm, lstm for every task
    pfa = json.loads((outs[0] / "folds" / FOLD / "pfa.json").read_text())
    assert len(pfa["features"]) == 30



# ---------------------------------------------------------------------------------------------
# the kernel-independent building blocks (affectflow.numerics)


def test_exact_covariance_is_np_cov_up_to_quantisation_and_ignores_row_order() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5000, 3)) @ rng.standard_normal((3, 20)) * 30 - 80
    x[:, 7] = 12.5  # a constant column
    cov = exact_covariance(x)
    ref = np.cov(x, rowvar=False)
    np.testing.assert_allclose(cov, ref, rtol=0, atol=1e-7 * np.abs(ref).max())
    assert np.array_equal(cov, cov.T) and not cov[7].any()
    perm = rng.permutation(len(x))
    assert np.array_equal(exact_covariance(x[perm]), cov)  # bit for bit: the sum is exact
    with pytest.raises(ValueError):
        exact_covariance(x[:1])


def test_symmetric_eigh_matches_lapack() -> None:
    rng = np.random.default_rng(6)
    b = rng.standard_normal((40, 40))
    a = b @ b.T
    values, vectors = symmetric_eigh(a)
    ref_values, ref_vectors = np.linalg.eigh(a)
    np.testing.assert_allclose(values, ref_values[::-1], rtol=1e-12, atol=1e-12 * values[0])
    assert np.all(np.diff(values) <= 0)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(40), atol=1e-12)
    np.testing.assert_allclose(a @ vectors, vectors * values, atol=1e-10 * values[0])
    cosines = np.abs(np.sum(vectors * ref_vectors[:, ::-1], axis=0))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-9)  # the same vectors up to sign
    values, vectors = symmetric_eigh(np.diag([1.0, 3.0, 3.0, 2.0]))  # ties keep index order
    assert values.tolist() == [3.0, 3.0, 2.0, 1.0]
    assert np.array_equal(vectors, np.eye(4)[:, [1, 2, 3, 0]])
    assert symmetric_eigh(np.array([[2.0]]))[0].tolist() == [2.0]


def test_kmeans_matches_scikit_learn_on_separated_blobs() -> None:
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(7)
    blobs = rng.uniform(-10, 10, (4, 5))
    x = np.concatenate([b + 0.3 * rng.standard_normal((60, 5)) for b in blobs])
    ours = kmeans(x, 4, n_init=3, seed=1)
    ref = KMeans(4, n_init=3, random_state=1).fit(x)
    same = pd.crosstab(ours.labels, ref.labels_).to_numpy()
    assert ((same > 0).sum(axis=1) == 1).all()  # the same partition, up to numbering
    np.testing.assert_allclose(ours.inertia, ref.inertia_, rtol=1e-9)
    assert kmeans(x, 4, n_init=3, seed=1).labels.tolist() == ours.labels.tolist()


def test_kmeans_ties_go_to_the_lower_centre_and_duplicates_fill_every_cluster() -> None:
    centres = np.array([[0.0, 0.0], [2.0, 0.0]])
    x = np.array([[1.0, 0.0], [1.0, 5.0], [0.5, 0.0]])  # the first two are equidistant
    assert squared_distances(x, centres).tolist() == [[1.0, 1.0], [26.0, 26.0], [0.25, 2.25]]
    assert kmeans(x, 1).labels.tolist() == [0, 0, 0]
    dup = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]), [5, 3, 2], axis=0)
    res = kmeans(dup, 3, n_init=2, seed=0)
    assert sorted(np.bincount(res.labels).tolist()) == [2, 3, 5] and res.inertia == 0.0
    with pytest.raises(ValueError):
        kmeans(dup, 11)


if __name__ == "__main__":
    main(sys.argv[1:])
