"""One run, end to end: load the split, train epoch by epoch, evaluate after each epoch.

`Experiment` is what the CLI and the background worker drive::

    experiment = Experiment(spec, data_dir="data")
    experiment.prepare()                 # loads data, resolves λ, checks memory
    for record in experiment.epochs():   # one EpochRecord per epoch
        ...                              # record it, stop early by breaking out
    final = experiment.final_metrics()   # test task on the final model

Breaking out of `epochs` between epochs is a clean stop: the model keeps the last
finished epoch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Iterator

from ials import __version__
from ials.config import RunSpec, check_memory

logger = logging.getLogger(__name__)


@dataclass
class EpochRecord:
    """Result of one epoch: losses, metrics and timings.

    Attributes
    ----------
    epoch : int
        1-based epoch number.
    loss : dict
        ``{"L_S", "L_I", "R", "L"}`` on the training matrix after the epoch.
    metrics : dict
        Metric name (``"HR@10"``, ``"Recall@20"``, ...) to value on the eval task.
    train_seconds, eval_seconds : float
        Wall-clock seconds spent training this epoch and evaluating after it.
    """

    epoch: int
    loss: dict
    metrics: dict
    train_seconds: float
    eval_seconds: float

    def to_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "loss": dict(self.loss),
            "metrics": dict(self.metrics),
            "seconds": {"train": self.train_seconds, "eval": self.eval_seconds},
        }


@dataclass
class Experiment:
    """A run of `RunSpec` on a data set in ``data_dir``.

    After `prepare`, these attributes describe the run and are what the run store keeps:
    ``protocol`` (resolved default), ``effective_reg``, ``fingerprint`` (of the data set
    files), ``package_version`` and ``dataset_info`` (counts).
    """

    spec: RunSpec
    data_dir: str | None = None
    protocol: str | None = None
    effective_reg: float | None = None
    fingerprint: str | None = None
    package_version: str = __version__
    dataset_info: dict = field(default_factory=dict)
    memory_estimate: int | None = None

    def __post_init__(self) -> None:
        self.spec.validate()
        self._split = None
        self._model = None

    @property
    def model(self):
        return self._model

    @property
    def split(self):
        return self._split

    def prepare(self) -> "Experiment":
        """Load the data set and split, resolve λ, and check memory before allocating."""
        from ials import data
        from ials.model import IALS

        name = self.spec.dataset
        self.protocol = self.spec.protocol or data.default_protocol(name, self.data_dir)
        started = time.perf_counter()
        self._split = data.load_split(
            name, protocol=self.protocol, split=self.spec.split,
            seed=self.spec.split_seed, data_dir=self.data_dir,
        )
        self.fingerprint = data.dataset_fingerprint(name, self.data_dir)
        train = self._split.train
        n_users, n_items = train.shape
        self.dataset_info = dict(self._split.info)
        self.dataset_info.update(
            {"train_users": n_users, "items": n_items, "train_interactions": int(train.nnz)}
        )
        n_eval = _task_size(self._split.eval_task)
        self.memory_estimate = check_memory(
            self.spec.model, n_users, n_items, int(train.nnz), n_eval_users=n_eval
        )
        self._model = IALS(self.spec.model)
        self.effective_reg = self._model.resolve_reg(train)
        logger.info(
            "prepared %s/%s/%s in %.1f s: %d users, %d items, %d interactions, λ=%g",
            name, self.protocol, self.spec.split, time.perf_counter() - started,
            n_users, n_items, train.nnz, self.effective_reg,
        )
        return self

    def epochs(self) -> Iterator[EpochRecord]:
        """Train `spec.model.epochs` epochs, yielding an `EpochRecord` after each one."""
        from ials.evaluation import evaluate
        from ials.solvers import single_threaded_blas

        if self._split is None:
            self.prepare()
        for stats in self._model.fit_epochs(self._split.train):
            started = time.perf_counter()
            # One BLAS thread here too: OpenBLAS threads busy-wait after a multithreaded
            # call and would slow the next epoch's numba threads; numba parallelizes top-k.
            with single_threaded_blas():
                metrics = evaluate(self._model, self._split.eval_task)
            eval_seconds = time.perf_counter() - started
            yield EpochRecord(
                epoch=stats.epoch,
                loss=stats.loss,
                metrics=metrics,
                train_seconds=stats.seconds,
                eval_seconds=eval_seconds,
            )

    def final_metrics(self) -> dict:
        """Score the test task on the current model (the final number of a run)."""
        from ials.evaluation import evaluate

        if self._model is None or self._model.item_factors is None:
            raise RuntimeError("final_metrics needs a trained model; run epochs() first.")
        return evaluate(self._model, self._split.test_task)

    def describe(self) -> dict:
        """Return what the run store keeps about this run besides its epochs."""
        return {
            "spec": self.spec.to_dict(),
            "protocol": self.protocol,
            "effective_reg": self.effective_reg,
            "dataset_fingerprint": self.fingerprint,
            "package_version": self.package_version,
            "dataset_info": self.dataset_info,
            "memory_estimate": self.memory_estimate,
        }


def _task_size(task) -> int:
    users = getattr(task, "users", None)
    if users is not None:
        return int(len(users))
    return int(task.targets.shape[0])
