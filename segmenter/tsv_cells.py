"""An acquisition's own cells in the TSV, in the run's output contract: its metadata, the
baseline's process columns (SPEC 2.7), ours (streamer.contract says what differs). The
run (engine.run), `segmenter export` and `segmenter ls` build them here; the objects'
cells come from the journal (streamer.ecotaxa)."""

from __future__ import annotations

from typing import Any

from segmenter.acquisition import Acquisition
from segmenter.settings import RunSettings
from streamer import contract, ecotaxa
from worker.params import Params


def process_columns(
    acq: Acquisition, params: Params, *, settings: RunSettings, manifest: dict[str, Any]
) -> dict[str, Any]:
    """The baseline's process columns, in its order (SPEC 2.7)."""
    run_id = settings.process_id or manifest["process_uuid"]
    project, sample = (text.replace(" ", "_") for text in (acq.project, acq.sample_id))
    return {
        "process_datetime": manifest["process_datetime"],
        "process_uuid": manifest["process_uuid"],
        "process_id": f"{project}_{sample}_{run_id}",
        **params.step_columns(),
    }


def tsv_cells(
    acq: Acquisition, params: Params, *, settings: RunSettings, manifest: dict[str, Any]
) -> ecotaxa.AcquisitionCells:
    """The per-acquisition TSV cells in the output contract `settings.compat`: metadata,
    the baseline's process columns, ours (streamer.contract says what differs)."""
    compat, px = settings.compat, params.pixel_size_um
    process = process_columns(acq, params, settings=settings, manifest=manifest)
    extra = {**params.extra_columns(), **contract.extra_columns(compat, px)}
    metadata = contract.metadata_cells(compat, acq.metadata)
    return ecotaxa.AcquisitionCells(metadata, process, extra, compat, px)
