"""`python -m ials train`: train one model and print per-epoch losses and metrics.

Text output is a table row per epoch (L_S, L_I, R, L, metrics, seconds) and a summary.
With ``--json`` each line is one JSON object: one per epoch with keys ``epoch``, ``loss``
(``L_S``, ``L_I``, ``R``, ``L``), ``metrics`` and ``seconds``, then a last object with
``"final": true``, ``split``, ``metrics`` and ``effective_reg``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from ials.config import PROTOCOLS, SOLVERS, SPLITS, IALSConfig, RunSpec

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train one iALS model and print losses and metrics per epoch",
        description="Train one iALS model, evaluating after every epoch.",
    )
    add_train_arguments(parser)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per line instead of a table")
    parser.set_defaults(run=run)
    return parser


def add_train_arguments(parser: argparse.ArgumentParser, grid: bool = False) -> None:
    """Add the data set, protocol and hyperparameter flags shared by train and sweep.

    With ``grid=True`` the α₀, λ and ν flags are left out (the sweep adds list versions).
    """
    defaults = IALSConfig()
    data = parser.add_argument_group("data")
    data.add_argument("--data-dir", default=None,
                      help="folder holding the data sets (default: $IALS_DATA_DIR or data/)")
    data.add_argument("--dataset", default="synthetic",
                      help="data set name: a folder in the data directory, or synthetic "
                           "(built in, no file needed; default)")
    data.add_argument("--protocol", choices=PROTOCOLS, default=None,
                      help="evaluation protocol (default: loo-sampled for NCF files, "
                           "strong-generalization for prepared ML-20M/MSD splits, "
                           "predefined-split for imported train/test files, "
                           "leave-last-out for other tables and synthetic)")
    data.add_argument("--split", choices=SPLITS, default="validation",
                      help="evaluate every epoch on the validation split (for tuning) or "
                           "the test split (for the final number); default validation")
    data.add_argument("--split-seed", type=int, default=0,
                      help="seed of the protocol's random choices (held-out users, sampled "
                           "negatives); default 0")
    model = parser.add_argument_group("model")
    model.add_argument("--dim", "-d", type=int, default=defaults.dim,
                       help=f"embedding dimension d (default {defaults.dim})")
    if not grid:
        model.add_argument("--alpha0", type=float, default=defaults.alpha0,
                           help=f"unobserved weight α₀ > 0 (default {defaults.alpha0})")
        model.add_argument("--reg", type=float, default=defaults.reg,
                           help=f"regularization λ > 0, or λ* with --normalized-reg "
                                f"(default {defaults.reg})")
        model.add_argument("--nu", type=float, default=defaults.nu,
                           help=f"frequency exponent ν ≥ 0 (default {defaults.nu:g})")
    model.add_argument("--normalized-reg", action="store_true",
                       help="read --reg as λ* on the normalized scale; the effective "
                            "λ = λ*·w̄^(ν*−ν) is reported")
    model.add_argument("--nu-ref", type=int, choices=(0, 1), default=defaults.nu_ref,
                       help="reference exponent ν* of the normalized λ (default 1)")
    model.add_argument("--sigma", type=float, default=defaults.sigma,
                       help=f"init scale σ* > 0; embeddings start from N(0, (σ*/√d)²) "
                            f"(default {defaults.sigma})")
    model.add_argument("--epochs", type=int, default=defaults.epochs,
                       help=f"number of epochs (default {defaults.epochs})")
    model.add_argument("--solver", choices=SOLVERS, default=defaults.solver,
                       help="exact (Cholesky per row), block (iALS++ subspace solver) or "
                            "cg (conjugate gradient); default exact")
    model.add_argument("--block-size", type=int, default=defaults.block_size,
                       help=f"block size b of the block solver (default {defaults.block_size})")
    model.add_argument("--cg-steps", type=int, default=defaults.cg_steps,
                       help=f"conjugate-gradient steps per row (default {defaults.cg_steps})")
    model.add_argument("--seed", type=int, default=defaults.seed,
                       help="seed of the initialization (default 0)")
    model.add_argument("--dtype", choices=("float32", "float64"), default=defaults.dtype,
                       help="floating-point type of the embeddings (default float32)")


def config_from_args(args: argparse.Namespace, **overrides) -> IALSConfig:
    """Build the model config from parsed flags; ``overrides`` replace single fields."""
    values = {
        "dim": args.dim,
        "alpha0": getattr(args, "alpha0", None),
        "reg": getattr(args, "reg", None),
        "nu": getattr(args, "nu", None),
        "normalized_reg": args.normalized_reg,
        "nu_ref": args.nu_ref,
        "sigma": args.sigma,
        "epochs": args.epochs,
        "solver": args.solver,
        "block_size": args.block_size,
        "cg_steps": args.cg_steps,
        "seed": args.seed,
        "dtype": args.dtype,
    }
    values.update(overrides)
    return IALSConfig(**{key: value for key, value in values.items() if value is not None})


def spec_from_args(args: argparse.Namespace, **overrides) -> RunSpec:
    return RunSpec(
        dataset=args.dataset,
        protocol=args.protocol,
        split=args.split,
        split_seed=args.split_seed,
        model=config_from_args(args, **overrides),
    )


def run(args: argparse.Namespace) -> int:
    from ials.experiment import Experiment

    try:
        spec = spec_from_args(args).validate()
        experiment = Experiment(spec, data_dir=args.data_dir)
        experiment.prepare()
    except (ValueError, MemoryError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    printer = _JsonPrinter() if args.json else _TablePrinter(experiment)
    started = time.perf_counter()
    best = last = None
    for record in experiment.epochs():
        printer.epoch(record)
        best = _better(best, record)
        last = record
    test_metrics = experiment.final_metrics()
    # "metrics" belong to the requested split. A validation run also reports the test
    # task of its final model, which is the number the dashboard shows for a finished run.
    final = test_metrics if args.split == "test" else dict(last.metrics)
    extra = {} if args.split == "test" else {"test_metrics": test_metrics}
    printer.final(experiment, final, extra, best, time.perf_counter() - started)
    return 0


def _better(best, record):
    """Keep the epoch with the highest value of the first metric."""
    if not record.metrics:
        return record
    key = next(iter(record.metrics))
    if best is None or record.metrics[key] > best.metrics.get(key, float("-inf")):
        return record
    return best


class _JsonPrinter:
    def epoch(self, record) -> None:
        line = {
            "epoch": record.epoch,
            "loss": record.loss,
            "metrics": record.metrics,
            "seconds": round(record.train_seconds + record.eval_seconds, 4),
            "train_seconds": round(record.train_seconds, 4),
            "eval_seconds": round(record.eval_seconds, 4),
        }
        print(json.dumps(line), flush=True)

    def final(self, experiment, final, extra, best, seconds) -> None:
        line = {
            "final": True,
            "split": experiment.spec.split,
            "protocol": experiment.protocol,
            "metrics": final,
            **extra,
            "effective_reg": experiment.effective_reg,
            "best_epoch": best.epoch if best else None,
            "spec": experiment.spec.to_dict(),
            "dataset_fingerprint": experiment.fingerprint,
            "seconds": round(seconds, 3),
        }
        print(json.dumps(line), flush=True)


class _TablePrinter:
    def __init__(self, experiment) -> None:
        self.header_done = False
        spec = experiment.spec
        model = spec.model
        print(
            f"data set {spec.dataset}, protocol {experiment.protocol}, split {spec.split}: "
            f"{experiment.dataset_info.get('train_users')} users, "
            f"{experiment.dataset_info.get('items')} items, "
            f"{experiment.dataset_info.get('train_interactions')} training interactions"
        )
        reg_note = (
            f"λ* = {model.reg:g} (ν* = {model.nu_ref}) → effective λ = {experiment.effective_reg:.6g}"
            if model.normalized_reg else f"λ = {experiment.effective_reg:g}"
        )
        print(
            f"d = {model.dim}, α₀ = {model.alpha0:g}, {reg_note}, ν = {model.nu:g}, "
            f"σ* = {model.sigma:g}, solver {model.solver}, {model.epochs} epochs, seed {model.seed}"
        )

    def epoch(self, record) -> None:
        names = list(record.metrics)
        if not self.header_done:
            columns = ["epoch", "L_S", "L_I", "R", "L"] + names + ["train s", "eval s"]
            print("  ".join(f"{c:>11}" for c in columns))
            self.header_done = True
        cells = [f"{record.epoch:>11d}"]
        cells += [f"{record.loss[k]:>11.4e}" for k in ("L_S", "L_I", "R", "L")]
        cells += [f"{record.metrics[k]:>11.4f}" for k in names]
        cells += [f"{record.train_seconds:>11.2f}", f"{record.eval_seconds:>11.2f}"]
        print("  ".join(cells), flush=True)

    def final(self, experiment, final, extra, best, seconds) -> None:
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in final.items())
        print(f"final model, {experiment.spec.split} split: {metrics}")
        if "test_metrics" in extra:
            test = ", ".join(f"{k} {v:.4f}" for k, v in extra["test_metrics"].items())
            print(f"final model, test split: {test}")
        # Picking an epoch on the test split would leak it, so only validation runs
        # name their best epoch.
        if best is not None and best.metrics and experiment.spec.split == "validation":
            key = next(iter(best.metrics))
            print(f"best epoch by {key}: {best.epoch} ({best.metrics[key]:.4f})")
        print(f"effective λ {experiment.effective_reg:.6g}; total {seconds:.1f} s")
