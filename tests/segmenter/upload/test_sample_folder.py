"""#731: the archive laid out as EcoTaxa's batch upload takes it, every file in a top
folder named after the sample (`segment --sample-folder`, `export --sample-folder`),
checked with EcoTaxa's header rules and imported through the stand-in."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from segmenter.acquisition import load_acquisition
from segmenter.cli import main
from segmenter.errors import EcoTaxaError
from segmenter.synth import SynthSpec, write_acquisition
from streamer.archive import write_archive
from streamer.ecotaxa import read_tsv, validate_header
from tests.segmenter.upload.ecotaxa_standin import EcoTaxaStandIn


def members(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_segment_with_sample_folder_imports_every_object(
    tmp_path: Path, standin: EcoTaxaStandIn, login: list[str]
) -> None:
    root = tmp_path / "flat_and_folder"
    folder = write_acquisition(root, SynthSpec(frames=5, objects=5, width=640, height=480, seed=4))
    sample = json.loads((folder / "metadata.json").read_text())["sample_id"]
    argv = ["segment", str(folder), "--workers", "1", "--no-report", "--sample-folder"]
    assert main(argv) == 0
    archive = load_acquisition(folder, root).run_layout().archive
    files = members(archive)
    assert files and all(name.startswith(f"{sample}/") for name in files)
    (tsv_name,) = [n for n in files if n.endswith(".tsv")]
    (tmp_path / "tsv").mkdir()
    tsv = tmp_path / "tsv" / Path(tsv_name).name
    tsv.write_bytes(files[tsv_name])
    names, types, rows = read_tsv(tsv)
    validate_header(names, types)
    assert {f"{sample}/{r['img_file_name']}" for r in rows} | {tsv_name} == set(files)

    assert main(["upload", str(folder), *login]) == 0
    ecotaxa_sample = rows[0]["sample_id"]  # the output contract's (2026-06: combined with acq_id)
    assert sorted(standin.objects_of(1, ecotaxa_sample)) == sorted(r["object_id"] for r in rows)
    (source,) = (standin.files / "Trash" / "planktoscope").iterdir()  # imported: trashed
    assert (source / archive.stem / sample / tsv.name).is_file()  # unpacked with its folder

    # export keeps to the flag it is given: the same files, flat or in the folder
    assert main(["export", str(folder), "--no-report"]) == 0
    flat = members(archive)
    assert set(flat) == {n.removeprefix(f"{sample}/") for n in files}
    assert main(["export", str(folder), "--no-report", "--sample-folder"]) == 0
    assert set(members(archive)) == set(files)


@pytest.mark.parametrize("bad", ["a/b", "..", "tab\there"])
def test_a_folder_that_is_not_a_plain_name_is_refused(tmp_path: Path, bad: str) -> None:
    tsv = tmp_path / "ecotaxa_x.tsv"
    tsv.write_text("object_id\timg_file_name\n[t]\t[t]\n", encoding="utf-8")
    with pytest.raises(EcoTaxaError, match="plain folder name"):
        write_archive(tmp_path / "x.zip", tsv, crops_dir=tmp_path, objects=[], folder=bad)
    assert not (tmp_path / "x.zip").exists()
