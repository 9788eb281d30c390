"""Logging set-up shared by the workers, the command line and the app.

`setup_logging` sends the root logger to stderr and to ``RUNS_DIR/logs/ials.log``, one
line per record with time, level, process id, component and logger name.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

from ials.paths import runs_dir as default_runs_dir

LOG_FORMAT = "%(asctime)s %(levelname)s pid=%(process)d {component} %(name)s: %(message)s"
MAX_LOG_BYTES = 5 * 2**20
LOG_BACKUPS = 3


def log_path(runs_dir: str | os.PathLike | None = None) -> Path:
    """Return ``RUNS_DIR/logs/ials.log``."""
    return default_runs_dir(runs_dir).resolve() / "logs" / "ials.log"


def setup_logging(
    runs_dir: str | os.PathLike | None = None,
    name: str = "ials",
    level: int | str = logging.INFO,
) -> Path:
    """Log the root logger to stderr and to a rotating file; return the file's path.

    Parameters
    ----------
    runs_dir : path, optional
        Run-store directory; the file is ``runs_dir/logs/ials.log`` (5 MiB, 3 backups).
    name : str
        Component written on every line, such as ``"worker"`` or ``"app"``.
    level : int or str
        Level of the root logger and both handlers.

    Calling it again updates the level and format of the handlers it added instead of
    adding more, and it reuses a stderr handler that ``logging.basicConfig`` added.
    """
    if isinstance(level, str):
        numeric = logging.getLevelName(level.upper())
        if not isinstance(numeric, int):
            raise ValueError(f"invalid log level {level!r}; use DEBUG, INFO, WARNING or ERROR.")
        level = numeric
    formatter = logging.Formatter(LOG_FORMAT.format(component=name))
    root = logging.getLogger()
    root.setLevel(level)

    stderr_handler = _find_stderr_handler(root)
    if stderr_handler is None:
        stderr_handler = logging.StreamHandler(sys.stderr)
        root.addHandler(stderr_handler)
    stderr_handler.setFormatter(formatter)
    stderr_handler.setLevel(level)

    path = log_path(runs_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    file_handler = _find_file_handler(root, path)
    if file_handler is None:
        # NOTE: every process rotates the shared file on its own, so around a rotation
        # lines of other processes can land in the renamed backup file.
        file_handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8",
            delay=True,
        )
        root.addHandler(file_handler)
    file_handler.setFormatter(formatter)
    file_handler.setLevel(level)
    return path


def _find_stderr_handler(root: logging.Logger) -> logging.Handler | None:
    for handler in root.handlers:
        if type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.__stderr__):
            return handler
    return None


def _find_file_handler(root: logging.Logger, path: Path) -> logging.Handler | None:
    for handler in root.handlers:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == path:
            return handler
    return None
