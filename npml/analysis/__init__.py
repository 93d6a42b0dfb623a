"""Analysis tools: how metrics, ranks and gradients explain what models seem to do."""

from npml.analysis.emergence import (
    ScalingResult,
    brier_score,
    exact_match,
    simulate_scaling,
    token_accuracy,
    token_edit_distance,
)

__all__ = [
    "ScalingResult",
    "brier_score",
    "exact_match",
    "simulate_scaling",
    "token_accuracy",
    "token_edit_distance",
]
