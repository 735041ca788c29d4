# Helpers shared by all rules: paths derived from config, input functions, small utilities.
# Rules and scripts never read config directly beyond what these helpers and `params:` pass on.

from pathlib import Path

from affectflow.corpus.layout import resolve_root


def is_synthetic():
    return config["corpus"]["source"] == "synthetic"


def synthetic_dir():
    syn = config["corpus"]["synthetic"]
    return f"resources/synthetic/{syn['preset']}-{syn['seed']}"


def corpus_root():
    """IEMOCAP_full_release of the configured corpus (generated or real)."""
    if is_synthetic():
        return f"{synthetic_dir()}/IEMOCAP_full_release"
    root = config["corpus"]["iemocap_root"]
    if not root:
        raise ValueError(
            "config key corpus.iemocap_root is required when corpus.source is 'iemocap'"
        )
    try:
        return str(resolve_root(root))
    except FileNotFoundError as err:
        raise ValueError(f"config key corpus.iemocap_root: {err}") from None


def get_corpus_input():
    """The generated corpus folder when synthetic; nothing for the real (external) corpus."""
    return [corpus_root()] if is_synthetic() else []


def get_index_root(wildcards, input):
    """Root to index: the generated corpus input, or the configured real corpus."""
    return input.corpus[0] if is_synthetic() else corpus_root()


def get_final_outputs():
    return [
        "results/index/utterances.parquet",
        "results/index/excluded.tsv",
    ]


# Fail before any job starts when the corpus settings cannot work.
corpus_root()
