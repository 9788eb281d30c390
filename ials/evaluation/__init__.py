"""Evaluation of factor models: ranking metrics, task scoring and the most-popular baseline.

`evaluate(model, task)` scores a `SampledTask` (HR@k, NDCG@k against sampled negatives)
or a `RankingTask` (Recall@k, NDCG@k, HR@k over all items) and returns the mean of each
metric over users with a target. `PopularityModel` is the most-popular baseline in the
same interface.
"""

from ials.evaluation.evaluate import evaluate, evaluated_users
from ials.evaluation.popularity import PopularityModel

__all__ = ["PopularityModel", "evaluate", "evaluated_users"]
