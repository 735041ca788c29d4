"""Every task and every classifier of the workflow, each defined once.

The rules (wildcards, loops over classifiers), the config schema's enums, the label code, the
tables, the bundles and ``affectflow predict`` read these records instead of keeping their own
lists, so that adding a classifier of an existing family is one :class:`Classifier` entry (see
docs/architecture.md, "How to add a classifier").

Pure Python on purpose (no numpy, pandas, torch or scikit-learn): the rule files import it when
Snakemake parses the Snakefile, once per job on a cluster (see :mod:`affectflow.targets`).
Estimators are named by their import path (``module:Class``) and imported only where a model is
fitted or loaded (:mod:`affectflow.models.scoring`).

Order matters: :data:`TASKS` and :data:`CLASSIFIERS` are in the order of the paper's tables,
which is also the canonical order of rule outputs and ``tasks`` params.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Task:
    """One recognition task (paper, section 3.4).

    ``kind``: ``levels`` (a rating dimension in three levels) or ``clusters`` (k-means regions
    of the valence-activation plane, ``k = n_classes``, fitted per fold). ``class_names``: the
    levels' names (low to high); cluster classes are named after their centre at run time
    (:func:`affectflow.labels.class_names`). ``table``: the paper's results table (2 or 3).
    """

    name: str
    kind: Literal["levels", "clusters"]
    n_classes: int
    label: str  #: row-group label of Tables 2/3
    table1_label: str  #: column label of Table 1
    table: int
    dimension: str | None = None  #: rating dimension of a ``levels`` task
    class_names: tuple[str, ...] | None = None  #: level names (``levels`` tasks only)


@dataclass(frozen=True)
class Family:
    """A model family: one estimator class, one config block (``models.<config>``), one model
    file name.

    ``reads``: what the family's estimator scores: ``rows`` (one functional vector per
    utterance, utterances independent), ``sequences`` (one sequence of functional vectors per
    conversation, i.e. per (dialog, speaker)), ``frames`` (frame-level LLD sequences per
    utterance) or ``scores`` (another classifier's per-utterance scores, decoded per dialog).
    ``validation``: what the validation speaker is used for (``training``: it is one more
    training speaker; ``early stopping``; ``tuning``: a decoding parameter).
    ``estimator``: ``module:Class``; ``fixed_params``: constructor arguments the family fixes
    (a BLSTM is an :class:`~affectflow.models.rnn.RNNClassifier` with ``bidirectional=True``).
    """

    name: str
    display: str  #: name in Tables 2/3
    reads: Literal["rows", "sequences", "frames", "scores"]
    validation: Literal["training", "early stopping", "tuning"]
    model_file: str
    estimator: str
    fixed_params: dict[str, object] = field(default_factory=dict)

    @property
    def config(self) -> str:
        """The family's block under ``models:`` in config.yaml."""
        return self.name


@dataclass(frozen=True)
class Classifier:
    """A classifier id of the config (``tasks``, ``final.classifiers``): a family on a modality.

    ``modality``: ``v`` (voice), ``f`` (face) or ``vf`` (both); what that means depends on the
    family's input (HMMs: frame-level LLDs of 58 / 60 / 118 dims; functional-based families:
    all functionals for ``vf``, the audio ones for ``v``). ``rule``: the rule that trains it per
    fold (one job per (classifier, fold), every task), or ``None`` when it is not
    cross-validated (then it cannot appear under config ``tasks``). ``bundle``: a final model
    (``results/final/{task}/{id}``, rule ``train_final``) can be made of it. ``paper_tables``:
    the paper's tables that show it (its tasks by default). ``scores_from``: the classifier
    whose per-fold scores it decodes (its tasks need that one's scores too). ``params``:
    estimator arguments the classifier fixes on top of its family's (the context ablations of
    the BLSTM); ``label``: its name in the tables when it is not the family's; ``default``:
    configured for every task by default (config ``tasks``), beside the paper's classifiers.
    """

    id: str
    family: str
    modality: Literal["v", "f", "vf"]
    rule: str | None
    bundle: bool
    paper_tables: tuple[int, ...] = ()
    scores_from: str | None = None
    params: dict[str, object] = field(default_factory=dict)
    label: str | None = None
    default: bool = False

    @property
    def display(self) -> str:
        """Name in Tables 2/3 (``BLSTM``)."""
        return self.label or FAMILIES[self.family].display

    @property
    def estimator_params(self) -> dict[str, object]:
        """Constructor arguments fixed by the family and the classifier (besides config)."""
        return {**FAMILIES[self.family].fixed_params, **self.params}

    @property
    def features(self) -> str:
        """Feature label in Tables 2/3 (``v+f``)."""
        return MODALITY_LABELS[self.modality]

    @property
    def model_file(self) -> str:
        """The model's file name in its model or bundle folder."""
        return FAMILIES[self.family].model_file

    @property
    def needs_face(self) -> bool:
        """Whether its features need MOCAP files."""
        return "f" in self.modality


#: Modality -> feature label of Tables 2/3.
MODALITY_LABELS: dict[str, str] = {"v": "v", "f": "f", "vf": "v+f"}

_TASKS: tuple[Task, ...] = (
    Task("valence3", "levels", 3, "valence", "VAL", 2, "valence",
         ("negative", "neutral", "positive")),
    Task("activation3", "levels", 3, "activation", "ACT", 2, "activation",
         ("low", "medium", "high")),
    Task("clusters3", "clusters", 3, "3 clusters", "3 clusters", 3),
    Task("clusters4", "clusters", 4, "4 clusters", "4 clusters", 3),
    Task("clusters5", "clusters", 5, "5 clusters", "5 clusters", 3),
)

_FAMILIES: tuple[Family, ...] = (
    Family("hmm", "HMM", "frames", "training", "model.npz",
           "affectflow.models.hmm:HMMClassifier"),
    Family("hmm_lm", "HMM+LM", "scores", "tuning", "model.json",
           "affectflow.models.lm:BigramLM"),
    Family("svm", "SVM", "rows", "training", "model.json",
           "affectflow.models.svm:SMOClassifier"),
    Family("lstm", "LSTM", "sequences", "early stopping", "model.pt",
           "affectflow.models.rnn:RNNClassifier", {"bidirectional": False}),
    Family("blstm", "BLSTM", "sequences", "early stopping", "model.pt",
           "affectflow.models.rnn:RNNClassifier", {"bidirectional": True}),
)

_CLASSIFIERS: tuple[Classifier, ...] = (
    Classifier("hmm_v", "hmm", "v", "train_hmm_v", False, (2,)),
    Classifier("hmm_f", "hmm", "f", "train_hmm_f", False, (2,)),
    Classifier("hmm_vf", "hmm", "vf", "train_hmm_vf", False, (2, 3)),
    Classifier("hmm_lm_vf", "hmm_lm", "vf", "train_hmm_lm", False, (2, 3), "hmm_vf"),
    Classifier("svm_vf", "svm", "vf", "train_svm", True, (2, 3)),
    Classifier("svm_v", "svm", "v", None, True),
    Classifier("lstm_vf", "lstm", "vf", "train_lstm", True, (2, 3)),
    Classifier("lstm_v", "lstm", "v", None, True),
    Classifier("blstm_vf", "blstm", "vf", "train_blstm", True, (2, 3)),
    # Context ablations of blstm_vf (Table 4): the same network, features and training, with
    # every utterance its own sequence (run for every task: Table 4's baseline; one update per
    # conversation like the BLSTM, models/rnn.py), or each conversation's utterances in a
    # permuted order (opt-in).
    Classifier("blstm_vf_noctx", "blstm", "vf", "train_blstm_noctx", False,
               params={"context": "none"}, label="BLSTM (no context)", default=True),
    Classifier("blstm_vf_shuffled", "blstm", "vf", "train_blstm_shuffled", False,
               params={"context": "shuffled"}, label="BLSTM (shuffled)"),
    Classifier("blstm_v", "blstm", "v", None, True),
)

#: Task name -> record, in the paper's order.
TASK_RECORDS: dict[str, Task] = {t.name: t for t in _TASKS}
#: Family name -> record.
FAMILIES: dict[str, Family] = {f.name: f for f in _FAMILIES}
#: Classifier id -> record, in the tables' order (final-only variants after their family's
#: cross-validated one).
CLASSIFIER_RECORDS: dict[str, Classifier] = {c.id: c for c in _CLASSIFIERS}

#: The paper's five tasks, in table order.
TASKS: tuple[str, ...] = tuple(TASK_RECORDS)
#: The cross-validated classifiers (those with a training rule), in the tables' order.
CLASSIFIERS: tuple[str, ...] = tuple(c.id for c in _CLASSIFIERS if c.rule is not None)
#: Classifiers a final-model bundle can be made of.
BUNDLE_CLASSIFIERS: tuple[str, ...] = tuple(c.id for c in _CLASSIFIERS if c.bundle)
#: The paper's model, against which the tables test every other classifier.
REFERENCE: str = "blstm_vf"


def task(name: str) -> Task:
    """The record of task ``name`` (``ValueError`` naming the known tasks otherwise)."""
    try:
        return TASK_RECORDS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; expected one of {TASKS}") from None


def classifier(name: str) -> Classifier:
    """The record of classifier ``name`` (``ValueError`` naming the known ones otherwise)."""
    try:
        return CLASSIFIER_RECORDS[name]
    except KeyError:
        raise ValueError(
            f"unknown classifier {name!r}; expected one of {tuple(CLASSIFIER_RECORDS)}"
        ) from None


def family(name: str) -> Family:
    """The record of model family ``name``."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; expected one of "
                         f"{tuple(FAMILIES)}") from None


def n_classes(name: str) -> int:
    """Number of classes of task ``name``."""
    return task(name).n_classes


def tasks_of_kind(kind: str) -> tuple[str, ...]:
    """Tasks of one kind (``levels`` or ``clusters``), in table order."""
    return tuple(t.name for t in _TASKS if t.kind == kind)


def tasks_in_table(table: int) -> tuple[str, ...]:
    """Tasks of the paper's Table ``table`` (2 or 3), in table order."""
    return tuple(t.name for t in _TASKS if t.table == table)


def trained_by(family_name: str) -> tuple[Classifier, ...]:
    """The cross-validated classifiers of a family (one training rule each), in table order."""
    return tuple(c for c in _CLASSIFIERS if c.family == family_name and c.rule is not None)


def trained_reading(*reads: str) -> tuple[Classifier, ...]:
    """The cross-validated classifiers whose family reads one of ``reads`` (``rows``,
    ``sequences``, ``frames``, ``scores``), in table order: each rule block of models.smk."""
    return tuple(c for c in _CLASSIFIERS
                 if c.rule is not None and FAMILIES[c.family].reads in reads)


def decoders_of(name: str) -> tuple[str, ...]:
    """Classifiers that decode ``name``'s per-fold scores (``hmm_vf`` -> ``hmm_lm_vf``)."""
    return tuple(c.id for c in _CLASSIFIERS if c.scores_from == name)


def paper_tasks() -> dict[str, list[str]]:
    """Each task with the classifiers the paper's tables show for it (config ``tasks``'
    default)."""
    return {t.name: [c.id for c in _CLASSIFIERS if t.table in c.paper_tables]
            for t in _TASKS}


def default_tasks() -> dict[str, list[str]]:
    """Config ``tasks``' default: each task with the classifiers the paper's tables show for it
    and those run for every task by default (``Classifier.default``), in table order."""
    paper = paper_tasks()
    return {t: [c.id for c in _CLASSIFIERS if c.id in paper[t] or c.default] for t in paper}


def bundle_families() -> tuple[str, ...]:
    """Families a bundle can be made of, in registry order."""
    return tuple(dict.fromkeys(CLASSIFIER_RECORDS[c].family for c in BUNDLE_CLASSIFIERS))


def bundle_modalities() -> tuple[str, ...]:
    """Modalities of the bundle classifiers (each has its own final CFS selection)."""
    return tuple(dict.fromkeys(CLASSIFIER_RECORDS[c].modality for c in BUNDLE_CLASSIFIERS))


#: Lists the config schema refers to by name (``x-registry: <name>``, filled in by
#: :func:`affectflow.config.validate_config`).
SCHEMA_LISTS = {
    "tasks": lambda: list(TASKS),
    "classifiers": lambda: list(CLASSIFIERS),
    "bundle_classifiers": lambda: list(BUNDLE_CLASSIFIERS),
    "paper_tasks": paper_tasks,
    "default_tasks": default_tasks,
}
