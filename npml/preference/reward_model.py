"""A reward model trained on pairwise preferences with the Bradley-Terry loss.

A network :math:`r_\\phi(x)` scores a response's features :math:`x`; a human preferred
:math:`y_w` over :math:`y_l` with probability :math:`\\sigma(r(y_w) - r(y_l))` (the
Bradley-Terry model with scores :math:`\\beta = r`), so the negative log-likelihood of a batch
of B preferences is

.. math::

    L = -\\frac{1}{B} \\sum_b \\log \\sigma\\big(r(x^w_b) - r(x^l_b)\\big), \\qquad
    \\frac{\\partial L}{\\partial r(x^w_b)} = -\\frac{\\sigma(r(x^l_b) - r(x^w_b))}{B}
    = -\\frac{\\partial L}{\\partial r(x^l_b)} .

This is the reward-modelling step of RLHF (Ouyang et al., 2022); only differences of rewards
are identified, so the output layer has no bias. The gradient flows back through the
network's hand-written backward passes (``npml.nn.Linear``, ``npml.nn.ReLU``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from npml._checks import as_rng, check_array, check_dout, check_scalar, trusted_inputs
from npml._progress import Progress, check_progress
from npml.nn import Linear, Module, ReLU


class BTLossCache(NamedTuple):
    margin: np.ndarray  # (B,) r(x_w) - r(x_l)


def bradley_terry_loss_forward(
    r_chosen: np.ndarray, r_rejected: np.ndarray
) -> tuple[float, BTLossCache]:
    """Bradley-Terry loss of a reward model: mean :math:`-\\log \\sigma(r_w - r_l)` over the batch.

    The negative log-likelihood of the observed preferences when ``P(w beats l) =
    sigma(r_w - r_l)`` (derivation in :mod:`npml.preference.reward_model`); computed as
    ``logaddexp(0, -(r_w - r_l))`` so that large margins do not overflow.

    Parameters
    ----------
    r_chosen, r_rejected : ndarray, shape (B,)
        Rewards of the preferred and the rejected responses.

    Returns
    -------
    loss : float
    cache : BTLossCache
        The margins ``r_w - r_l``, shape (B,), for :func:`bradley_terry_loss_backward`.

    Examples
    --------
    >>> loss, cache = bradley_terry_loss_forward(np.array([1.0, 0.0]), np.array([1.0, 0.0]))
    >>> round(loss, 6) == round(float(np.log(2)), 6)         # no margin: P = 1/2
    True
    >>> bradley_terry_loss_backward(1.0, cache)
    (array([-0.25, -0.25]), array([0.25, 0.25]))
    """
    r_w = check_array(r_chosen, "r_chosen", ndim=1, min_size=1)
    r_l = check_array(r_rejected, "r_rejected", ndim=1)
    if r_l.shape != r_w.shape:
        raise ValueError(f"r_rejected has shape {r_l.shape}; expected {r_w.shape}")
    margin = r_w - r_l
    return float(np.mean(np.logaddexp(0.0, -margin))), BTLossCache(margin)


def bradley_terry_loss_backward(dloss: float, cache: BTLossCache) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`bradley_terry_loss_forward` with respect to both rewards.

    ``d loss / d r_w = -sigma(-(r_w - r_l)) / B`` and the opposite for ``r_l``.

    Parameters
    ----------
    dloss : float
        Gradient of the final objective with respect to the loss (1.0 for the loss itself).
    cache : BTLossCache
        From :func:`bradley_terry_loss_forward`.

    Returns
    -------
    d_r_chosen, d_r_rejected : ndarray, shape (B,)

    Examples
    --------
    See :func:`bradley_terry_loss_forward`.
    """
    if not isinstance(cache, BTLossCache):
        raise TypeError(
            f"cache is a {type(cache).__name__}; expected the BTLossCache that "
            "bradley_terry_loss_forward returned"
        )
    dloss = float(check_scalar(dloss, "dloss"))
    B = cache.margin.shape[0]
    d = -dloss * 0.5 * (1.0 - np.tanh(0.5 * cache.margin)) / B  # -sigma(-margin) / B
    return d, -d


class RewardModel(Module):
    """Scalar reward :math:`r(x)`: linear, or an MLP with ReLU hidden layers.

    ``forward(x)`` maps features ``(N, d_in)`` to rewards ``(N,)``; ``loss_and_backward(x_w,
    x_l)`` runs the Bradley-Terry loss on preferred and rejected features and accumulates
    the gradients; ``predict_preference(x_a, x_b)`` gives ``P(a beats b)``. Train it with
    :func:`train_reward_model` (the model is in :mod:`npml.preference.reward_model`).

    Parameters
    ----------
    d_in : int
        Feature width.
    hidden : sequence of int, default ()
        Hidden widths; ``()`` gives the linear model :math:`r(x) = x^\\top w`.
    rng : None, int or numpy.random.Generator
        Initialisation randomness.
    dtype : numpy float dtype, default float32
        Dtype of the parameters; ``forward`` casts its input to it (float64 features give
        float32 rewards from a float32 model), ``backward`` casts ``dr``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> w_true = np.array([1.0, -1.0, 0.5])
    >>> x_a, x_b = rng.standard_normal((2, 200, 3))
    >>> better = (x_a @ w_true > x_b @ w_true)[:, None]
    >>> x_w, x_l = np.where(better, x_a, x_b), np.where(better, x_b, x_a)
    >>> model = RewardModel(3, rng=0, dtype=np.float64)
    >>> losses = train_reward_model(model, x_w, x_l, epochs=20, lr=0.05, rng=0, progress=False)
    >>> losses[-1] < losses[0]
    True
    >>> bool(np.mean(model.predict_preference(x_w, x_l) > 0.5) > 0.9)
    True
    """

    def __init__(
        self,
        d_in: int,
        hidden: Sequence[int] = (),
        rng: None | int | np.random.Generator = None,
        dtype: type = np.float32,
    ) -> None:
        check_scalar(d_in, "d_in", kind=(int, np.integer), low=1)
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise TypeError(f"hidden={hidden!r}; expected a sequence of layer widths")
        hidden = tuple(hidden)
        for i, h in enumerate(hidden):
            check_scalar(h, f"hidden[{i}]", kind=(int, np.integer), low=1)
        try:
            float_dtype = np.dtype(dtype).kind == "f"
        except TypeError:
            float_dtype = False
        if not float_dtype:
            raise TypeError(f"dtype={dtype!r}; expected a float dtype (np.float32 or np.float64)")
        rng = as_rng(rng)
        widths = [d_in, *hidden]
        self.layers: list[Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            self.layers += [Linear(a, b, rng=rng, dtype=dtype), ReLU()]
        # No bias on the output: Bradley-Terry sees only differences of rewards.
        self.layers.append(Linear(widths[-1], 1, bias=False, rng=rng, dtype=dtype))
        self.d_in = d_in
        self.dtype = np.dtype(dtype)
        self._n: int | None = None  # rows of the last forward

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Rewards of ``x`` (N, d_in); returns shape (N,)."""
        return self._forward(x, "x")

    def _forward(self, x: np.ndarray, name: str) -> np.ndarray:
        """:meth:`forward`, with errors naming the caller's argument ``name``."""
        x = check_array(x, name, ndim=2)
        if x.shape[1] != self.d_in:
            raise ValueError(f"{name} has shape {x.shape}; expected (N, {self.d_in})")
        x = x.astype(self.dtype, copy=False)
        with trusted_inputs():  # checked above: the layers do not scan x again
            for layer in self.layers:
                x = layer.forward(x)
        self._n = x.shape[0]
        return x[:, 0]

    def backward(self, dr: np.ndarray) -> np.ndarray:
        """Accumulate parameter gradients from ``dr`` (N,); return ``dx`` (N, d_in)."""
        if self._n is None:
            raise RuntimeError("RewardModel.backward called before forward")
        d = check_dout(dr, (self._n,), "dr").astype(self.dtype, copy=False)[:, None]  # (N, 1)
        for layer in reversed(self.layers):
            d = layer.backward(d)
        return d

    def loss_and_backward(self, x_chosen: np.ndarray, x_rejected: np.ndarray) -> float:
        """Bradley-Terry loss of a batch of preferences; accumulates the parameter gradients.

        ``x_chosen`` and ``x_rejected`` (B, d_in) go through the network as one batch of 2B.
        """
        B = np.shape(x_chosen)[0]
        if np.shape(x_rejected) != np.shape(x_chosen):
            raise ValueError(
                f"x_rejected has shape {np.shape(x_rejected)}; expected {np.shape(x_chosen)}"
            )
        r = self.forward(np.concatenate([x_chosen, x_rejected]))  # (2B,)
        loss, cache = bradley_terry_loss_forward(r[:B], r[B:])
        d_w, d_l = bradley_terry_loss_backward(1.0, cache)
        self.backward(np.concatenate([d_w, d_l]))
        return loss

    def predict_preference(self, x_a: np.ndarray, x_b: np.ndarray) -> np.ndarray:
        """:math:`P(a \\succ b) = \\sigma(r(x_a) - r(x_b))`, shape (N,)."""
        d = self._forward(x_a, "x_a") - self._forward(x_b, "x_b")
        return 0.5 * (1.0 + np.tanh(0.5 * d))


def train_reward_model(
    model: RewardModel,
    x_chosen: np.ndarray,
    x_rejected: np.ndarray,
    epochs: int = 20,
    lr: float = 1e-2,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    rng: None | int | np.random.Generator = None,
    progress: bool | None = None,
) -> list[float]:
    """Minimise the Bradley-Terry loss with AdamW on shuffled mini-batches.

    Parameters
    ----------
    model : RewardModel
    x_chosen, x_rejected : ndarray, shape (n, d_in)
        Features of the preferred and rejected response of each of *n* preferences.
    epochs, lr, batch_size, weight_decay
        The usual; ``weight_decay`` is AdamW's decoupled decay.
    rng : None, int or numpy.random.Generator
        Shuffling randomness.
    progress : bool or None, default None
        Show step (optimizer steps over all epochs), batch loss, steps/s and time left: by
        default only on a terminal or in a notebook; ``True`` always, ``False`` never (as
        :func:`npml.models.fit`).

    Returns
    -------
    list of float
        Mean training loss of each epoch.
    """
    from npml.optim import AdamW

    if not isinstance(model, RewardModel):
        raise TypeError(f"model is a {type(model).__name__}; expected a RewardModel")
    x_w = check_array(x_chosen, "x_chosen", ndim=2, min_size=1)
    x_l = check_array(x_rejected, "x_rejected", ndim=2)
    if x_l.shape != x_w.shape:
        raise ValueError(f"x_rejected has shape {x_l.shape}; expected {x_w.shape}")
    check_scalar(epochs, "epochs", kind=(int, np.integer), low=1)
    check_scalar(batch_size, "batch_size", kind=(int, np.integer), low=1)
    rng = as_rng(rng)
    check_progress(progress)
    opt = AdamW(model.named_parameters(), lr=lr, weight_decay=weight_decay)
    n = x_w.shape[0]
    history = []
    with Progress(epochs * -(-n // batch_size), progress) as bar:  # steps of all epochs
        for _ in range(epochs):
            order = rng.permutation(n)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                opt.zero_grad()
                loss = model.loss_and_backward(x_w[idx], x_l[idx])
                total += loss * idx.size
                opt.step()
                bar.update(loss=loss)
            history.append(total / n)
    return history
