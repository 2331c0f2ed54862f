"""Live segmentation: follow an acquisition while the imager writes it (watch.py), and
play an existing acquisition the way the imager does (replay.py, `segmenter replay`)."""
