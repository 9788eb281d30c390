"""Synthetic implicit-feedback data: latent factors plus power-law item popularity.

The generator needs no download, so the dashboard and the tests always have a data set.
Each user u draws n_u distinct items without replacement, with probability proportional to

    exp(strength · ⟨p_u, q_i⟩) · popularity_i,    popularity_i ∝ (rank_i + 1)^(−popularity_exponent)

where p_u and q_i are Gaussian latent factors and rank_i is a random popularity rank. The
draw uses the Gumbel-top-k trick: add Gumbel noise to the log-probabilities and keep each
user's n_u largest keys, which samples n_u items without replacement from that
distribution. User activity n_u is log-normal (heavy-tailed) and at least `min_per_user`.
Timestamps are uniform over three years, so leave-last-out protocols have an order to use.

Names
-----
``synthetic``
    ML-1M-sized: 6,040 users, 3,706 items, about 1,000,000 interactions.
``synthetic-small``
    600 users, 400 items, about 34,000 interactions: fast tests and UI demos.
``synthetic-tiny``
    60 users, 50 items, about 800 interactions: unit tests.
``synthetic-<users>x<items>``
    For example ``synthetic-2000x1000``: the ML-1M density (4.5 %), at least 20 items per
    user when the item count allows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass

import numpy as np

from ials.data.types import Interactions

logger = logging.getLogger(__name__)

#: Bump when the generator's output changes for the same parameters (part of the fingerprint).
GENERATOR_VERSION = 1

#: Density of ML-1M (1,000,209 / (6,040 · 3,706)), used for ``synthetic-<users>x<items>``.
ML1M_DENSITY = 1_000_209 / (6_040 * 3_706)

#: Upper bound on users × items: the generator builds a dense float32 key matrix per block of users.
MAX_CELLS = 200_000_000

#: First timestamp (2001-01-01, seconds since the epoch) and the span in seconds (3 years).
FIRST_TIMESTAMP = 978_307_200
TIMESTAMP_SPAN = 3 * 365 * 86_400

#: Users generated per block; bounds the dense key matrix to block × n_items floats.
_BLOCK_USERS = 2048


@dataclass(frozen=True)
class SyntheticParams:
    """Parameters of one synthetic data set.

    Attributes
    ----------
    n_users, n_items : int
        Matrix shape.
    n_interactions : int
        Target number of interactions; the result is within about 1 % of it unless the
        per-user bounds force otherwise.
    min_per_user : int
        Minimum number of items per user.
    dim : int
        Dimension of the latent factors p_u, q_i.
    strength : float
        Weight of the latent score ⟨p_u, q_i⟩ against popularity; 0 gives a pure
        popularity model.
    popularity_exponent : float
        Exponent of the power law of item popularity.
    activity_sigma : float
        Standard deviation of log(n_u − min_per_user): larger gives a heavier tail.
    seed : int
        Seed of the generator (not the split seed).
    """

    n_users: int = 6_040
    n_items: int = 3_706
    n_interactions: int = 1_000_000
    min_per_user: int = 20
    dim: int = 16
    strength: float = 2.0
    popularity_exponent: float = 0.8
    activity_sigma: float = 1.0
    seed: int = 0

    def validate(self) -> "SyntheticParams":
        """Raise `ValueError` naming the first parameter out of range; return self."""
        for field_name in ("n_users", "n_items", "n_interactions", "min_per_user", "dim"):
            value = getattr(self, field_name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{field_name} must be an integer ≥ 1, got {value!r}.")
        if self.n_users * self.n_items > MAX_CELLS:
            raise ValueError(
                f"synthetic data with {self.n_users} users × {self.n_items} items exceeds "
                f"the limit of {MAX_CELLS:,} cells; choose fewer users or items."
            )
        if self.min_per_user > self.n_items:
            raise ValueError(
                f"min_per_user ({self.min_per_user}) exceeds the number of items "
                f"({self.n_items}); lower min_per_user or add items."
            )
        if self.n_interactions > self.n_users * self.n_items:
            raise ValueError(
                f"n_interactions ({self.n_interactions}) exceeds users × items "
                f"({self.n_users * self.n_items})."
            )
        if self.strength < 0 or self.popularity_exponent < 0 or self.activity_sigma < 0:
            raise ValueError(
                "strength, popularity_exponent and activity_sigma must be ≥ 0, got "
                f"{self.strength}, {self.popularity_exponent}, {self.activity_sigma}."
            )
        if self.seed < 0:
            raise ValueError(f"seed must be ≥ 0, got {self.seed}.")
        return self

    def fingerprint(self) -> str:
        """Return a sha256 hex digest of the parameters and the generator version."""
        payload = json.dumps(
            {"generator_version": GENERATOR_VERSION, **asdict(self)}, sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()


#: Named variants; ``synthetic-<users>x<items>`` is parsed by `synthetic_params`.
VARIANTS: dict[str, SyntheticParams] = {
    "synthetic": SyntheticParams(),
    "synthetic-small": SyntheticParams(n_users=600, n_items=400, n_interactions=36_000),
    "synthetic-tiny": SyntheticParams(
        n_users=60, n_items=50, n_interactions=1_000, min_per_user=5, dim=4
    ),
}

VARIANT_DESCRIPTIONS: dict[str, str] = {
    "synthetic": (
        "Generated ML-1M-sized data: 6,040 users, 3,706 items, about 1,000,000 "
        "interactions from latent factors plus power-law popularity; no download needed. "
        "Other sizes: synthetic-small (600 × 400), synthetic-tiny (60 × 50), "
        "synthetic-<users>x<items> (ML-1M density)."
    ),
    "synthetic-small": (
        "Generated data, 600 users × 400 items, about 34,000 interactions: fast tests and "
        "demos."
    ),
    "synthetic-tiny": "Generated data, 60 users × 50 items, about 800 interactions.",
}

_SIZED_NAME = re.compile(r"^synthetic-(\d+)x(\d+)$")


def is_synthetic_name(name: str) -> bool:
    """Return whether ``name`` names a synthetic data set (``synthetic`` or ``synthetic-…``)."""
    return name == "synthetic" or name.startswith("synthetic-")


def synthetic_params(name: str) -> SyntheticParams:
    """Return the parameters that ``name`` stands for.

    Raises
    ------
    ValueError
        When ``name`` is neither a named variant nor ``synthetic-<users>x<items>``.
    """
    if name in VARIANTS:
        return VARIANTS[name]
    match = _SIZED_NAME.match(name)
    if match is None:
        raise ValueError(
            f"unknown synthetic data set {name!r}; use one of {', '.join(VARIANTS)} or "
            "synthetic-<users>x<items> such as synthetic-2000x1000."
        )
    n_users, n_items = int(match.group(1)), int(match.group(2))
    if n_users < 1 or n_items < 2:
        raise ValueError(
            f"{name!r} needs at least 1 user and 2 items, got {n_users} × {n_items}."
        )
    min_per_user = min(20, max(1, n_items // 2))
    n_interactions = max(
        int(round(ML1M_DENSITY * n_users * n_items)), int(1.5 * min_per_user * n_users)
    )
    n_interactions = min(n_interactions, n_users * n_items // 2)
    return SyntheticParams(
        n_users=n_users, n_items=n_items, n_interactions=n_interactions,
        min_per_user=min_per_user,
    ).validate()


def generate(params: SyntheticParams, name: str = "synthetic") -> Interactions:
    """Generate the interactions ``params`` describe.

    The output depends only on ``params``: the same parameters give the same arrays on
    every run.

    Returns
    -------
    Interactions
        Pairs sorted by (user, item) with integer timestamps in seconds (float64), no
        original ids.
    """
    params.validate()
    rng = np.random.default_rng(params.seed)
    n_users, n_items = params.n_users, params.n_items

    # Coordinates with variance 1/√dim give ⟨p_u, q_i⟩ unit variance for every dim.
    scale = params.dim ** -0.25
    user_factors = rng.standard_normal((n_users, params.dim)) * scale
    item_factors = rng.standard_normal((n_items, params.dim)) * scale
    popularity_rank = rng.permutation(n_items)
    log_popularity = -params.popularity_exponent * np.log1p(popularity_rank)
    counts = _user_activity(params, rng)

    users, items = [], []
    # Every block reuses two block × n_items float64 buffers, because allocating them
    # anew (2 × 330 MB per block at 20,000 items) dominated the generation time.
    logits_buffer = np.empty((min(_BLOCK_USERS, n_users), n_items))
    gumbel_buffer = np.empty_like(logits_buffer)
    for start in range(0, n_users, _BLOCK_USERS):
        stop = min(start + _BLOCK_USERS, n_users)
        # NOTE: rows differ across BLAS builds only in the last bits of float64, so a
        # platform could flip the choice between two keys equal to ~1e-15.
        logits = np.matmul(user_factors[start:stop], item_factors.T,
                           out=logits_buffer[: stop - start])
        logits *= params.strength
        logits += log_popularity
        # Gumbel noise is −log of a standard exponential draw.
        log_exponential = rng.standard_exponential(out=gumbel_buffer[: stop - start])
        np.log(log_exponential, out=log_exponential)
        logits -= log_exponential
        keys = logits.astype(np.float32)
        # The n_u largest keys of row u: compare with the n_u-th largest value. A partition
        # (linear on average) leaves the block's max n_u largest keys for the sort, and
        # the thresholds equal those of a full sort, so the output is unchanged.
        block_counts = counts[start:stop]
        most = int(block_counts.max())
        top = np.partition(keys, n_items - most, axis=1)[:, n_items - most:]
        top.sort(axis=1)
        thresholds = top[np.arange(stop - start), most - block_counts]
        rows, cols = np.nonzero(keys >= thresholds[:, None])
        users.append(rows.astype(np.int32) + start)
        items.append(cols.astype(np.int32))

    user = np.concatenate(users)
    item = np.concatenate(items)
    timestamp = FIRST_TIMESTAMP + rng.integers(0, TIMESTAMP_SPAN, size=user.shape[0])
    logger.debug("generated %s: %d users, %d items, %d interactions",
                 name, n_users, n_items, user.shape[0])
    return Interactions(
        user=user, item=item, n_users=n_users, n_items=n_items,
        timestamp=timestamp.astype(np.float64), name=name,
    )


def _user_activity(params: SyntheticParams, rng: np.random.Generator) -> np.ndarray:
    """Draw each user's item count: min_per_user plus a log-normal part, summing to the target."""
    base = params.min_per_user
    # Half the items at most, so 99 sampled negatives fit for every user of a 200+ item set.
    ceiling = max(base, params.n_items // 2)
    extra_total = max(params.n_interactions - base * params.n_users, 0)
    weights = rng.lognormal(mean=0.0, sigma=params.activity_sigma, size=params.n_users)
    extra = weights / weights.sum() * extra_total
    counts = np.minimum(base + np.floor(extra).astype(np.int64), ceiling)
    return counts.astype(np.int64)
