"""The EcoTaxa stand-in keeps to the behaviours issue 27 measured on EcoTaxa's back-end
(what the upload tests rely on): checked with plain HTTP calls."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator

import httpx
import pytest

from tests.segmenter.upload.ecotaxa_standin import EcoTaxaStandIn


@pytest.fixture
def http(standin: EcoTaxaStandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=standin.url, timeout=10) as client:
        yield client


def logged_in(http: httpx.Client, standin: EcoTaxaStandIn) -> httpx.Client:
    token = http.post("/login", json={"username": standin.user, "password": standin.password})
    assert token.status_code == 200 and isinstance(token.json(), str)
    http.headers["Authorization"] = f"Bearer {token.json()}"
    return http


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def test_login_and_bearer_token(http: httpx.Client, standin: EcoTaxaStandIn) -> None:
    assert http.post("/login", json={"username": standin.user, "password": "no"}).status_code == 403
    assert (
        http.get("/samples/search", params={"project_ids": "1", "id_pattern": "*"}).status_code
        == 401
    )
    logged_in(http, standin)
    assert http.get("/samples/search", params={"project_ids": "1", "id_pattern": "*"}).json() == []


def test_jobs_need_the_trailing_slash_and_summary_a_body(
    http: httpx.Client, standin: EcoTaxaStandIn
) -> None:
    logged_in(http, standin)
    tsv = "object_id\timg_file_name\tsample_id\n[t]\t[t]\t[t]\n"
    archive = zip_of({"ecotaxa_x.tsv": tsv.encode()})
    files = {"file": ("ecotaxa_x.zip", archive)}
    http.post("/user_files/", files=files, data={"path": "run1/ecotaxa_x.zip"})
    job = http.post("/file_import/1", json={"source_path": "run1/ecotaxa_x"}).json()
    assert job["errors"] == [] and http.get(f"/jobs/{job['job_id']}").status_code == 404
    while (state := http.get(f"/jobs/{job['job_id']}/").json())["state"] in "PR":
        time.sleep(0.05)
    assert state["state"] == "E" and state["errors"] == ["no object in the TSVs"]
    assert http.post("/object_set/1/summary", params={"only_total": "true"}).status_code == 422
    assert http.post("/object_set/1/summary", params={"only_total": "true"}, json={}).json() == {
        "total_objects": 0
    }


@pytest.mark.parametrize("top", ["", "ecotaxa_x/"])
def test_the_zip_is_unpacked_into_its_folder_and_deleted(
    http: httpx.Client, standin: EcoTaxaStandIn, top: str
) -> None:
    logged_in(http, standin)
    members = {f"{top}ecotaxa_x.tsv": b"object_id\n[t]\n", f"{top}.~lock#": b"\x00\x01\x02"}
    stored = http.post(
        "/user_files/",
        files={"file": ("ecotaxa_x.zip", zip_of(members))},
        data={"path": "run1/ecotaxa_x.zip"},
    ).json()
    assert (
        stored.endswith("run1/ecotaxa_x.zip")
        and not (standin.files / "run1/ecotaxa_x.zip").exists()
    )
    assert sorted(p.name for p in (standin.files / "run1/ecotaxa_x").iterdir()) == ["ecotaxa_x.tsv"]
