"""Low-level descriptors and utterance functionals."""
