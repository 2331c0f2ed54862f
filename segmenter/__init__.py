"""PlanktoScope segmenter: flow-cell frames in, measured crops and an EcoTaxa archive out."""

__version__ = "0.1.0"
