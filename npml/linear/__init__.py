"""Linear models: the elastic net, and its penalty as a reusable regularizer.

* :class:`ElasticNet` -- least squares with an L1 + L2 penalty, fitted by coordinate
  descent with scikit-learn's objective and duality-gap stopping rule;
* :func:`enet_path` -- solutions along a decreasing sequence of penalties, warm-started;
* :func:`elastic_net_penalty` / :func:`elastic_net_prox` -- the penalty, its subgradient
  and its proximal step, for the weights of any model (a neural network, ...).
"""

from npml.linear.elastic_net import ConvergenceWarning, ElasticNet, EnetPath, enet_path
from npml.linear.penalty import elastic_net_penalty, elastic_net_prox

__all__ = [
    "ConvergenceWarning",
    "ElasticNet",
    "EnetPath",
    "elastic_net_penalty",
    "elastic_net_prox",
    "enet_path",
]
