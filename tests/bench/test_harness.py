import json

import numpy as np
import pytest

from npml.bench import Report, compare, measure, peak_memory, peer


def test_measure_and_compare_return_positive_medians():
    t = measure(lambda: sum(range(1000)), repeats=3)
    assert len(t.times) == 3 and t.median > 0
    out = compare({"a": lambda: None, "b": lambda: sum(range(1000))}, repeats=3)
    assert set(out) == {"a", "b"} and all(len(v.times) == 3 for v in out.values())


def _calls_in_order(rng, repeats=4):
    calls = []
    fns = {n: (lambda n=n: calls.append(n)) for n in range(6)}
    out = compare(fns, repeats=repeats, warmup=0, rng=rng)
    return calls, out


def test_compare_shuffles_each_round_when_given_an_rng():
    calls, out = _calls_in_order(rng=0)
    rounds = [calls[i : i + 6] for i in range(0, len(calls), 6)]
    assert all(sorted(r) == list(range(6)) for r in rounds)  # every function once per round
    assert any(r != list(range(6)) for r in rounds)  # ... not always in the given order
    assert calls == _calls_in_order(rng=0)[0]  # the same seed, the same order
    assert all(len(t.times) == 4 for t in out.values())
    ordered, _ = _calls_in_order(rng=None)
    assert ordered == list(range(6)) * 4


def test_peak_memory_sees_numpy_scratch():
    small = peak_memory(lambda: np.ones(10))
    big = peak_memory(lambda: np.ones(1_000_000))
    assert big >= 8_000_000 > small


def test_peer_missing_is_none():
    assert peer("a_module_that_does_not_exist_npml") is None
    assert peer("numpy") is np


def test_report_rows_verdicts_and_json(tmp_path, capsys):
    r = Report(mode="tiny", out_dir=tmp_path, plots=False)
    r.chapter("demo", "Demo")
    fast = r.row("fast", 1.0, peer="peer", peer_value=2.0, target=1.2)
    slow = r.row("slow", 3.0, peer="peer", peer_value=2.0, target=1.2)
    gone = r.row("gone", 3.0, peer="torch", peer_value=None)
    count = r.row("count", 4096, unit="", target="== 4 D^2", met=True)
    assert fast.met and fast.ratio == 0.5
    assert slow.met is False and slow.ratio == 1.5
    assert gone.met is None
    assert count.met
    assert r.summary() == (2, 1)
    out = capsys.readouterr().out
    assert "not installed" in out and "MISSED" in out
    data = json.loads(r.save().read_text())
    assert [row["case"] for row in data["rows"]] == ["fast", "slow", "gone", "count"]
    with pytest.raises(ValueError, match="mode="):
        Report(mode="huge")


def test_report_save_failure_leaves_no_temporary_file(tmp_path, monkeypatch):
    import npml.bench.report as report_module

    old = Report(mode="tiny", out_dir=tmp_path, plots=False)
    old.chapter("demo", "Demo")
    old.row("kept", 1.0)
    path = old.save()
    before = path.read_text()

    def broken_dump(obj, fh, **kwargs):
        fh.write('{"half": ')  # a partial write, then the failure
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_module.json, "dump", broken_dump)
    new = Report(mode="tiny", out_dir=tmp_path, plots=False)
    new.chapter("demo", "Demo")
    new.row("lost", 2.0)
    with pytest.raises(RuntimeError, match="disk full"):
        new.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
    assert path.read_text() == before  # the older results are intact
