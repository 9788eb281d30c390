"""Downloader tests against a local HTTP server on 127.0.0.1 (never the real hosts).

The server serves byte strings from a dict, honours ``Range: bytes=N-`` and has modes
that drop the connection half-way, ignore Range, or serve a truncated file as if it
were complete.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import stat
import threading
import zipfile

import pytest

from ials.data import download as dl
from ials.data.download import (
    DownloadError,
    DownloadInterruptedError,
    DownloadUnavailableError,
    KnownDataset,
    RemoteFile,
)


class FileServer:
    """A threaded HTTP server on 127.0.0.1 serving ``files`` (URL path -> bytes)."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.mode = "normal"
        self.drops_left = 0
        self.requests: list[dict] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                body = server.files.get(self.path.lstrip("/"))
                range_header = self.headers.get("Range")
                server.requests.append({"path": self.path, "range": range_header})
                if body is None:
                    self.send_error(404, "not found")
                    return
                start = 0
                if range_header and server.mode != "ignore-range":
                    start = int(range_header.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                if server.mode == "truncated":
                    payload = payload[: len(payload) // 2]
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if server.drops_left > 0:
                    server.drops_left -= 1
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


U_DATA = b"".join(f"{u}\t{i}\t{(u + i) % 5 + 1}\t{880000000 + u * 7 + i}\n".encode()
                  for u in range(1, 40) for i in range(1, 30, 3))
BIG = bytes(range(256)) * 12_000  # 3 MB: several read chunks


@pytest.fixture
def tiny_dataset(monkeypatch):
    """Register data set ``tiny`` (one plain file with a known checksum)."""
    entry = KnownDataset(
        name="tiny", folder="tiny", base_url="https://example.invalid/data/",
        files=(RemoteFile("tiny.bin", sha256=hashlib.sha256(BIG).hexdigest(), size=len(BIG)),),
        approx_mb=3, description="test data", homepage="https://example.invalid/",
    )
    monkeypatch.setitem(dl.KNOWN_DATASETS, "tiny", entry)
    return entry


@pytest.fixture(autouse=True)
def _no_base_url_from_shell(monkeypatch):
    monkeypatch.delenv(dl.BASE_URL_ENV, raising=False)


def test_download_zip_unpacks_and_records_checksum(tmp_path):
    archive = _zip_bytes({"ml-100k/u.data": U_DATA, "ml-100k/README": b"readme"})
    progress = []
    with FileServer({"ml-100k.zip": archive}) as server:
        result = dl.download(
            "ml-100k", tmp_path, base_url=server.base_url,
            progress=lambda stage, done, total: progress.append((stage, done, total)),
        )
    folder = tmp_path / "ml-100k"
    assert (folder / "u.data").read_bytes() == U_DATA
    assert not (folder / "README").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["download.json", "u.data"]
    record = json.loads((folder / "download.json").read_text())
    recorded = record["ml-100k"]["files"]["u.data"]
    assert recorded["sha256"] == hashlib.sha256(archive).hexdigest()
    assert recorded["checksum_verified"] is False
    assert recorded["size"] == len(archive)
    assert result.files["u.data"]["url"] == f"{server.base_url}/ml-100k.zip"
    assert progress[-1][1] == len(archive)
    assert progress[-1][2] == len(archive)
    assert not (tmp_path / dl.PARTIAL_DIR).exists()


def test_download_uses_base_url_env(tmp_path, monkeypatch):
    archive = _zip_bytes({"ml-100k/u.data": U_DATA})
    with FileServer({"ml-100k.zip": archive}) as server:
        monkeypatch.setenv(dl.BASE_URL_ENV, server.base_url)
        dl.download("ml-100k", tmp_path)
        assert server.requests[0]["path"] == "/ml-100k.zip"
    assert (tmp_path / "ml-100k" / "u.data").is_file()


def test_download_skips_present_files(tmp_path, tiny_dataset):
    with FileServer({"tiny.bin": BIG}) as server:
        dl.download("tiny", tmp_path, base_url=server.base_url)
        second = dl.download("tiny", tmp_path, base_url=server.base_url)
        assert len(server.requests) == 1
    assert second.skipped


def test_interrupted_download_keeps_part_and_resumes(tmp_path, tiny_dataset):
    with FileServer({"tiny.bin": BIG}) as server:
        server.drops_left = 1
        with pytest.raises(DownloadInterruptedError, match="resumes it"):
            dl.download("tiny", tmp_path, base_url=server.base_url, retries=0)

        part = tmp_path / dl.PARTIAL_DIR / "tiny" / "tiny.bin.part"
        assert part.stat().st_size == len(BIG) // 2
        assert not (tmp_path / "tiny" / "tiny.bin").exists()
        assert dl.partial_files("tiny", tmp_path) == {"tiny.bin.part": len(BIG) // 2}
        statuses = {row["name"]: row for row in dl.list_catalog(tmp_path)}
        assert statuses["tiny"]["status"] == "partial"

        dl.download("tiny", tmp_path, base_url=server.base_url, retries=0)
        assert server.requests[-1]["range"] == f"bytes={len(BIG) // 2}-"
    assert (tmp_path / "tiny" / "tiny.bin").read_bytes() == BIG
    assert not part.exists()


def test_download_retries_resume_in_one_call(tmp_path, tiny_dataset):
    with FileServer({"tiny.bin": BIG}) as server:
        server.drops_left = 2
        dl.download("tiny", tmp_path, base_url=server.base_url, retries=2, retry_wait=0)
        assert len(server.requests) == 3
        assert server.requests[1]["range"] is not None
    assert (tmp_path / "tiny" / "tiny.bin").read_bytes() == BIG


def test_server_ignoring_range_restarts(tmp_path, tiny_dataset):
    part = tmp_path / dl.PARTIAL_DIR / "tiny" / "tiny.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage that is not the start of the file")
    with FileServer({"tiny.bin": BIG}) as server:
        server.mode = "ignore-range"
        dl.download("tiny", tmp_path, base_url=server.base_url)
    assert (tmp_path / "tiny" / "tiny.bin").read_bytes() == BIG


def test_complete_part_file_is_verified(tmp_path, tiny_dataset):
    part = tmp_path / dl.PARTIAL_DIR / "tiny" / "tiny.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(BIG)
    with FileServer({"tiny.bin": BIG}) as server:
        dl.download("tiny", tmp_path, base_url=server.base_url)
        assert server.requests[0]["range"] == f"bytes={len(BIG)}-"
    assert (tmp_path / "tiny" / "tiny.bin").read_bytes() == BIG


def test_checksum_mismatch_deletes_file(tmp_path, tiny_dataset):
    corrupt = bytearray(BIG)
    corrupt[1000] ^= 0xFF
    with FileServer({"tiny.bin": bytes(corrupt)}) as server:
        with pytest.raises(DownloadError, match="checksum mismatch for tiny.bin") as caught:
            dl.download("tiny", tmp_path, base_url=server.base_url)
    assert "https://example.invalid/data/tiny.bin" in str(caught.value)
    assert not (tmp_path / "tiny" / "tiny.bin").exists()
    assert not list((tmp_path / dl.PARTIAL_DIR).rglob("*tiny.bin*"))


def test_truncated_download_deletes_file(tmp_path, tiny_dataset):
    with FileServer({"tiny.bin": BIG}) as server:
        server.mode = "truncated"
        with pytest.raises(DownloadError, match="truncated or corrupt"):
            dl.download("tiny", tmp_path, base_url=server.base_url)
    assert not (tmp_path / "tiny" / "tiny.bin").exists()
    assert not list((tmp_path / dl.PARTIAL_DIR).rglob("*tiny.bin*"))


def test_broken_zip_is_deleted(tmp_path):
    with FileServer({"ml-100k.zip": b"PK not really a zip archive"}) as server:
        with pytest.raises(DownloadError, match="not a valid zip archive"):
            dl.download("ml-100k", tmp_path, base_url=server.base_url)
    assert not (tmp_path / "ml-100k" / "u.data").exists()
    assert not list((tmp_path / dl.PARTIAL_DIR).rglob("ml-100k.zip*"))


def test_http_error_names_status(tmp_path):
    with FileServer({}) as server:
        with pytest.raises(DownloadError, match="HTTP 404"):
            dl.download("ml-100k", tmp_path, base_url=server.base_url)


def test_offline_message_says_where_to_put_file(tmp_path, free_port):
    with pytest.raises(DownloadUnavailableError) as caught:
        dl.download("ml-20m", tmp_path, base_url=f"http://127.0.0.1:{free_port}", timeout=5)
    message = str(caught.value)
    assert f"could not reach http://127.0.0.1:{free_port}/ml-20m.zip" in message
    assert "https://files.grouplens.org/datasets/movielens/ml-20m.zip" in message
    assert str(tmp_path / "ml-20m" / "ml-20m.zip") in message
    assert "python -m ials data download ml-20m" in message
    assert not (tmp_path / "ml-20m" / "ratings.csv").exists()


def test_file_placed_by_hand_needs_no_network(tmp_path, free_port):
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "ml-100k.zip").write_bytes(_zip_bytes({"ml-100k/u.data": U_DATA}))
    dl.download("ml-100k", tmp_path, base_url=f"http://127.0.0.1:{free_port}")
    assert (folder / "u.data").read_bytes() == U_DATA
    assert not (folder / "ml-100k.zip").exists()


def test_unknown_name_lists_known(tmp_path):
    with pytest.raises(KeyError, match="ml-20m"):
        dl.download("ml-30m", tmp_path)


def test_known_urls_point_at_official_hosts():
    urls = {name: [entry.url(f) for f in entry.files] for name, entry in dl.KNOWN_DATASETS.items()}
    assert urls["ml-20m"] == ["https://files.grouplens.org/datasets/movielens/ml-20m.zip"]
    assert urls["msd"] == [
        "http://millionsongdataset.com/sites/default/files/challenge/train_triplets.txt.zip"
    ]
    assert urls["ncf-pinterest"][0] == (
        "https://raw.githubusercontent.com/hexiangnan/neural_collaborative_filtering/"
        "master/Data/pinterest-20.train.rating"
    )


def test_list_catalog_reports_status(tmp_path):
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data.gz").write_bytes(b"x" * 10)
    (tmp_path / "ml-20m-sg").mkdir()
    (tmp_path / "ml-20m-sg" / "dataset.json").write_text(
        json.dumps({"format": "strong-generalization", "file": "prepared.npz",
                    "preprocessing_version": 1})
    )
    (tmp_path / "ml-20m-sg" / "prepared.npz").write_bytes(b"y" * 5)
    part = tmp_path / dl.PARTIAL_DIR / "msd" / "train_triplets.txt.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"z" * 7)

    rows = {row["name"]: row for row in dl.list_catalog(tmp_path)}
    assert rows["ml-100k"]["status"] == "downloaded"
    assert rows["ml-100k"]["size_bytes"] == 10
    assert rows["ml-20m"]["status"] == "missing"
    assert rows["ml-20m-sg"]["status"] == "prepared"
    assert rows["msd"]["status"] == "partial"
    assert "7 B" in rows["msd"]["detail"]
    assert rows["ncf-pinterest"]["status"] == "missing"
    assert "synthetic" in rows


def test_known_datasets_use_distinct_folders():
    folders = [entry.folder for entry in dl.KNOWN_DATASETS.values()]
    assert len(folders) == len(set(folders))
    prepared_names = set(dl.PREPARED_DATASETS)
    assert not prepared_names & set(folders)


def test_raw_and_ncf_ml1m_download_to_separate_folders(tmp_path):
    ratings = b"1::1::5::978300760\n"
    archive = _zip_bytes({"ml-1m/ratings.dat": ratings})
    with FileServer({"ml-1m.zip": archive}) as server:
        dl.download("ml-1m-raw", tmp_path, base_url=server.base_url)
    assert (tmp_path / "ml-1m-raw" / "ratings.dat").read_bytes() == ratings
    assert not (tmp_path / "ml-1m").exists()

    (tmp_path / "ml-1m").mkdir()
    for remote in dl.KNOWN_DATASETS["ncf-ml-1m"].files:
        (tmp_path / "ml-1m" / remote.stored_name).write_bytes(b"0\t0\t5\t0\n")
    rows = dl.list_catalog(tmp_path)
    rows_for_folder = [row for row in rows if row["folder"] == "ml-1m"]
    assert [row["name"] for row in rows_for_folder] == ["ncf-ml-1m"]
    assert rows_for_folder[0]["status"] == "downloaded"
    by_name = {row["name"]: row for row in rows}
    assert by_name["ml-1m-raw"]["status"] == "downloaded"
    assert by_name["ml-1m-raw"]["folder"] == "ml-1m-raw"


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_downloaded_files_and_folder_follow_umask(tmp_path, umask):
    archive = _zip_bytes({"ml-100k/u.data": U_DATA})
    previous = os.umask(umask)
    try:
        with FileServer({"ml-100k.zip": archive}) as server:
            dl.download("ml-100k", tmp_path, base_url=server.base_url)
    finally:
        os.umask(previous)
    folder = tmp_path / "ml-100k"
    assert stat.S_IMODE((folder / "u.data").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((folder / "download.json").stat().st_mode) == 0o666 & ~umask


def test_staged_folder_follows_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        with dl.staged_folder(tmp_path, "built") as staging:
            dl.write_json_atomically(staging / "dataset.json", {"format": "table"})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "built").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "built" / "dataset.json").stat().st_mode) == 0o644
