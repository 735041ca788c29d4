"""Time one BLSTM fold at IEMOCAP scale on one core: the paper's schedule and the workflow's.

A fold trains on about 4,475 utterances of 8 speakers, i.e. roughly 300 sequences (one speaker
in one dialog, ~15 utterances each), validates on a ninth speaker (~500 utterances) and tests
on the tenth (~500). Inputs: ~200 CFS-selected functionals; 3 classes (a valence or activation
task). The data are generated: labels follow a sticky Markov chain within a sequence (so
context helps), and 20 of the 200 features carry a weak class-dependent shift.

The BLSTM runs side by side with ``RNNClassifier``'s defaults (the paper's: 128 memory blocks
per direction, input noise 0.6, online SGD with lr 1e-5 and momentum 0.9 on the summed
cross-entropy, at most 100 epochs, early stopping with patience 20 on the validation speaker,
one initialisation) and with the workflow's ``models.blstm`` block of ``config.yaml`` (Adam at
3e-3, 8 conversations per update; chosen by ``bench_rnn_schedule.py``). For scale, the SVM
baseline (``SMOClassifier``, Weka defaults) is timed on the same utterances with 3 and 5
classes. Writes the block ``rnn-fold`` of ``benchmarks/rnn.md`` (the schedule study's blocks
stay). Goal: one BLSTM fold under 60 s on one core.

Run: ``.venv/bin/python benchmarks/bench_rnn.py [--max-epochs N]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, before numpy and torch load

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from reporting import replace_block  # noqa: E402

from affectflow.models.rnn import RNNClassifier  # noqa: E402
from affectflow.models.svm import SMOClassifier  # noqa: E402

D, K, INFORMATIVE = 200, 3, 20


def fold_sequences(n_utts: int, seed: int, n_classes: int = K
                   ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """~15-utterance sequences with sticky labels and a weak planted class shift."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1234).normal(0.0, 1.0, (n_classes, INFORMATIVE))
    seqs, labels, total = [], [], 0
    while total < n_utts:
        T = min(int(rng.integers(5, 26)), n_utts - total)
        y = np.empty(T, dtype=np.int64)
        y[0] = rng.integers(n_classes)
        for t in range(1, T):
            y[t] = y[t - 1] if rng.random() < 0.7 else rng.integers(n_classes)
        X = rng.normal(0.0, 1.0, (T, D))
        X[:, :INFORMATIVE] += 0.35 * centres[y]
        seqs.append(X)
        labels.append(y)
        total += T
    return seqs, labels


class _Clock:
    """Wall and process CPU seconds of a block."""

    def __enter__(self) -> _Clock:
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


def uar(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="override the default epoch limit (for a quick look)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("rnn.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_start = os.getloadavg()[0]

    train = fold_sequences(4475, seed=1)
    valid = fold_sequences(500, seed=2)
    test = fold_sequences(498, seed=3)
    y_test = np.concatenate(test[1])
    n_seq = len(train[0])
    print(f"{n_seq} training sequences, {sum(map(len, train[0]))} utterances", flush=True)

    import yaml

    config = yaml.safe_load(Path(__file__).resolve().parents[1].joinpath("config.yaml")
                            .read_text())["models"]["blstm"]
    extra = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    settings = {"paper (constructor defaults)": dict(extra),
                "workflow default (config.yaml)": {**config, "device": "cpu", **extra}}
    fits = {}
    for name, params in settings.items():
        model = RNNClassifier(bidirectional=True, **params)
        with _Clock() as fit_t:
            model.fit(*train, *valid)
        with _Clock() as pred_t:
            pred = np.concatenate(model.predict(test[0]))
        fits[name] = (model, fit_t, pred_t, float(np.mean(pred == y_test)), uar(y_test, pred))
        print(name, vars(fit_t), len(model.history_), model.best_epoch_, flush=True)

    svm_rows = []
    for n_classes in (3, 5):
        tr = fold_sequences(4475, seed=1, n_classes=n_classes)
        te = fold_sequences(498, seed=3, n_classes=n_classes)
        X, y = np.round(np.concatenate(tr[0]), 4), np.concatenate(tr[1])
        with _Clock() as svm_t:
            svm = SMOClassifier().fit(X, y)
        p = svm.predict(np.round(np.concatenate(te[0]), 4))
        yt = np.concatenate(te[1])
        svm_rows.append((n_classes, len(X), svm_t, float(np.mean(p == yt)), uar(yt, p)))
        print("svm", n_classes, vars(svm_t), flush=True)

    lines = [
        "<!-- rnn-fold -->",
        "# LSTM / BLSTM benchmark (one fold at IEMOCAP scale)",
        "",
        f"Generated by `benchmarks/bench_rnn.py"
        f"{'' if args.max_epochs is None else f' --max-epochs {args.max_epochs}'}` on "
        f"{platform.machine()} / {platform.python_implementation()} "
        f"{platform.python_version()}, torch {torch.__version__}, one thread "
        f"(`torch.set_num_threads(1)`); 1-minute load average {load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores. Other jobs sharing "
        "the machine inflate the wall-clock times; the CPU times are what one core spent.",
        "",
        f"Data (generated): {n_seq} training sequences ({sum(map(len, train[0]))} utterances), "
        f"validation {len(valid[0])} sequences ({sum(map(len, valid[0]))} utterances), test "
        f"{len(test[0])} sequences ({len(y_test)} utterances); {D} features, {K} classes; "
        f"labels sticky within a sequence (stay probability 0.7), {INFORMATIVE} features "
        "shifted by 0.35 x a class centre.",
        "",
        "## BLSTM: the paper's schedule and the workflow's, side by side",
        "",
    ]
    for name, (model, _, _, _, _) in fits.items():
        p = model.get_params()
        lines.append(
            f"- {name}: hidden {p['hidden']} per direction, noise sigma {p['noise_sigma']}, "
            f"optimizer {p['optimizer']} (lr {p['lr']:g}), {p['batch_size']} sequence(s) per "
            f"update, summed cross-entropy; max_epochs {p['max_epochs']}, patience "
            f"{p['patience']} on the validation loss, n_init {p['n_init']}.")
    names = list(fits)
    rows = {
        "epochs run (best epoch)": lambda m, f, q, a, u: f"{len(m.history_)} ({m.best_epoch_})",
        "fit wall s": lambda m, f, q, a, u: f"{f.wall:.1f}",
        "fit CPU s": lambda m, f, q, a, u: f"{f.cpu:.1f}",
        "CPU s per epoch (train + validation)": lambda m, f, q, a, u:
            f"{f.cpu / len(m.history_):.2f}",
        "CPU ms per sequence update": lambda m, f, q, a, u:
            f"{f.cpu / len(m.history_) / n_seq * 1e3:.2f}",
        "predict test CPU s": lambda m, f, q, a, u: f"{q.cpu:.2f}",
        "validation loss first / best epoch": lambda m, f, q, a, u:
            f"{m.history_[0]['valid_loss']:.3f} / "
            f"{m.history_[m.best_epoch_ - 1]['valid_loss']:.3f}",
        "test accuracy / UAR": lambda m, f, q, a, u: f"{a:.3f} / {u:.3f}",
    }
    lines += ["", "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, cell in rows.items():
        lines.append(f"| {label} | " + " | ".join(cell(*fits[n]) for n in names) + " |")
    total = {n: fits[n][1].cpu + fits[n][2].cpu for n in names}
    lines += [
        "",
        "Goal: one BLSTM fold under 60 s on one core: "
        + "; ".join(f"{n} {'met' if t < 60 else 'NOT met'} ({t:.0f} s CPU)"
                    for n, t in total.items()) + ".",
        "",
        "## SVM baseline on the same utterances (SMO, Weka 3.6 defaults)",
        "",
        "| classes | training utterances | fit wall s | fit CPU s | test accuracy | test UAR |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {k} | {n} | {t.wall:.1f} | {t.cpu:.1f} | {acc:.3f} | {u:.3f} |"
        for k, n, t, acc, u in svm_rows
    ]
    lines.append("<!-- /rnn-fold -->")
    old = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(replace_block(old, "\n".join(lines) + "\n", "rnn-fold"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
