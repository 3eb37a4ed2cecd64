"""POST /v1/triage/file: a contribution's .docx, a spreadsheet batch with its id column, and
files that cannot be read (a clear 422 naming the file)."""
from __future__ import annotations

from fastapi.testclient import TestClient

from tests.engine.intake.test_files import TITLE, a1_docx, items_xlsx


def test_a_docx_contribution_is_read_and_triaged(client: TestClient) -> None:
    r = client.post("/v1/triage/file", files={"file": ("C-123.docx", a1_docx(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["file"] == "C-123.docx"
    [item] = body["items"]
    assert item["ok"] and item["decision"]["home"] in ("SG20", "joint", "SG17") and "questions" in item["found"]
    assert item["missing"] == ["liaisons"]


def test_a_spreadsheet_batch_keeps_its_ids(client: TestClient) -> None:
    r = client.post("/v1/triage/file", files={"file": ("items.xlsx", items_xlsx(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["id"] for i in body["items"]] == ["C-0042", "43"] and all(i["ok"] for i in body["items"])
    assert body["notes"] and "Owner notes" in body["notes"][0]
    csv = f"Contribution;Title\nC-1;{TITLE}\nC-2;\n".encode()
    mixed = client.post("/v1/triage/file", files={"file": ("items.csv", csv, "text/csv")}).json()
    assert [(i["id"], i["ok"]) for i in mixed["items"]] == [("C-1", True), ("C-2", False)]


def test_the_ids_of_an_uploaded_batch_are_kept_in_the_log_and_its_export(client: TestClient) -> None:
    import csv
    import io

    from tests.api.conftest import STAFF

    r = client.post("/v1/triage/file", files={"file": ("items.xlsx", items_xlsx(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    staff = {"Authorization": f"Bearer {STAFF}"}
    found = client.get("/v1/decisions", params={"text": "c-0042"}, headers=staff).json()
    assert [d["item_id"] for d in found["items"]] == ["C-0042"]
    assert found["items"][0]["decision_id"] == r.json()["items"][0]["decision"]["decision_id"]
    export = client.get("/v1/decisions", params={"format": "csv"}, headers=staff)
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert sorted(row["item_id"] for row in rows) == ["43", "C-0042"]
    assert list(rows[0])[:3] == ["decision_id", "created_at", "actor"]  # the older columns keep their names and places


def test_an_unreadable_file_is_a_422_naming_it(client: TestClient) -> None:
    r = client.post("/v1/triage/file", files={"file": ("broken.docx", b"not a zip", "application/octet-stream")})
    assert r.status_code == 422
    [detail] = r.json()["detail"]
    assert "broken.docx" in detail["msg"] and "not a readable .docx" in detail["msg"] and detail["loc"] == ["body", "file"]
    assert client.post("/v1/triage/file").status_code == 422
