"""What runs inside a pool process: the pure per-frame kernel.

decode.py    frames checked and decoded (`read_frame`): size and header before the bytes
inputs.py    input files read safely: regular files only, opened without blocking, bounded
correct.py   the flat-field correction (exact lookup table) and the median of a stack
mask.py      threshold, mask steps by windows, regions
features.py  the SPEC 2.5 features of one region
hsv.py       OpenCV's 8-bit BGR to HSV in integers (x86-64 OpenCV's, on every CPU)
moments.py   second moments, eigenvalues, orientation: correctly rounded from integers
topology.py  skimage's integer region properties (filled area, Euler number, perimeter), exactly
kernel.py    `segment_frame`: one frame to features and crop JPEGs
params.py    the frozen pipeline parameters and the feature names
records.py   what crosses the process boundary (records, crop bytes, failures)
shared.py    a worker's view of arrays in shared memory
heap.py      the free heap handed back to the system (before a flat's decode)
tasks.py     the functions the pool runs (a chunk of frames, flat decodes and medians)
errors.py    the root of the error hierarchy, and the errors raised here

It imports nothing of `segmenter` or `streamer`: no MQTT, no paths beyond reading one
frame, no module state but explicit caches (a worker's attachments and frame buffer, both
dropped before a flat's decode, with the free heap: `worker.heap`).

Importing it asks for one OpenBLAS thread per process (unless OPENBLAS_NUM_THREADS is
set), which holds only when it comes before numpy's first import, as in the pool's
forkserver and behind `segmenter`: the pool is the parallelism. skimage's moments
called `np.dot` on every region, and OpenBLAS's helper threads spun on the other core
for it (over a quarter of a dense frame's instructions under callgrind), taking it from
the other worker; the kernel no longer calls BLAS, but a worker may still run code that
does (the old method, in the benchmark).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
