"""Gaussian-process regression (Rasmussen & Williams, *Gaussian Processes for Machine
Learning*, 2006).

A Gaussian process is a distribution over functions: any finite set of function values
is jointly Gaussian with covariance given by a kernel,
:math:`f(X) \\sim \\mathcal{N}(0, k(X, X))`. Regression conditions that Gaussian on the
observed targets (noise-free, or with observation noise on the diagonal); the kernel's
hyperparameters are fitted by maximising the log marginal likelihood.

>>> import numpy as np
>>> from npml.gp import GaussianProcessRegressor
>>> from npml.kernels import RBF
>>> X = np.linspace(0, 1, 5)[:, None]
>>> gp = GaussianProcessRegressor(RBF(0.3), noise=1e-2, optimize=False).fit(X, np.sin(6 * X[:, 0]))
>>> gp.predict(X[:2], return_std=True)[1].shape
(2,)
"""

from npml.gp.likelihood import log_marginal_likelihood
from npml.gp.regression import GaussianProcessRegressor

__all__ = ["GaussianProcessRegressor", "log_marginal_likelihood"]
