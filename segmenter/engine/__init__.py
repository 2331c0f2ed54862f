"""Orchestration: the worker pool, the flat field in shared memory, the bounded ordered
dispatch of frames, the frame loop that commits them in order and polls for stop, and
the run of one acquisition to its archive.

seam.py           the pool seam: `Pool` (a Protocol), `FlatField`, `StopEvent`, wait_all;
                  what dispatch, frames, flatfield and run know of where tasks run
pool.py           the process pool behind the seam (inline for one worker)
cluster.py        a Dask cluster behind the same seam (--cluster); cluster_flat.py its
                  flat field, cluster_future.py its futures, cluster_worker.py its
                  worker set-up, cluster_runs.py several acquisitions in flight
fault_switch.py   whether the test suite's fault injection reaches the workers
shared_memory.py  blocks the parent creates and unlinks; the start-up sweep
dispatch.py       a bounded, ordered map of frames over the pool, crash isolation
flat_rules.py     the old program's flat-field rules (and when a live run may apply them), pure
flatfield.py      a flat computed on the local pool
source.py         where the frames come from: a listed folder, or one being imaged (live)
frames.py         the frame loop: dispatch, commit in order, recalculate, stop
run_state.py      what the committed prefix implies for the next frame (flat, objects)
run.py            one acquisition: journal, frames, archive, the caller's hook, done.txt
segmenter.py      `Segmenter`: what the CLI and the service hold; hands each run the report
events.py         `Progress` events (`AcquisitionSummary` is segmenter.summary)
"""

from segmenter.engine.events import Progress, ProgressCallback
from segmenter.engine.segmenter import Segmenter
from segmenter.summary import AcquisitionSummary

__all__ = ["AcquisitionSummary", "Progress", "ProgressCallback", "Segmenter"]
