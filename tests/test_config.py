"""Hyperparameter validation, normalized λ and the memory estimate."""

from __future__ import annotations

import pytest

from ials.config import (
    IALSConfig,
    RunSpec,
    check_memory,
    estimate_memory_bytes,
    max_dim_that_fits,
    mean_row_weight,
)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("alpha0", 0.0, r"alpha0 \(unobserved weight α₀\) must be a finite number > 0, got 0.0"),
        ("alpha0", float("nan"), "alpha0"),
        ("reg", -1.0, r"reg \(regularization λ\) must be a finite number > 0, got -1.0"),
        ("nu", -0.5, r"nu \(frequency exponent ν\) must be a finite number ≥ 0, got -0.5"),
        ("dim", 0, "dim must be an integer ≥ 1, got 0"),
        ("dim", 2.5, "dim must be an integer ≥ 1, got 2.5"),
        ("sigma", 0.0, "sigma"),
        ("epochs", 0, "epochs must be an integer ≥ 1, got 0"),
        ("solver", "lu", "solver must be one of exact, block, cg, got 'lu'"),
        ("block_size", 0, "block_size"),
        ("cg_steps", 0, "cg_steps"),
        ("seed", -1, "seed"),
        ("dtype", "float16", "dtype must be one of float32, float64"),
        ("nu_ref", 2, r"nu_ref \(reference exponent ν\*\) must be 0 or 1, got 2"),
    ],
)
def test_invalid_hyperparameter_message(field, value, message):
    with pytest.raises(ValueError, match=message):
        IALSConfig(**{field: value}).validate()


def test_defaults_are_valid():
    assert IALSConfig().validate().nu == 1.0
    assert RunSpec().validate().dataset == "synthetic"


def test_effective_reg_without_normalization_is_reg():
    assert IALSConfig(reg=0.01).effective_reg(100, 50, 1000) == 0.01


@pytest.mark.parametrize("nu,nu_ref", [(0.0, 1), (0.5, 1), (1.0, 0), (2.0, 0), (1.0, 1)])
def test_effective_reg_keeps_mean_penalty(nu, nu_ref):
    n_users, n_items, nnz, alpha0, reg_star = 300, 200, 5000, 0.1, 0.02
    config = IALSConfig(reg=reg_star, nu=nu, nu_ref=nu_ref, normalized_reg=True, alpha0=alpha0)
    w_bar = 2 * (nnz + alpha0 * n_users * n_items) / (n_users + n_items)
    assert mean_row_weight(n_users, n_items, nnz, alpha0) == pytest.approx(w_bar)
    effective = config.effective_reg(n_users, n_items, nnz)
    # The penalty scale at the mean row weight is the same on both exponents.
    assert effective * w_bar**nu == pytest.approx(reg_star * w_bar**nu_ref)


def test_run_spec_round_trip_and_unknown_keys():
    spec = RunSpec(dataset="ml-1m", protocol="loo-sampled", model=IALSConfig(dim=8))
    assert RunSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="unknown hyperparameter.*colour"):
        RunSpec.from_dict({"dataset": "x", "model": {"colour": 1}})
    with pytest.raises(ValueError, match="protocol must be one of"):
        RunSpec(protocol="random").validate()


def test_memory_estimate_grows_with_dim():
    small = estimate_memory_bytes(IALSConfig(dim=64), 6040, 3706, 10**6)
    large = estimate_memory_bytes(IALSConfig(dim=128), 6040, 3706, 10**6)
    assert large > small > 6040 * 64 * 4


def test_memory_check_reports_largest_dim():
    config = IALSConfig(dim=4096)
    budget = estimate_memory_bytes(IALSConfig(dim=300), 10**5, 10**4, 10**6)
    best = max_dim_that_fits(config, 10**5, 10**4, 10**6, budget)
    assert 300 <= best < 4096
    assert estimate_memory_bytes(IALSConfig(dim=best + 1), 10**5, 10**4, 10**6) > budget
    with pytest.raises(MemoryError, match=f"largest embedding dimension d that fits is {best}"):
        check_memory(config, 10**5, 10**4, 10**6, available=budget)
