"""Progress of training loops: silent unless watched (or asked), tqdm when installed."""

import io
import sys
import types

import numpy as np
import pytest

from npml._progress import Progress, check_progress, format_duration
from npml.models import fit
from npml.nn import Linear
from npml.optim import SGD


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def no_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # "import tqdm" now raises ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


@pytest.fixture
def fake_tqdm(monkeypatch):
    """A stand-in tqdm package recording how it is driven."""
    calls = []

    class Bar:
        def __init__(self, **kwargs):
            calls.append(("init", kwargs))

        def set_postfix(self, **kwargs):
            calls.append(("postfix", kwargs))

        def update(self, n):
            calls.append(("update", n))

        def close(self):
            calls.append(("close",))

        def clear(self):
            calls.append(("clear",))

        def refresh(self):
            calls.append(("refresh",))

    module = types.ModuleType("tqdm")
    module.tqdm = Bar
    auto = types.ModuleType("tqdm.auto")
    auto.tqdm = Bar
    monkeypatch.setitem(sys.modules, "tqdm", module)
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)
    return calls


def _problem():
    model = Linear(1, 1, rng=0, dtype=np.float64)
    x = np.linspace(-1, 1, 16)[:, None]

    def loss_and_backward(rng):
        r = model(x) - 2 * x
        model.backward(2 * r / len(x))
        return float(np.mean(r**2))

    return model, loss_and_backward, SGD(model.parameters(), lr=0.1)


def test_fit_is_silent_under_pytest_capture(capsys):
    model, lb, opt = _problem()
    fit(model, lb, opt, 5)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_train_causal_lm_is_silent_by_default_and_when_asked(capsys):
    from npml.models import CausalLM, train_causal_lm

    model = CausalLM(vocab_size=5, d_model=8, n_heads=2, n_layers=1, max_len=4, rng=0)
    tokens = np.arange(40) % 5
    train_causal_lm(model, tokens, steps=2, batch_size=2, rng=0)
    train_causal_lm(model, tokens, steps=2, batch_size=2, rng=0, progress=False)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_forced_progress_shows_step_loss_rate_and_eta_without_tqdm(capsys, no_tqdm):
    model, lb, opt = _problem()
    history = fit(model, lb, opt, 5, progress=True)
    err = capsys.readouterr().err
    assert err.startswith("\rstep 0/5") and err.endswith("\n")
    last = err.rstrip("\n").rsplit("\r", 1)[-1]
    assert last.startswith(f"step 5/5  loss {history.train_loss[-1]:.3f}  ")
    assert "steps/s  ETA 0:00" in last


def test_log_lines_are_printed_above_the_progress_line(capsys, no_tqdm):
    model, lb, opt = _problem()
    fit(model, lb, opt, 4, eval_fn=lambda: 0.5, eval_every=2, log=print, progress=True)
    out = capsys.readouterr()
    assert [line.split()[:2] for line in out.out.splitlines()] == [["step", "2"], ["step", "4"]]
    assert "\r" + " " * 10 in out.err  # the line was cleared before each log line


def test_tqdm_bar_is_cleared_for_log_lines(fake_tqdm):
    with Progress(1, True, stream=io.StringIO()) as bar:
        with bar.suspended():
            pass
    assert [c[0] for c in fake_tqdm] == ["init", "clear", "refresh", "close"]


def test_plain_line_on_a_terminal_and_nothing_on_a_file(no_tqdm):
    terminal, file = _Terminal(), io.StringIO()
    for stream in (terminal, file):
        with Progress(3, stream=stream, desc="train", unit="epoch") as bar:
            for loss in (3.0, 2.0, 1.0):
                bar.update(loss=loss)
    assert file.getvalue() == ""
    assert (
        terminal.getvalue()
        .rstrip("\n")
        .rsplit("\r", 1)[-1]
        .startswith("train: epoch 3/3  loss 1.000  ")
    )
    assert "epochs/s" in terminal.getvalue()


def test_tqdm_bar_when_installed(fake_tqdm):
    terminal = _Terminal()
    with Progress(2, stream=terminal) as bar:
        assert bar.mode == "tqdm"
        bar.update(loss=1.5)
        bar.update(loss=0.5)
    assert fake_tqdm[0] == (
        "init",
        {"total": 2, "desc": None, "unit": "step", "file": terminal, "leave": True},
    )
    assert ("postfix", {"loss": "0.5", "refresh": False}) in fake_tqdm
    assert [c for c in fake_tqdm if c[0] == "update"] == [("update", 1)] * 2
    assert fake_tqdm[-1] == ("close",)
    assert terminal.getvalue() == ""  # tqdm writes, not the plain line


def test_notebook_counts_as_watched(monkeypatch, fake_tqdm):
    class ZMQInteractiveShell:
        pass

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = ZMQInteractiveShell
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    assert Progress(1, stream=io.StringIO()).mode == "tqdm"
    monkeypatch.setattr(ipython, "get_ipython", lambda: None)  # plain IPython, not a kernel
    assert Progress(1, stream=io.StringIO()).mode == "off"


def test_off_when_asked_even_on_a_terminal(fake_tqdm):
    terminal = _Terminal()
    with Progress(2, False, stream=terminal) as bar:
        bar.update(loss=1.0)
    assert bar.mode == "off" and terminal.getvalue() == "" and fake_tqdm == []


def test_reward_model_training_reports_every_optimizer_step(capsys, no_tqdm):
    from npml.preference import RewardModel, train_reward_model

    rng = np.random.default_rng(0)
    x_w, x_l = rng.standard_normal((10, 3)), rng.standard_normal((10, 3))
    model = RewardModel(3, rng=0, dtype=np.float64)
    train_reward_model(model, x_w, x_l, epochs=2, batch_size=4, rng=0, progress=True)
    assert "step 6/6  loss " in capsys.readouterr().err  # 2 epochs of 3 batches
    train_reward_model(model, x_w, x_l, epochs=2, batch_size=4, rng=0)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("bad", ["yes", 1, 0.0])
def test_progress_must_be_none_or_bool(bad):
    with pytest.raises(TypeError, match="progress="):
        check_progress(bad)
    model, lb, opt = _problem()
    with pytest.raises(TypeError, match="progress="):
        fit(model, lb, opt, 1, progress=bad)


def test_format_duration():
    assert [format_duration(s) for s in (0, 9.6, 75, 3600 + 61)] == [
        "0:00",
        "0:10",
        "1:15",
        "1:01:01",
    ]
