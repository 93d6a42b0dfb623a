"""A small, readable training loop: batch, loss, backward, optimizer step, evaluate.

Training minimises the mean cross-entropy of the model's predictions,

.. math::

    \\mathcal{L}(\\theta) = -\\frac{1}{N} \\sum_{n=1}^{N} \\log p_\\theta(y_n \\mid x_n),

by stochastic gradient steps on random mini-batches. Every step is the same five lines:

1. draw a batch,
2. ``model.zero_grad()``,
3. forward pass and loss (:func:`~npml.nn.losses.softmax_cross_entropy_forward`),
4. backward pass (``model.backward(dlogits)`` accumulates every ``Parameter.grad``),
5. optional gradient-norm clipping, then ``optimizer.step()``;

and every ``eval_every`` steps the model is evaluated in ``eval()`` mode (dropout off).
The default optimizer is AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay
Regularization", arXiv:1711.05101) with weight decay on matrices only.

For a language model the batch is ``block_size`` consecutive tokens starting at random
offsets of a token array, and the targets are the same windows shifted by one:
``x = tokens[s : s + T]``, ``y = tokens[s + 1 : s + T + 1]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from npml._checks import as_rng, check_array, check_bool, check_scalar
from npml._module import Module
from npml._progress import Progress, check_progress
from npml.nn.embedding import check_ids
from npml.nn.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward


@dataclass
class History:
    """Losses recorded by :func:`fit` (and :func:`train_causal_lm`).

    Attributes
    ----------
    train_loss : list of float
        The training loss of every step, in order.
    val_step : list of int
        The steps (1-based) after which ``eval_fn`` was evaluated.
    val_loss : list of float
        The validation loss of each of those evaluations.

    Examples
    --------
    >>> h = History(train_loss=[2.0, 1.5], val_step=[2], val_loss=[1.7])
    >>> h.val_loss[-1]
    1.7
    """

    train_loss: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)


def make_optimizer(model: Module, lr: float = 3e-3, weight_decay: float = 0.01) -> Any:
    """AdamW over the model's parameters, decaying matrices but not biases/gains."""
    from npml.optim import AdamW, decay_groups  # npml.optim imports Numba: load it lazily

    return AdamW(decay_groups(model, weight_decay), lr=lr)


def fit(
    model: Module,
    loss_and_backward: Callable[[np.random.Generator], float],
    optimizer: Any,
    steps: int,
    *,
    eval_fn: Callable[[], float] | None = None,
    eval_every: int = 100,
    clip_norm: float | None = 1.0,
    rng: None | int | np.random.Generator = None,
    log: Callable[[str], None] | None = None,
    progress: bool | None = None,
) -> History:
    """Run ``steps`` optimizer steps of ``model`` and return the :class:`History`.

    Each step clears the gradients, calls ``loss_and_backward`` (batch, forward, loss,
    backward), clips the gradient norm and steps the optimizer: the five steps of the module
    docstring. Every ``eval_every`` steps, and after the last, ``eval_fn`` is evaluated
    in eval mode.

    Parameters
    ----------
    model : Module
        Switched to training mode for the steps and to eval mode for evaluations.
    loss_and_backward : callable
        ``loss_and_backward(rng)`` draws a batch with ``rng``, runs forward and backward
        (accumulating gradients) and returns the batch loss.
    optimizer : object with ``step()``
        Updates the parameters from their ``grad`` (e.g. :func:`make_optimizer`).
    steps : int
    eval_fn : callable, optional
        ``eval_fn()`` returns a validation loss; called every ``eval_every`` steps and after
        the last step.
    eval_every : int, default 100
    clip_norm : float or None, default 1.0
        Rescale the gradients so that their global L2 norm is at most this.
    rng : None, int or Generator
        Batch sampling randomness.
    log : callable, optional
        Receives one progress line per evaluation (e.g. ``print``).
    progress : bool or None, default None
        Show step, loss, steps/s and time left while training (:mod:`npml._progress`): by
        default only on a terminal or in a notebook (a tqdm bar when tqdm is installed);
        ``True`` always, ``False`` never.

    Returns
    -------
    History
        ``train_loss`` of every step, ``val_step`` and ``val_loss`` of every evaluation.

    Raises
    ------
    FloatingPointError
        When a step's training loss (or an evaluation's loss) is NaN or infinite: the run
        stops there, naming the step, instead of recording NaN and stepping on.

    Examples
    --------
    Least squares on one parameter, with plain SGD:

    >>> import numpy as np
    >>> from npml.nn import Linear
    >>> from npml.optim import SGD
    >>> model = Linear(1, 1, rng=0, dtype=np.float64)
    >>> x = np.linspace(-1, 1, 32)[:, None]
    >>> def loss_and_backward(rng):
    ...     r = model(x) - 3 * x                  # residual, (32, 1)
    ...     model.backward(2 * r / len(x))        # d mean(r^2) / d y
    ...     return float(np.mean(r**2))
    >>> history = fit(model, loss_and_backward, SGD(model.parameters(), lr=0.5), 100,
    ...               clip_norm=None, progress=False)
    >>> round(float(model.W.data[0, 0]), 3), history.train_loss[-1] < 1e-6
    (3.0, True)
    """
    check_scalar(steps, "steps", kind=int, low=1)
    check_scalar(eval_every, "eval_every", kind=int, low=1)
    check_progress(progress)
    rng = as_rng(rng)
    history = History()
    model.train()
    with Progress(steps, progress) as bar:
        _fit_steps(
            model,
            loss_and_backward,
            optimizer,
            steps,
            eval_fn,
            eval_every,
            clip_norm,
            rng,
            log,
            history,
            bar,
        )
    model.eval()
    return history


def _fit_steps(
    model: Module,
    loss_and_backward: Callable[[np.random.Generator], float],
    optimizer: Any,
    steps: int,
    eval_fn: Callable[[], float] | None,
    eval_every: int,
    clip_norm: float | None,
    rng: np.random.Generator,
    log: Callable[[str], None] | None,
    history: History,
    bar: Progress,
) -> None:
    """The loop of :func:`fit`, reporting each step to ``bar``."""
    from npml.optim import clip_grad_norm

    for step in range(1, steps + 1):
        model.zero_grad()  # 2. gradients accumulate, so clear them first
        loss = float(loss_and_backward(rng))  # 1., 3., 4. batch, forward + loss, backward
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"step {step}: the training loss is {loss}; stopping (lower the learning rate, "
                "clip the gradients or check the data); the parameters are as after step "
                f"{step - 1}"
            )
        if clip_norm is not None:
            clip_grad_norm(model, clip_norm)  # 5. clip (errors name parameters by path) ...
        optimizer.step()  # ... and step
        history.train_loss.append(loss)
        bar.update(loss=loss)
        if eval_fn is not None and (step % eval_every == 0 or step == steps):
            model.eval()
            val = float(eval_fn())
            model.train()
            if not np.isfinite(val):
                raise FloatingPointError(f"step {step}: the validation loss is {val}; stopping")
            history.val_step.append(step)
            history.val_loss.append(val)
            if log is not None:
                recent = float(np.mean(history.train_loss[-eval_every:]))
                with bar.suspended():  # the log line above the progress line, not inside it
                    log(f"step {step:5d}  train loss {recent:.3f}  val loss {val:.3f}")


# -- language models -----------------------------------------------------------------------


def sample_lm_batch(
    tokens: np.ndarray, batch_size: int, block_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random windows ``x`` of ``tokens`` and their next-token targets ``y``, each (B, T)."""
    if tokens.shape[0] <= block_size:
        raise ValueError(
            f"tokens has length {tokens.shape[0]}; expected more than block_size={block_size}"
        )
    starts = rng.integers(0, tokens.shape[0] - block_size, size=batch_size)  # (B,)
    idx = starts[:, None] + np.arange(block_size)  # (B, T)
    return tokens[idx], tokens[idx + 1]


def lm_loss(
    model: Module,
    x: np.ndarray,
    y: np.ndarray,
    backward: bool = True,
    mask: np.ndarray | None = None,
) -> float:
    """Mean next-token cross-entropy of ``model`` on ``(x, y)``; backpropagates if asked.

    Parameters
    ----------
    model : CausalLM
    x, y : ndarray of int, shape (B, T)
        Inputs and targets.
    backward : bool, default True
    mask : ndarray of bool, shape (B, T), optional
        Train only on the positions where it is True (e.g. the action tokens of an RL
        history): the loss is the mean over that set :math:`M` of positions,
        :math:`-\\frac{1}{|M|}\\sum_{(b,t) \\in M} \\log p_\\theta(y_{bt} \\mid x_{b,\\le t})`,
        and the other positions get zero gradient. A mask with no True entry gives loss 0
        and zero gradients.
    """
    backward = check_bool(backward, "backward")
    if mask is not None:
        mask = check_array(mask, "mask", dtype="bool")
        if mask.shape != np.shape(y):
            raise ValueError(f"mask has shape {mask.shape}; expected the shape of y, {np.shape(y)}")
        y = np.where(mask, y, -1)  # masked-out targets become ignore_index
    logits = model.forward(x)  # (B, T, V)
    loss, cache = softmax_cross_entropy_forward(
        logits, y, ignore_index=None if mask is None else -1
    )
    if backward:
        model.backward(softmax_cross_entropy_backward(1.0, cache))
    return float(loss)


def evaluate_lm(model: Module, tokens: np.ndarray, block_size: int, batch_size: int = 32) -> float:
    """Mean next-token loss over consecutive, non-overlapping windows covering ``tokens``.

    Deterministic (no sampling), so two evaluations of the same model agree exactly.
    """
    n = (tokens.shape[0] - 1) // block_size  # number of full windows
    if n < 1:
        raise ValueError(
            f"tokens has length {tokens.shape[0]}; expected more than block_size={block_size}"
        )
    starts = np.arange(n) * block_size
    total = 0.0
    for i in range(0, n, batch_size):
        idx = starts[i : i + batch_size, None] + np.arange(block_size)  # (b, T)
        total += lm_loss(model, tokens[idx], tokens[idx + 1], backward=False) * idx.shape[0]
    return total / n


def train_causal_lm(
    model: Module,
    train_tokens: np.ndarray,
    val_tokens: np.ndarray | None = None,
    *,
    steps: int = 500,
    batch_size: int = 16,
    block_size: int | None = None,
    lr: float = 3e-3,
    weight_decay: float = 0.01,
    eval_every: int = 100,
    clip_norm: float | None = 1.0,
    rng: None | int | np.random.Generator = None,
    log: Callable[[str], None] | None = None,
    progress: bool | None = None,
) -> History:
    """Train a :class:`~npml.models.CausalLM` on next-token prediction over ``train_tokens``.

    Parameters
    ----------
    model : CausalLM
    train_tokens, val_tokens : ndarray of int, shape (N,)
        Token ids; ``val_tokens`` (optional) is evaluated with :func:`evaluate_lm`.
    steps, batch_size : int
    block_size : int, optional
        Window length; default ``model.max_len``.
    lr, weight_decay : float
        AdamW settings (:func:`make_optimizer`).
    eval_every : int
    clip_norm : float or None
    rng : None, int or Generator
    log : callable, optional
    progress : bool or None, default None
        Progress report while training, as in :func:`fit`.

    Returns
    -------
    History

    Raises
    ------
    ValueError, TypeError
        Before the first step, for tokens that are not 1-d integer arrays of ids in
        ``[0, model.vocab_size)`` longer than ``block_size`` (``val_tokens`` included).
    FloatingPointError
        When a loss becomes NaN or infinite (see :func:`fit`).
    """
    block_size = model.max_len if block_size is None else block_size
    check_scalar(block_size, "block_size", kind=int, low=1, high=model.max_len)
    check_scalar(batch_size, "batch_size", kind=int, low=1)
    check_scalar(steps, "steps", kind=int, low=1)
    tokens = {"train_tokens": train_tokens}
    if val_tokens is not None:
        tokens["val_tokens"] = val_tokens
    for name, value in tokens.items():  # all checks before step 1, not at the first evaluation
        arr = check_array(check_ids(value, name, model.vocab_size), name, ndim=1)
        if arr.shape[0] <= block_size:
            raise ValueError(
                f"{name} has length {arr.shape[0]}; expected more than block_size={block_size}"
            )
        tokens[name] = arr
    train_tokens, val_tokens = tokens["train_tokens"], tokens.get("val_tokens")

    def loss_and_backward(rng: np.random.Generator) -> float:
        x, y = sample_lm_batch(train_tokens, batch_size, block_size, rng)
        return lm_loss(model, x, y)

    eval_fn = None
    if val_tokens is not None:
        eval_fn = lambda: evaluate_lm(model, val_tokens, block_size)
    optimizer = make_optimizer(model, lr=lr, weight_decay=weight_decay)
    return fit(
        model,
        loss_and_backward,
        optimizer,
        steps,
        eval_fn=eval_fn,
        eval_every=eval_every,
        clip_norm=clip_norm,
        rng=rng,
        log=log,
        progress=progress,
    )


# -- sequence to sequence ------------------------------------------------------------------


def seq2seq_loss(
    model: Module,
    src: np.ndarray,
    tgt_in: np.ndarray,
    tgt_out: np.ndarray,
    backward: bool = True,
    **masks: np.ndarray | None,
) -> float:
    """Mean cross-entropy of an encoder-decoder ``Transformer`` with teacher forcing.

    ``tgt_in`` is the target shifted right (starting with a BOS token) and ``tgt_out`` the
    target itself; ``masks`` (``src_key_mask``, ``tgt_key_mask``) go to ``model.forward``.
    """
    backward = check_bool(backward, "backward")
    logits = model.forward(src, tgt_in, **masks)  # (B, T, V)
    loss, cache = softmax_cross_entropy_forward(logits, tgt_out)
    if backward:
        model.backward(softmax_cross_entropy_backward(1.0, cache))
    return float(loss)
