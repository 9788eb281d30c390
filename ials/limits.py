"""Limits of a public demo server: caps on runs and uploads, and a read-only switch.

Everything is read from environment variables, so one image serves as an open demo, a
read-only gallery of finished runs, or an unrestricted lab server:

- ``IALS_DEMO`` (default 0): 1 turns the caps below on; the Dockerfile sets 1.
- ``IALS_DEMO_MAX_DIM`` (256): largest embedding dimension d of a new run.
- ``IALS_DEMO_MAX_EPOCHS`` (32): largest number of epochs of a new run.
- ``IALS_DEMO_MAX_CONCURRENT`` (2): runs queued or running at once on the server.
- ``IALS_DEMO_RUNS_PER_HOUR`` (10): new runs per browser session in any 60 minutes.
- ``IALS_DEMO_MAX_UPLOAD_MB`` (50): largest uploaded file, in MB of 2**20 bytes (the
  unit of Streamlit's ``server.maxUploadSize``).
- ``IALS_READ_ONLY`` (0): 1 rejects launching, cancelling, importing, deleting and
  editing runs, while viewing still works. It applies with or without ``IALS_DEMO``.

The run store calls `check_new_run` before it inserts a run and `check_mutation` before
it changes or deletes one, so the caps hold for every caller of the library, not only
for the pages.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol

DEMO_ENV = "IALS_DEMO"
MAX_DIM_ENV = "IALS_DEMO_MAX_DIM"
MAX_EPOCHS_ENV = "IALS_DEMO_MAX_EPOCHS"
MAX_CONCURRENT_ENV = "IALS_DEMO_MAX_CONCURRENT"
RUNS_PER_HOUR_ENV = "IALS_DEMO_RUNS_PER_HOUR"
MAX_UPLOAD_MB_ENV = "IALS_DEMO_MAX_UPLOAD_MB"
READ_ONLY_ENV = "IALS_READ_ONLY"

#: Every variable this module reads (tests clear them so a developer's shell cannot leak in).
ENV_VARS = (
    DEMO_ENV, MAX_DIM_ENV, MAX_EPOCHS_ENV, MAX_CONCURRENT_ENV, RUNS_PER_HOUR_ENV,
    MAX_UPLOAD_MB_ENV, READ_ONLY_ENV,
)

#: Window of the per-session rate cap, in seconds.
RATE_WINDOW_SECONDS = 3600.0

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


class LimitError(ValueError):
    """A request exceeds a demo cap or needs write access on a read-only server."""


class RunLister(Protocol):
    """The part of `ials.runs.store.RunStore` the rate and concurrency caps read."""

    def list_runs(self, sweep_id: str | None = None, status: str | None = None,
                  session_id: str | None = None) -> list[dict]:
        ...


@dataclass(frozen=True)
class Limits:
    """Caps in force on this server.

    Parameters
    ----------
    enabled : bool
        Whether the demo caps apply (``IALS_DEMO``).
    max_dim : int
        Largest embedding dimension d of a new run.
    max_epochs : int
        Largest number of epochs of a new run.
    max_concurrent : int
        Runs that may be queued or running at once on this server.
    runs_per_hour : int
        New runs one browser session may start within `RATE_WINDOW_SECONDS`.
    max_upload_mb : int
        Largest uploaded file, in MB of 2**20 bytes.
    read_only : bool
        Whether launching, cancelling, importing, deleting and editing runs is rejected.
    """

    enabled: bool = False
    max_dim: int = 256
    max_epochs: int = 32
    max_concurrent: int = 2
    runs_per_hour: int = 10
    max_upload_mb: int = 50
    read_only: bool = False

    @property
    def max_upload_bytes(self) -> int:
        """Largest uploaded file, in bytes."""
        return self.max_upload_mb * 2**20

    def banner_text(self) -> str:
        """Describe the limits in force in one or two sentences; "" when none apply."""
        parts = []
        if self.read_only:
            parts.append(
                "This server is read-only: runs can be viewed, but not launched, "
                "cancelled, imported, deleted or edited."
            )
        if self.enabled:
            parts.append(
                f"Demo limits: embedding dimension d ≤ {self.max_dim}, "
                f"epochs ≤ {self.max_epochs}, "
                f"at most {self.max_concurrent} runs queued or running on this server, "
                f"{self.runs_per_hour} new runs per browser session per hour, "
                f"uploads ≤ {self.max_upload_mb} MB."
            )
        return " ".join(parts)


def current_limits(environ: Mapping[str, str] | None = None) -> Limits:
    """Read the limits from the environment (or from ``environ``).

    Raises
    ------
    ValueError
        If a variable is set to something other than a flag (0/1, true/false, yes/no,
        on/off) or a positive integer, naming the variable and the value.
    """
    env = os.environ if environ is None else environ
    defaults = Limits()
    return Limits(
        enabled=_read_flag(env, DEMO_ENV),
        max_dim=_read_positive_int(env, MAX_DIM_ENV, defaults.max_dim),
        max_epochs=_read_positive_int(env, MAX_EPOCHS_ENV, defaults.max_epochs),
        max_concurrent=_read_positive_int(env, MAX_CONCURRENT_ENV, defaults.max_concurrent),
        runs_per_hour=_read_positive_int(env, RUNS_PER_HOUR_ENV, defaults.runs_per_hour),
        max_upload_mb=_read_positive_int(env, MAX_UPLOAD_MB_ENV, defaults.max_upload_mb),
        read_only=_read_flag(env, READ_ONLY_ENV),
    )


def check_new_run(
    spec: Mapping[str, Any],
    session_id: str | None,
    store: RunLister,
    *,
    limits: Limits | None = None,
    now: float | None = None,
) -> None:
    """Raise `LimitError` if launching one run of ``spec`` would exceed a cap.

    See `check_new_runs`, which this calls with a single spec.
    """
    check_new_runs([spec], session_id, store, limits=limits, now=now)


def check_new_runs(
    specs: Iterable[Mapping[str, Any]],
    session_id: str | None,
    store: RunLister,
    *,
    limits: Limits | None = None,
    now: float | None = None,
) -> None:
    """Raise `LimitError` if launching all of ``specs`` together would exceed a cap.

    A sweep checks its whole batch here before creating any run, so it is rejected
    as a whole instead of stopping half-way.

    Parameters
    ----------
    specs : iterable of dict
        Run specs in the shape of ``RunSpec.to_dict()``; a missing ``model.dim`` or
        ``model.epochs`` counts as the `IALSConfig` default.
    session_id : str or None
        Browser session launching the runs. ``None`` (command line, worker) skips the
        per-session rate cap, because only the pages have sessions.
    store : RunStore
        Store whose queued and running runs count against the concurrency cap and
        whose runs of ``session_id`` count against the rate cap.
    limits : Limits, optional
        Limits to apply; `current_limits()` when omitted.
    now : float, optional
        Current time in Unix seconds; ``time.time()`` when omitted.

    Raises
    ------
    LimitError
        Naming the cap, the requested value and the limit.
    """
    limits = current_limits() if limits is None else limits
    specs = list(specs)
    if limits.read_only:
        raise LimitError(_read_only_message("launch runs"))
    if not limits.enabled or not specs:
        return

    for spec in specs:
        dim, epochs = _dim_and_epochs(spec)
        if dim > limits.max_dim:
            raise LimitError(
                f"embedding dimension d = {dim} exceeds this demo server's limit of "
                f"{limits.max_dim} ({MAX_DIM_ENV}); choose d ≤ {limits.max_dim}."
            )
        if epochs > limits.max_epochs:
            raise LimitError(
                f"epochs = {epochs} exceeds this demo server's limit of "
                f"{limits.max_epochs} ({MAX_EPOCHS_ENV}); choose at most "
                f"{limits.max_epochs} epochs."
            )

    active = len(store.list_runs(status="queued")) + len(store.list_runs(status="running"))
    if active + len(specs) > limits.max_concurrent:
        raise LimitError(
            f"{active} runs are queued or running and {len(specs)} more were requested, "
            f"but this demo server allows at most {limits.max_concurrent} at once "
            f"({MAX_CONCURRENT_ENV}); wait for a run to finish or cancel one."
        )

    if session_id is None:
        return
    now = time.time() if now is None else now
    since = now - RATE_WINDOW_SECONDS
    recent = [
        run for run in store.list_runs(session_id=session_id)
        if (run.get("created_at") or 0.0) > since
    ]
    if len(recent) + len(specs) > limits.runs_per_hour:
        oldest = min(run["created_at"] for run in recent) if recent else now
        wait_minutes = max(1, int((oldest + RATE_WINDOW_SECONDS - now) // 60) + 1)
        raise LimitError(
            f"this browser session started {len(recent)} runs in the last hour and "
            f"requested {len(specs)} more, but this demo server allows "
            f"{limits.runs_per_hour} per hour ({RUNS_PER_HOUR_ENV}); "
            f"try again in about {wait_minutes} minutes."
        )


def check_mutation(action: str, *, limits: Limits | None = None) -> None:
    """Raise `LimitError` if this server is read-only.

    ``action`` names the rejected change for the message, e.g. ``"delete run 3fa2c1"``.
    """
    limits = current_limits() if limits is None else limits
    if limits.read_only:
        raise LimitError(_read_only_message(action))


def check_upload_size(n_bytes: int, *, limits: Limits | None = None) -> None:
    """Raise `LimitError` if an upload of ``n_bytes`` bytes exceeds the demo cap.

    Raises
    ------
    ValueError
        If ``n_bytes`` is not a non-negative integer.
    LimitError
        If the demo caps are on and the upload is larger than ``max_upload_mb`` MB.
    """
    if isinstance(n_bytes, bool) or not isinstance(n_bytes, int) or n_bytes < 0:
        raise ValueError(f"upload size must be a non-negative number of bytes, got {n_bytes!r}.")
    limits = current_limits() if limits is None else limits
    if limits.enabled and n_bytes > limits.max_upload_bytes:
        raise LimitError(
            f"the uploaded file has {n_bytes / 2**20:.1f} MB, more than this demo "
            f"server's limit of {limits.max_upload_mb} MB ({MAX_UPLOAD_MB_ENV}); "
            f"upload a smaller file or run the project locally."
        )


def _read_only_message(action: str) -> str:
    return (
        f"cannot {action}: this server is read-only ({READ_ONLY_ENV}=1), so runs can be "
        f"viewed but not launched, cancelled, imported, deleted or edited."
    )


def _dim_and_epochs(spec: Mapping[str, Any]) -> tuple[int, int]:
    from ials.config import IALSConfig

    if not isinstance(spec, Mapping):
        raise ValueError(f"run spec must be a dict like RunSpec.to_dict(), got {type(spec).__name__}.")
    model = spec.get("model") or {}
    defaults = IALSConfig()
    dim = model.get("dim", defaults.dim)
    epochs = model.get("epochs", defaults.epochs)
    for name, value in (("dim", dim), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}.")
    return dim, epochs


def _read_flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{name} must be 1 or 0 (also true/false, yes/no, on/off), got {raw!r}; "
        f"fix it or unset it."
    )


def _read_positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"{name} must be a positive integer, got {raw!r}; fix it or unset it for "
            f"the default {default}."
        )
    return value
