"""Orchestration: the worker pool, the flat field in shared memory, the bounded ordered
dispatch of frames, the frame loop that commits them in order and polls for stop, and
the run of one acquisition to its archive.

pool.py           the process pool behind a seam (inline for one worker)
cluster.py        a Dask cluster behind the same seam (--cluster); cluster_flat.py its
                  flat field, cluster_worker.py its worker set-up
shared_memory.py  blocks the parent creates and unlinks; the start-up sweep
dispatch.py       a bounded, ordered map of frames over the pool, crash isolation
flatfield.py      the flat-field rules (and when a live run may apply them), computed on the pool
source.py         where the frames come from: a listed folder, or one being imaged (live)
frames.py         the frame loop: dispatch, commit in order, recalculate, stop
run.py            one acquisition: journal, frames, archive, done.txt
segmenter.py      `Segmenter`: what the CLI and the service hold
events.py         `Progress` events
"""

from segmenter.engine.events import Progress, ProgressCallback
from segmenter.engine.run import AcquisitionSummary
from segmenter.engine.segmenter import Segmenter

__all__ = ["AcquisitionSummary", "Progress", "ProgressCallback", "Segmenter"]
