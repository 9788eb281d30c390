"""`python -m ials worker`: run one background worker that trains queued runs."""

from __future__ import annotations

import logging
import signal
import threading

logger = logging.getLogger(__name__)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "worker",
        help="train queued runs from the run store in the background",
        description=(
            "Claim queued runs from RUNS_DIR/runs.sqlite one at a time and train them, "
            "writing every epoch to the store. Logs go to stderr and RUNS_DIR/logs/ials.log "
            "at level INFO or lower. SIGTERM or Ctrl-C stops it after the current epoch, and "
            "a second Ctrl-C stops it at once."
        ),
    )
    parser.add_argument("--runs-dir", help="run-store directory (default $IALS_RUNS_DIR or runs/)")
    parser.add_argument("--data-dir", help="data-set directory (default $IALS_DATA_DIR or data/)")
    parser.add_argument("--max-runs", type=int, metavar="N",
                        help="exit after handling N runs (default: no limit)")
    parser.add_argument("--exit-when-idle", action="store_true",
                        help="exit as soon as no queued run is left")
    parser.add_argument("--idle-exit-seconds", type=float, metavar="S",
                        help="exit after S seconds without a queued run (default: never)")
    parser.add_argument("--poll-seconds", type=float, default=1.0, metavar="S",
                        help="seconds between looks at the queue while idle (default 1)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="numba threads for training (default: all cores, or "
                             "$NUMBA_NUM_THREADS)")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    from ials.logs import setup_logging
    from ials.runs.worker import Worker, set_thread_count

    for option in ("max_runs", "threads"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise SystemExit(f"--{option.replace('_', '-')} must be ≥ 1, got {value}.")
    for option in ("idle_exit_seconds", "poll_seconds"):
        value = getattr(args, option)
        if value is not None and value <= 0:
            raise SystemExit(f"--{option.replace('_', '-')} must be > 0 seconds, got {value}.")

    # A worker's lifecycle lines are INFO; --log-level can lower the level, not raise it.
    requested = logging.getLevelName(str(getattr(args, "log_level", "INFO")).upper())
    level = min(requested, logging.INFO) if isinstance(requested, int) else logging.INFO
    setup_logging(args.runs_dir, "worker", level)
    threads = set_thread_count(args.threads)

    stop_event = threading.Event()

    def request_stop(signum, frame):
        name = signal.Signals(signum).name
        if stop_event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        logger.info("received %s; stopping after the current epoch", name)
        stop_event.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    worker = Worker(args.runs_dir, args.data_dir, poll_seconds=args.poll_seconds)
    logger.info("worker %s uses %s numba thread(s)", worker.worker_id, threads)
    worker.run_forever(
        stop_event=stop_event,
        max_runs=args.max_runs,
        exit_when_idle=args.exit_when_idle,
        idle_exit_seconds=args.idle_exit_seconds,
    )
    return 0
