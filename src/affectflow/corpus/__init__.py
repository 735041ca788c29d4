"""Corpus access: the IEMOCAP layout, its parser/index and the synthetic generator."""
