"""Local single-node SLURM test cluster: scripts and the Python helpers in slurm.py."""
