"""Child process of the memory measurement: one forced run, its summary as JSON on stdout.

python -m benchmark.memrun ACQUISITION DATA_ROOT WORKERS
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from segmenter.engine import Segmenter
from segmenter.settings import RunSettings


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    folder, root, workers = Path(argv[0]), Path(argv[1]), int(argv[2])
    with Segmenter(workers) as seg:
        summaries = seg.run([folder], RunSettings(force=True), data_root=root)
    summary = summaries[0].to_json() if summaries else {"status": "nothing run", "objects": 0}
    print(json.dumps({"status": summary["status"], "objects": summary["objects"]}))
    return 0 if summary["status"] == "done" else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
