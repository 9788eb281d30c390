"""Download the benchmark data sets: resumable, checksum-verified, atomic.

Every known data set is a `KnownDataset` with the files to fetch. `download` fetches
each file with HTTP Range requests into ``DATA_DIR/.partial/FOLDER/FILE.part``, so an
interrupted transfer resumes where it stopped. Only a complete file whose size and
SHA-256 checksum match is moved (``os.replace``) into ``DATA_DIR/FOLDER/``, or unpacked
there when it is a zip archive. A checksum mismatch, a file of the wrong size or a broken
archive deletes the downloaded file and raises `DownloadError`. When a host cannot be
reached, the error names the URL that failed and where to put the file by hand.

Set ``IALS_DOWNLOAD_BASE_URL`` (or pass ``base_url``) to fetch every file from
``BASE_URL/FILE`` instead of its usual host, e.g. from a local mirror.

Only the standard library (`urllib`) talks to the network.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ials.paths import data_dir as resolve_data_dir

logger = logging.getLogger(__name__)

BASE_URL_ENV = "IALS_DOWNLOAD_BASE_URL"

#: Folder under the data directory that contains unfinished downloads (``*.part``).
PARTIAL_DIR = ".partial"

#: Per-folder record of what was downloaded (URL, size, SHA-256 of each file).
DOWNLOAD_RECORD = "download.json"

#: ``progress(stage, done, total)``: ``done`` of ``total`` units (bytes while
#: downloading, steps while preparing) are finished; ``total`` is None when unknown.
ProgressCallback = Callable[[str, int, "int | None"], None]

CHUNK_BYTES = 1 << 20

GROUPLENS = "https://files.grouplens.org/datasets/movielens/"
MSD_CHALLENGE = "http://millionsongdataset.com/sites/default/files/challenge/"
NCF_DATA = "https://raw.githubusercontent.com/hexiangnan/neural_collaborative_filtering/master/Data/"


class DownloadError(RuntimeError):
    """A download failed; the message states why and what to do next."""


class DownloadUnavailableError(DownloadError):
    """A host could not be reached (offline, DNS failure, refused connection)."""


class DownloadInterruptedError(DownloadError):
    """A transfer stopped early; the ``.part`` file is kept so a retry resumes it."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set on its server.

    Attributes
    ----------
    filename : str
        Name on the server (last URL segment) and of the downloaded file.
    sha256 : str or None
        Expected SHA-256 of the downloaded file; None when no checksum is known, in
        which case the checksum is computed and recorded after the download.
    size : int or None
        Expected size in bytes; None when unknown.
    extract : tuple of (str, str) or None
        For a zip archive: (member path inside the archive, name to store it under).
        The archive itself is deleted after the member is unpacked.
    """

    filename: str
    sha256: str | None = None
    size: int | None = None
    extract: tuple[str, str] | None = None

    @property
    def stored_name(self) -> str:
        """Name of the file this entry leaves in the data set folder."""
        return self.extract[1] if self.extract else self.filename


@dataclass(frozen=True)
class KnownDataset:
    """A benchmark data set this module can download.

    Attributes
    ----------
    name : str
        Name on the command line (``python -m ials data download NAME``).
    folder : str
        Folder under the data directory the files go to. No two entries share a
        folder, so one folder never mixes two downloads: the raw GroupLens ML-1M
        goes to ``ml-1m-raw`` and the NCF ML-1M files to ``ml-1m``, the name runs use.
    base_url : str
        URL the file names are appended to.
    files : tuple of RemoteFile
        Files to fetch.
    approx_mb : float
        Approximate download size in MB, for display only.
    description : str
        One line for listings.
    homepage : str
        Page where a person can download the data by hand.
    """

    name: str
    folder: str
    base_url: str
    files: tuple[RemoteFile, ...]
    approx_mb: float
    description: str
    homepage: str

    def url(self, remote: RemoteFile, base_url: str | None = None) -> str:
        """Return the URL of ``remote``, under ``base_url`` when one is given."""
        base = base_url or self.base_url
        return base.rstrip("/") + "/" + remote.filename


@dataclass(frozen=True)
class PreparedDataset:
    """A data set `ials.data.preprocess` builds from a downloaded one.

    Attributes
    ----------
    name : str
        Name of the prepared data set and of its folder.
    source : str
        Name of the `KnownDataset` it is built from.
    protocol : str
        Evaluation protocol its files are made for.
    description : str
        One line for listings.
    """

    name: str
    source: str
    protocol: str
    description: str


# NOTE: only the two NCF test files have a known SHA-256 (their MD5 sums 0970f599... and
# ae0af08b... match the NCF originals). For the others no checksum is known for certain:
# the downloader records the SHA-256 it computes in download.json.
_NCF_ML1M_TEST_SHA256 = "231ae11eb060b643a8c58c063cd17ffc743b54f569afb073d1abb6cf126b88b5"
_NCF_ML1M_NEGATIVE_SHA256 = "127853228a76b7d21c0481e8ef8d00dd009cd5c88670dbdd9e9debfdb9f93de4"

KNOWN_DATASETS: dict[str, KnownDataset] = {
    entry.name: entry
    for entry in (
        KnownDataset(
            name="ml-100k", folder="ml-100k", base_url=GROUPLENS,
            files=(RemoteFile("ml-100k.zip", extract=("ml-100k/u.data", "u.data")),),
            approx_mb=5, homepage="https://grouplens.org/datasets/movielens/100k/",
            description="MovieLens 100K (GroupLens): 100,000 ratings, 943 users, 1,682 movies",
        ),
        KnownDataset(
            name="ml-1m-raw", folder="ml-1m-raw", base_url=GROUPLENS,
            files=(RemoteFile("ml-1m.zip", extract=("ml-1m/ratings.dat", "ratings.dat")),),
            approx_mb=6, homepage="https://grouplens.org/datasets/movielens/1m/",
            description="MovieLens 1M raw ratings.dat (GroupLens), input of ml-1m-ncf",
        ),
        KnownDataset(
            name="ml-20m", folder="ml-20m", base_url=GROUPLENS,
            files=(RemoteFile("ml-20m.zip", extract=("ml-20m/ratings.csv", "ratings.csv")),),
            approx_mb=190, homepage="https://grouplens.org/datasets/movielens/20m/",
            description="MovieLens 20M raw ratings.csv (GroupLens), input of ml-20m-sg",
        ),
        KnownDataset(
            name="msd", folder="msd", base_url=MSD_CHALLENGE,
            files=(RemoteFile(
                "train_triplets.txt.zip", extract=("train_triplets.txt", "train_triplets.txt"),
            ),),
            approx_mb=500, homepage="http://millionsongdataset.com/tasteprofile/",
            description="Million Song Dataset taste profile triplets, input of msd-sg",
        ),
        KnownDataset(
            name="ncf-ml-1m", folder="ml-1m", base_url=NCF_DATA,
            files=(
                RemoteFile("ml-1m.train.rating"),
                RemoteFile("ml-1m.test.rating", sha256=_NCF_ML1M_TEST_SHA256, size=128_039),
                RemoteFile(
                    "ml-1m.test.negative", sha256=_NCF_ML1M_NEGATIVE_SHA256, size=2_891_424,
                ),
            ),
            approx_mb=24,
            homepage="https://github.com/hexiangnan/neural_collaborative_filtering",
            description="NCF leave-one-out ML-1M (He et al. 2017): HR@10, NDCG@10",
        ),
        KnownDataset(
            name="ncf-pinterest", folder="pinterest-20", base_url=NCF_DATA,
            files=(
                RemoteFile("pinterest-20.train.rating"),
                RemoteFile("pinterest-20.test.rating"),
                RemoteFile("pinterest-20.test.negative"),
            ),
            approx_mb=40,
            homepage="https://github.com/hexiangnan/neural_collaborative_filtering",
            description="NCF leave-one-out Pinterest (He et al. 2017): HR@10, NDCG@10",
        ),
    )
}

PREPARED_DATASETS: dict[str, PreparedDataset] = {
    entry.name: entry
    for entry in (
        PreparedDataset(
            "ml-20m-sg", "ml-20m", "strong-generalization",
            "ML-20M, Mult-VAE strong-generalization split (ratings > 3.5, users ≥ 5)",
        ),
        PreparedDataset(
            "msd-sg", "msd", "strong-generalization",
            "MSD, Mult-VAE strong-generalization split (users ≥ 20 songs, songs ≥ 200 users)",
        ),
        PreparedDataset(
            "ml-1m-ncf", "ml-1m-raw", "loo-sampled",
            "ML-1M rebuilt in NCF format from ratings.dat (latest rating held out, 99 negatives)",
        ),
    )
}


@dataclass
class DownloadResult:
    """Outcome of `download`.

    Attributes
    ----------
    name : str
        Data set name.
    folder : Path
        Folder that now contains the files.
    files : dict
        Stored file name -> ``{"url", "sha256", "size", "checksum_verified"}``.
    skipped : bool
        True when every file was already present and nothing was fetched.
    """

    name: str
    folder: Path
    files: dict = field(default_factory=dict)
    skipped: bool = False


def get_known_dataset(name: str) -> KnownDataset:
    """Return the `KnownDataset` called ``name``.

    Raises
    ------
    KeyError
        With the list of downloadable names when ``name`` is unknown.
    """
    try:
        return KNOWN_DATASETS[name]
    except KeyError:
        known = ", ".join(KNOWN_DATASETS)
        raise KeyError(f"unknown data set {name!r} for download; known: {known}.") from None


def find_present_file(folder: Path, filename: str) -> Path | None:
    """Return ``folder/filename`` or its ``.gz`` twin when either exists, else None."""
    for candidate in (folder / filename, folder / f"{filename}.gz"):
        if candidate.is_file():
            return candidate
    return None


def is_downloaded(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Return True when every file of data set ``name`` is in its folder."""
    entry = get_known_dataset(name)
    folder = resolve_data_dir(data_dir) / entry.folder
    return all(find_present_file(folder, remote.stored_name) for remote in entry.files)


def partial_files(name: str, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
    """Return ``{part file name: bytes so far}`` of unfinished downloads of ``name``."""
    entry = get_known_dataset(name)
    partial = resolve_data_dir(data_dir) / PARTIAL_DIR / entry.folder
    found = {}
    for remote in entry.files:
        part = partial / f"{remote.filename}.part"
        if part.is_file():
            found[part.name] = part.stat().st_size
    return found


def download(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    progress: ProgressCallback | None = None,
    retries: int = 3,
    retry_wait: float = 2.0,
    timeout: float = 30.0,
    force: bool = False,
) -> DownloadResult:
    """Download data set ``name`` into ``DATA_DIR/FOLDER/``.

    Parameters
    ----------
    name : str
        A key of `KNOWN_DATASETS`.
    data_dir : path, optional
        Data directory; `ials.paths.data_dir` when omitted.
    base_url : str, optional
        Fetch ``BASE_URL/FILE`` instead of the usual host; defaults to
        ``$IALS_DOWNLOAD_BASE_URL`` when that is set.
    progress : callable, optional
        ``progress(stage, bytes_done, bytes_total_or_None)`` during each transfer.
    retries : int
        Times an interrupted transfer is resumed before `DownloadInterruptedError`.
    retry_wait : float
        Seconds to wait before each resume.
    timeout : float
        Socket timeout in seconds for connecting and for each read.
    force : bool
        Fetch again even when the files are present.

    Returns
    -------
    DownloadResult

    Raises
    ------
    DownloadUnavailableError
        When the host cannot be reached; the message names the URL and where to put
        a hand-downloaded file.
    DownloadInterruptedError
        When the transfer keeps stopping early; the ``.part`` file stays for a resume.
    DownloadError
        On an HTTP error, a checksum or size mismatch or a broken archive (the bad
        file is deleted).
    """
    entry = get_known_dataset(name)
    root = resolve_data_dir(data_dir)
    folder = root / entry.folder
    base_url = base_url or os.environ.get(BASE_URL_ENV) or None
    result = DownloadResult(name=name, folder=folder)

    if not force and is_downloaded(name, root):
        logger.info("%s is already in %s; nothing to download", name, folder)
        result.skipped = True
        return result

    folder.mkdir(parents=True, exist_ok=True)
    partial = root / PARTIAL_DIR / entry.folder
    partial.mkdir(parents=True, exist_ok=True)
    for remote in entry.files:
        if not force and find_present_file(folder, remote.stored_name):
            continue
        url = entry.url(remote, base_url)
        by_hand = folder / remote.filename
        if by_hand.is_file() and by_hand.name != remote.stored_name:
            logger.info("using %s placed by hand instead of downloading %s", by_hand, url)
            fetched = by_hand
        else:
            fetched = partial / remote.filename
            _fetch(
                url, partial / f"{remote.filename}.part", fetched, entry, remote, folder,
                progress=progress, retries=retries, retry_wait=retry_wait, timeout=timeout,
            )
        result.files[remote.stored_name] = _verify_and_store(fetched, url, entry, remote, folder)

    _write_download_record(folder, name, result.files)
    _remove_empty_dirs(partial, root / PARTIAL_DIR)
    logger.info("downloaded %s into %s", name, folder)
    return result


def _fetch(
    url: str, part: Path, target: Path, entry: KnownDataset, remote: RemoteFile,
    folder: Path, *, progress, retries: int, retry_wait: float, timeout: float,
) -> None:
    """Fetch ``url`` into ``part``, resuming up to ``retries`` times; rename to ``target``."""
    attempt = 0
    while True:
        try:
            _fetch_once(url, part, remote.filename, progress, timeout)
            break
        except DownloadInterruptedError as error:
            if attempt >= retries:
                raise
            attempt += 1
            logger.warning("%s; resuming (attempt %d of %d)", error, attempt, retries)
            time.sleep(retry_wait)
        except urllib.error.HTTPError as error:
            raise DownloadError(
                f"the server returned HTTP {error.code} ({error.reason}) for {url}. "
                + _by_hand_hint(entry, remote, folder)
            ) from error
        except (urllib.error.URLError, ConnectionError, socket.timeout) as error:
            reason = getattr(error, "reason", error)
            raise DownloadUnavailableError(
                f"could not reach {url} ({reason}); this machine may be offline. "
                + _by_hand_hint(entry, remote, folder)
            ) from error
    os.replace(part, target)


def _fetch_once(url: str, part: Path, label: str, progress, timeout: float) -> None:
    """Run one HTTP request that appends to ``part`` from its current size.

    Raises `DownloadInterruptedError` when the body ends before the announced length.
    """
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "ials-downloader"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:
            # The part file may already be complete; the checksum step decides.
            logger.info("server reports %s complete at %d bytes", label, have)
            return
        raise

    with response:
        if have and response.status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range"))
            if start != have:
                raise DownloadError(
                    f"the server resumed {url} at byte {start}, but {have} bytes are "
                    f"already downloaded; delete {part} and download again."
                )
            mode = "ab"
        else:
            if have:
                logger.info("server ignored the Range request for %s; starting over", label)
            have = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
            mode = "wb"

        done = have
        with open(part, mode) as handle:
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except (http.client.IncompleteRead, ConnectionError, socket.timeout) as error:
                    handle.flush()
                    raise DownloadInterruptedError(
                        f"download of {url} stopped after {done:,} of "
                        f"{_format_total(total)} bytes ({type(error).__name__}); the partial "
                        f"file {part} is kept, so running the same command again resumes it"
                    ) from error
                if not chunk:
                    break
                handle.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(f"downloading {label}", done, total)

    if total is not None and done < total:
        raise DownloadInterruptedError(
            f"download of {url} stopped after {done:,} of {total:,} bytes; the partial "
            f"file {part} is kept, so running the same command again resumes it"
        )


def _parse_content_range(header: str | None) -> tuple[int, int | None]:
    """Return (first byte, total size or None) of a ``Content-Range: bytes a-b/total``."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", header or "")
    if not match:
        raise DownloadError(f"the server sent an invalid Content-Range header {header!r}.")
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _format_total(total: int | None) -> str:
    return "an unknown number of" if total is None else f"{total:,}"


def _verify_and_store(
    fetched: Path, url: str, entry: KnownDataset, remote: RemoteFile, folder: Path,
) -> dict:
    """Check size and SHA-256 of ``fetched``, then move or unpack it into ``folder``.

    Deletes ``fetched`` and raises `DownloadError` on a mismatch or broken archive.
    """
    size = fetched.stat().st_size
    if remote.size is not None and size != remote.size:
        fetched.unlink(missing_ok=True)
        raise DownloadError(
            f"{remote.filename} has {size:,} bytes but {remote.size:,} were expected, so "
            f"the download is truncated or corrupt; it was deleted. Run the download "
            f"again. " + _by_hand_hint(entry, remote, folder)
        )
    digest = sha256_file(fetched)
    if remote.sha256 is not None and digest != remote.sha256:
        fetched.unlink(missing_ok=True)
        raise DownloadError(
            f"checksum mismatch for {remote.filename}: SHA-256 {digest}, expected "
            f"{remote.sha256}; the file was deleted. Run the download again; if it keeps "
            f"failing, the file on the server changed. " + _by_hand_hint(entry, remote, folder)
        )
    if remote.sha256 is None:
        # TODO: put this checksum into KNOWN_DATASETS once it is confirmed from a
        # second, independent download.
        logger.warning(
            "no known SHA-256 for %s; recorded %s in %s", remote.filename, digest,
            folder / DOWNLOAD_RECORD,
        )

    if remote.extract:
        _extract_member(fetched, remote, folder, entry)
        fetched.unlink(missing_ok=True)
    else:
        os.replace(fetched, folder / remote.filename)
    return {
        "url": url,
        "sha256": digest,
        "size": size,
        "checksum_verified": remote.sha256 is not None,
    }


def _extract_member(archive: Path, remote: RemoteFile, folder: Path, entry: KnownDataset) -> None:
    member, stored_name = remote.extract
    try:
        with zipfile.ZipFile(archive) as zipped:
            with zipped.open(member) as source:
                _write_atomically(folder / stored_name, source)
    except (zipfile.BadZipFile, KeyError, EOFError) as error:
        archive.unlink(missing_ok=True)
        raise DownloadError(
            f"{remote.filename} is not a valid zip archive with {member} ({error}); it was "
            f"deleted. Run the download again. " + _by_hand_hint(entry, remote, folder)
        ) from error


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def apply_umask(path: str | os.PathLike, directory: bool = False) -> None:
    """Give ``path`` the mode a plain new file (0o666) or folder (0o777) gets under the umask.

    `tempfile.mkstemp` creates mode 0o600 and `tempfile.mkdtemp` 0o700, which would keep
    staged data sets private to their owner after the swap into place.
    """
    base = 0o777 if directory else 0o666
    os.chmod(path, base & ~_current_umask())


def _write_atomically(path: Path, source) -> None:
    """Copy the binary stream ``source`` to ``path`` through a temporary file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            shutil.copyfileobj(source, handle, CHUNK_BYTES)
        apply_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomically(path: Path, payload: dict) -> None:
    """Write ``payload`` as indented JSON to ``path`` through a temporary file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True)
            handle.write("\n")
        apply_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class staged_folder:
    """Context manager: build a folder under a temporary name, then swap it in.

    ``with staged_folder(root, name) as staging:`` yields a new hidden folder in
    ``root``. On success it replaces ``root/name`` (the old folder is renamed away and
    deleted); on an exception it is deleted and ``root/name`` stays as it was.
    """

    def __init__(self, root: Path, name: str):
        self.root = root
        self.name = name

    def __enter__(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{self.name}.", suffix=".tmp"))
        apply_umask(self.path, directory=True)
        return self.path

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            return False
        target = self.root / self.name
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{self.name}.", suffix=".old"))
            os.replace(target, old / self.name)
        os.replace(self.path, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return False


def _write_download_record(folder: Path, name: str, files: dict) -> None:
    """Merge ``files`` of data set ``name`` into ``folder/download.json``."""
    path = folder / DOWNLOAD_RECORD
    record = read_download_record(folder)
    entry = record.setdefault(name, {"files": {}})
    entry["files"].update(files)
    entry["downloaded_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json_atomically(path, record)


def read_download_record(folder: Path) -> dict:
    """Return the contents of ``folder/download.json``, or {} when it is absent."""
    path = Path(folder) / DOWNLOAD_RECORD
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _remove_empty_dirs(*paths: Path) -> None:
    for path in paths:
        try:
            path.rmdir()
        except OSError:
            pass


def _by_hand_hint(entry: KnownDataset, remote: RemoteFile, folder: Path) -> str:
    source = f"{entry.base_url.rstrip('/')}/{remote.filename}"
    hint = (
        f"To install it by hand, download {source} (see {entry.homepage}) and put it at "
        f"{folder / remote.filename}"
    )
    if remote.extract:
        hint += (
            f", then run `python -m ials data download {entry.name}` again to verify and "
            f"unpack it (or unpack {remote.extract[0]} yourself to "
            f"{folder / remote.extract[1]})."
        )
    else:
        hint += "."
    return hint


def sha256_file(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ------------------------------------------------------------------------- listing


def list_catalog(data_dir: str | os.PathLike | None = None) -> list[dict]:
    """List every known data set with its status on this machine.

    Returns
    -------
    list of dict
        One row per data set, with keys ``name``, ``kind`` (``"download"``,
        ``"prepared"``, ``"local"`` or ``"synthetic"``), ``status`` (``"missing"``,
        ``"partial"``, ``"downloaded"``, ``"prepared"``, ``"present"`` or
        ``"generated"``), ``size_bytes`` (on disk, 0 when missing), ``folder`` (the
        name runs use, or None), ``description`` and ``detail`` (partial downloads,
        the source of a prepared set).
    """
    root = resolve_data_dir(data_dir)
    rows = []
    for entry in KNOWN_DATASETS.values():
        folder = root / entry.folder
        present = [find_present_file(folder, remote.stored_name) for remote in entry.files]
        partial = partial_files(entry.name, root)
        if all(present):
            status = "downloaded"
            detail = f"runs use the name {entry.folder}" if entry.folder != entry.name else ""
        elif partial:
            status = "partial"
            detail = "unfinished download: " + ", ".join(
                f"{name} ({format_bytes(size)})" for name, size in partial.items()
            )
        else:
            status, detail = "missing", f"about {entry.approx_mb:g} MB to download"
        size = sum(path.stat().st_size for path in present if path is not None)
        size += sum(partial.values())
        rows.append(_row(entry.name, "download", status, size, entry.folder,
                         entry.description, detail))

    for entry in PREPARED_DATASETS.values():
        folder = root / entry.name
        prepared = any((folder / record).is_file() for record in ("dataset.json", "prepare.json"))
        rows.append(_row(
            entry.name, "prepared", "prepared" if prepared else "missing",
            _folder_bytes(folder) if prepared else 0, entry.name, entry.description,
            f"built from {entry.source} by `python -m ials data prepare {entry.name}`",
        ))

    covered = {row["folder"] for row in rows} | {row["name"] for row in rows}
    for info in _registry_datasets(root):
        if info.name in covered:
            continue
        if info.format == "synthetic":
            rows.append(_row(info.name, "synthetic", "generated", 0, info.name,
                             info.description, "generated on demand, no download"))
        else:
            rows.append(_row(info.name, "local", "present", _folder_bytes(info.path),
                             info.name, info.description, f"format {info.format}"))
    return rows


def _registry_datasets(root: Path) -> list:
    """Return the registry's data sets, or [] when it cannot list them."""
    from ials.data.registry import list_datasets

    try:
        return list_datasets(root)
    except OSError as error:
        logger.warning("cannot list the data sets in %s: %s", root, error)
        return []


def _row(name, kind, status, size, folder, description, detail) -> dict:
    return {
        "name": name, "kind": kind, "status": status, "size_bytes": int(size),
        "folder": folder, "description": description, "detail": detail,
    }


def _folder_bytes(folder: Path | None) -> int:
    if folder is None or not folder.is_dir():
        return 0
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def format_bytes(size: int) -> str:
    """Format a byte count for people: ``"512 B"``, ``"3.4 MB"`` (powers of 1024)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
