"""PlanktoScope segmenter: flow-cell frames in, measured crops and an EcoTaxa archive out."""

import worker  # noqa: F401  first: one BLAS thread per process, before numpy loads

__version__ = "0.1.0"
