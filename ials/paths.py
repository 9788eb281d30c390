"""Locations of the data directory and the run store."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "IALS_DATA_DIR"
RUNS_DIR_ENV = "IALS_RUNS_DIR"


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Return the data directory: `explicit`, else `$IALS_DATA_DIR`, else `data/`."""
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get(DATA_DIR_ENV) or "data").expanduser()


def runs_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Return the run-store directory: `explicit`, else `$IALS_RUNS_DIR`, else `runs/`."""
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get(RUNS_DIR_ENV) or "runs").expanduser()
