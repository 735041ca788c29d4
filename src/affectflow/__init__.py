"""affectflow: context-sensitive multimodal emotion recognition (Woellmer et al., 2010) as a DAG.

All logic lives in this package; the Snakemake workflow only wires files to these functions.
"""

__version__ = "0.1.0"
