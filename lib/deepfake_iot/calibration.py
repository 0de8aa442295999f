"""Calibration of P(fake): reliability tables, the expected calibration error, and Platt scaling
fitted on validation scores and moved to the deployment's fake prior.

Label 1 is *fake*; a score is P(fake) in [0, 1] (the conventions of ``metrics.py``). No
TensorFlow here: numpy, pandas and scipy only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfake_iot.metrics import checked_arrays

_EPS = 1e-7


def reliability_table(labels, scores, bins: int = 15) -> pd.DataFrame:
    """Equal-width bins of P(fake): ``bin_low, bin_high, mean_score, frac_fake, count``.

    Empty bins are kept with ``count`` 0 and NaN means, so tables of different models align.
    """
    labels, scores = checked_arrays(labels, scores)
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(scores, edges[1:-1], right=False), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_score = np.bincount(index, weights=scores, minlength=bins) / count
        frac_fake = np.bincount(index, weights=labels, minlength=bins) / count
    return pd.DataFrame(
        {
            "bin_low": edges[:-1],
            "bin_high": edges[1:],
            "mean_score": mean_score,
            "frac_fake": frac_fake,
            "count": count.astype(int),
        }
    )


def expected_calibration_error(labels, scores, bins: int = 15) -> float:
    """ECE of P(fake): the count-weighted mean gap between mean score and fraction of fakes.

    This is the calibration of the fake-class probability over equal-width bins (the quantity a
    reliability diagram of P(fake) shows), not the top-label confidence variant.
    """
    table = reliability_table(labels, scores, bins)
    filled = table[table["count"] > 0]
    gaps = np.abs(filled["mean_score"] - filled["frac_fake"])
    return float(np.sum(gaps * filled["count"]) / filled["count"].sum())


def _logit(scores) -> np.ndarray:
    scores = np.clip(np.asarray(scores, dtype=float), _EPS, 1 - _EPS)
    return np.log(scores) - np.log1p(-scores)


# Bounds of the Platt search: a fit that lands on one is an error, never a quietly returned bound.
PLATT_SLOPE_BOUNDS = (1e-3, 1e2)
PLATT_INTERCEPT_BOUNDS = (-30.0, 30.0)


def prior_log_odds(share: float) -> float:
    """``log(share / (1 - share))``: the log odds of a fake share in (0, 1)."""
    if not 0 < share < 1:
        raise ValueError(f"a class share must lie strictly between 0 and 1, got {share}")
    return float(np.log(share) - np.log1p(-share))


def fit_platt(labels, scores_val) -> tuple[float, float]:
    """``(slope, intercept)`` of Platt scaling, fitted on VALIDATION scores:
    ``P(fake) = sigmoid(slope * logit(score) + intercept)`` minimising the negative
    log-likelihood (a logistic regression on the logit, unregularised, by scipy's L-BFGS-B).

    Unlike temperature scaling (a slope alone), the intercept corrects a shifted model, e.g. one
    trained with class weights for a 50% prior and validated where most faces are fake. The
    result calibrates to validation's class mix; :func:`platt_for_prior` moves it to another.
    A fit that lands on a bound of ``PLATT_SLOPE_BOUNDS`` or ``PLATT_INTERCEPT_BOUNDS`` raises
    ``ValueError`` naming the bound: the scores carry no usable calibration (a constant or an
    inverted ranking), and a bound is not an estimate.
    """
    from scipy.optimize import minimize

    labels, scores_val = checked_arrays(labels, scores_val)
    if np.unique(labels).size < 2:
        raise ValueError("Platt scaling needs real and fake validation scores; only one class is present")
    logits = _logit(scores_val)

    def nll(params):
        z = params[0] * logits + params[1]
        # -[y log s(z) + (1-y) log(1-s(z))] = softplus(z) - y z, computed stably
        gradient = 1 / (1 + np.exp(-z)) - labels
        return float(np.mean(np.logaddexp(0.0, z) - labels * z)), np.array([np.mean(gradient * logits), np.mean(gradient)])

    bounds = [PLATT_SLOPE_BOUNDS, PLATT_INTERCEPT_BOUNDS]
    result = minimize(nll, x0=np.array([1.0, 0.0]), jac=True, method="L-BFGS-B", bounds=bounds)
    for value, (low, high), name in zip(result.x, bounds, ("slope", "intercept"), strict=True):
        for bound in (low, high):
            if abs(value - bound) <= 1e-6 * max(1.0, abs(bound)):
                raise ValueError(f"the Platt {name} landed on its search bound {bound:g}: these scores "
                                 "carry no usable calibration (constant or inverted); nothing was fitted")
    return float(result.x[0]), float(result.x[1])


def apply_platt(scores, slope: float, intercept: float) -> np.ndarray:
    """Calibrated P(fake): ``sigmoid(slope * logit(scores) + intercept)`` (the ranking is kept
    for a positive slope)."""
    return 1.0 / (1.0 + np.exp(-(slope * _logit(scores) + intercept)))


def platt_for_prior(intercept: float, fitted_share: float, prior: float) -> float:
    """The Platt intercept moved from the fake share it was fitted at (validation's) to the
    fake ``prior`` of deployment: Bayes' rule adds the difference of the prior log odds."""
    return float(intercept + prior_log_odds(prior) - prior_log_odds(fitted_share))
