"""Archive names: `ecotaxa_<id>.zip` is named by metadata.json's ids, typed by hand on a
PlanktoScope and often reused. Who uses a name is read from the TSVs
(`objects/<folder>/ecotaxa_<id>.tsv`, streamer.owned.archive_users): a run whose archive
another acquisition's TSV names is refused unless allowed. An acquisition's older names
(left by an acq_id change) go with their zip and report files when no one else uses them
(streamer.owned.Outputs.remove_older_names, at each run's and export's end)."""

from __future__ import annotations

import logging

from segmenter.errors import AcquisitionError
from streamer.layout import Layout
from streamer.owned import archive_users

log = logging.getLogger(__name__)


def check_name(layout: Layout, allow_shared: bool) -> None:
    """AcquisitionError naming both folders when another acquisition's archive has this
    one's name (unless `allow_shared`: then the later run's archive replaces it)."""
    others = archive_users(layout)
    if others and not allow_shared:
        raise AcquisitionError(
            f"img/{layout.rel} and img/{others[0]} would both write {layout.archive.name} "
            f"(the same acq_id {layout.acq_id!r}), the later replacing the other: give one "
            "of them another acq_id in its metadata.json (then segmenter export), or pass "
            "--allow-same-archive"
        )
    if others:
        log.warning("%s: replaces the archive of img/%s", layout.archive.name, others[0])
