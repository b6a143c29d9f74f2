import random

import numpy as np
import pytest
import torch

from dlbook import runtime


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_profile_defaults_to_quick_without_cuda(monkeypatch, no_cuda):
    monkeypatch.delenv("DLBOOK_PROFILE", raising=False)
    assert runtime.profile() == "quick"


def test_profile_defaults_to_full_with_cuda(monkeypatch):
    monkeypatch.delenv("DLBOOK_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.profile() == "full"


@pytest.mark.parametrize("value", ["quick", "full", " full "])
def test_profile_follows_environment(monkeypatch, value):
    monkeypatch.setenv("DLBOOK_PROFILE", value)
    assert runtime.profile() == value.strip()


@pytest.mark.parametrize("value", ["fast", "QUICK", "1"])
def test_profile_rejects_unknown_values(monkeypatch, value):
    monkeypatch.setenv("DLBOOK_PROFILE", value)
    with pytest.raises(ValueError, match="'quick', 'full'"):
        runtime.profile()


def test_budget_picks_by_profile(monkeypatch):
    monkeypatch.setenv("DLBOOK_PROFILE", "quick")
    assert runtime.budget(quick=3, full=300) == 3
    monkeypatch.setenv("DLBOOK_PROFILE", "full")
    assert runtime.budget(quick=3, full=300) == 300


def test_device_falls_back_to_cpu(no_cuda, monkeypatch):
    mps = getattr(torch.backends, "mps", None)
    if mps is not None:
        monkeypatch.setattr(mps, "is_available", lambda: False)
    assert runtime.device() == torch.device("cpu")


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    runtime.seed_everything(123)
    first = draw()
    runtime.seed_everything(123)
    assert draw() == first
    runtime.seed_everything(124)
    assert draw() != first


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (2**32, ValueError),
                                         (1.5, TypeError), ("7", TypeError), (True, TypeError)])
def test_seed_everything_rejects_bad_seeds(seed, error):
    with pytest.raises(error, match="seed"):
        runtime.seed_everything(seed)


def test_describe_names_device_profile_and_versions(monkeypatch, no_cuda):
    monkeypatch.setenv("DLBOOK_PROFILE", "quick")
    text = runtime.describe()
    first, second = text.split("\n")
    assert first.endswith("profile quick")
    assert f"torch {torch.__version__}" in second
    assert first.startswith("ran on cpu") or first.startswith("ran on mps")
    # short enough for the page's content column (it used to be cut off)
    assert max(len(first), len(second)) <= 64


def test_timers_call_warmup_plus_repeats_and_summarize(monkeypatch):
    calls = []
    times = runtime.run_times(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and len(times) == 3 and min(times) >= 0
    fake = iter([0.3, 0.1, 0.2])
    monkeypatch.setattr(runtime, "run_times", lambda fn, repeats, warmup: [next(fake) for _ in range(3)])
    assert runtime.median_time(lambda: None, repeats=3) == pytest.approx(0.2)
    fake = iter([0.3, 0.1, 0.2])
    assert runtime.best_time(lambda: None, repeats=3) == pytest.approx(0.1)


@pytest.mark.parametrize("repeats, warmup", [(0, 1), (3, -1)])
def test_timers_reject_bad_counts(repeats, warmup):
    with pytest.raises(ValueError, match="repeats"):
        runtime.run_times(lambda: None, repeats=repeats, warmup=warmup)


def test_loglog_slope_recovers_power_laws():
    x = np.array([10.0, 20.0, 40.0, 80.0])
    assert runtime.loglog_slope(x, 3 * x**2) == pytest.approx(2.0)
    assert runtime.loglog_slope(list(x), list(0.5 * x**-1.5)) == pytest.approx(-1.5)


@pytest.mark.parametrize("x, y, message", [([1.0], [1.0], "length"), ([1.0, 2.0], [1.0], "length"),
                                           ([1.0, 2.0], [0.0, 1.0], "positive"),
                                           ([-1.0, 2.0], [1.0, 1.0], "positive")])
def test_loglog_slope_rejects_bad_input(x, y, message):
    with pytest.raises(ValueError, match=message):
        runtime.loglog_slope(x, y)
