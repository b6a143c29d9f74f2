"""dlbook.evidence: figures over seeds and the claims they carry, checked
against SciPy's standard errors and by properties of the rules."""

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import dlbook.evidence as ev
from dlbook.evidence import Seeded, claim_every, claim_higher, compare, over_seeds

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def test_module_example_runs():
    assert doctest.testmod(ev).failed == 0


def test_summary_matches_scipy():
    x = Seeded([0.982, 0.986, 0.988], seeds=[0, 1, 2], label="max")
    assert x.mean == pytest.approx(np.mean(x.values))
    assert x.std == pytest.approx(np.std(x.values, ddof=1))
    assert x.sem == pytest.approx(stats.sem(x.values))
    assert (x.low, x.high, x.n) == (0.982, 0.988, 3)
    assert x.format(".1%") == (
        "max: 98.5% ± 0.2% (mean ± s.e., 3 seeds: 98.2%, 98.6%, 98.8%)"
    )


def test_paired_and_welch_errors_match_scipy():
    a = Seeded([1.0, 2.0, 4.0], seeds=[0, 1, 2])
    b = Seeded([0.5, 1.0, 3.9], seeds=[0, 1, 2])
    c = Seeded([0.5, 1.0, 3.9], seeds=[3, 4, 5])
    paired = compare(a, b)
    assert paired.paired
    assert paired.sem == pytest.approx(stats.sem(a.values - b.values))
    # the paired t statistic is difference / sem
    t = stats.ttest_rel(a.values, b.values).statistic
    assert paired.difference / paired.sem == pytest.approx(t)
    welch = compare(a, c)
    assert not welch.paired
    t = stats.ttest_ind(a.values, c.values, equal_var=False).statistic
    assert welch.difference / welch.sem == pytest.approx(t)


def test_verdicts():
    a = Seeded([1.0, 1.1, 0.9])
    assert compare(a, 0.0).verdict == "higher"
    assert compare(0.0, a).verdict == "lower"
    assert compare(a, 0.95).verdict == "not distinguished"
    assert compare(Seeded([1.0]), 0.0).verdict == "not distinguished"  # one seed


@settings(max_examples=200, deadline=None)
@given(st.lists(finite, min_size=2, max_size=8), st.lists(finite, min_size=2, max_size=8))
def test_compare_is_antisymmetric(xs, ys):
    a = Seeded(xs, seeds=range(len(xs)))
    b = Seeded(ys, seeds=range(100, 100 + len(ys)))
    ab, ba = compare(a, b), compare(b, a)
    assert ab.difference == pytest.approx(-ba.difference)
    assert ab.sem == pytest.approx(ba.sem)
    flip = {"higher": "lower", "lower": "higher", "not distinguished": "not distinguished"}
    if abs(abs(ab.difference) - 2 * ab.sem) > 1e-9 * (1 + abs(ab.difference)):
        assert flip[ab.verdict] == ba.verdict


@settings(max_examples=200, deadline=None)
@given(st.lists(finite, min_size=3, max_size=8), st.floats(0.0, 100.0))
def test_a_shift_larger_than_the_noise_is_higher(xs, noise):
    """a = b + c with c beyond twice the paired spread is 'higher'; shifting
    both by the same amount changes nothing (the rule is translation
    invariant)."""
    b = Seeded(xs)
    jitter = np.linspace(-noise, noise, len(xs))
    shift = 10 * (noise + 1)
    a = Seeded(np.asarray(xs) + shift + jitter)
    assert compare(a, b).verdict == "higher"
    assert claim_higher(a, b, "a above b")
    assert claim_higher(a, b, "a above b", rule="every")
    moved = compare(Seeded(a.values + 7.0), Seeded(b.values + 7.0))
    assert moved.verdict == "higher"


def test_claims_fail_when_false():
    a = Seeded([0.98, 0.96, 0.99], label="average")
    b = Seeded([0.98, 0.99, 0.98], label="max")
    with pytest.raises(AssertionError, match="average pooling wins"):
        claim_higher(a, b, "average pooling wins")
    with pytest.raises(AssertionError, match="every seed"):
        claim_higher(a, b, "average pooling wins", rule="every")
    with pytest.raises(AssertionError, match=r"seed\(s\) 1"):
        claim_every(a, lambda v: v >= 0.97, "every run fits")
    assert claim_every(b, lambda v: v >= 0.97, "every run fits")


def test_every_rule_unpaired_needs_separation():
    a = Seeded([3.0, 4.0, 5.0], seeds=[0, 1, 2])
    b = Seeded([1.0, 2.0, 3.5], seeds=[7, 8, 9])
    with pytest.raises(AssertionError):
        claim_higher(a, b, "a above b", rule="every")  # 3.0 < 3.5
    assert claim_higher(a, 2.5, "a above 2.5", rule="every")


def test_too_few_seeds_is_refused_outside_a_rehearsal(monkeypatch):
    two = Seeded([1.0, 2.0])
    with pytest.raises(ValueError, match="at least 3"):
        claim_higher(two, 0.0, "two seeds")
    with pytest.raises(ValueError, match="at least 3"):
        claim_every(two, lambda v: v > 0, "two seeds")
    monkeypatch.setenv("DLBOOK_REHEARSAL", "1")
    monkeypatch.delenv("DLBOOK_PROFILE", raising=False)
    # a rehearsal judges nothing: it reports, whatever the seed count
    assert claim_higher(Seeded([1.0]), 2.0, "one seed") is False


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="empty"):
        Seeded([])
    with pytest.raises(ValueError, match="non-finite"):
        Seeded([1.0, math.nan, 2.0])
    with pytest.raises(ValueError, match="repeats"):
        Seeded([1.0, 2.0], seeds=[0, 0])
    with pytest.raises(ValueError, match="2 entries for 3"):
        Seeded([1.0, 2.0, 3.0], seeds=[0, 1])
    with pytest.raises(ValueError, match="one-dimensional"):
        Seeded([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(TypeError, match="a must be"):
        compare("x", Seeded([1.0, 2.0, 3.0]))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="at least one Seeded"):
        compare(1.0, 2.0)
    with pytest.raises(ValueError, match="rule"):
        claim_higher(Seeded([1.0, 2.0, 3.0]), 0.0, "x", rule="median")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="figure"):
        claim_every([1.0, 2.0, 3.0], lambda v: True, "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seeds is empty"):
        over_seeds(float, [])


def test_over_seeds_runs_each_seed_once():
    calls = []
    x = over_seeds(lambda s: calls.append(s) or s * 0.5, [3, 1, 2], "half")
    assert calls == [3, 1, 2]
    assert x.seeds == (3, 1, 2)
    np.testing.assert_allclose(x.values, [1.5, 0.5, 1.0])


def test_plateaued():
    assert not ev.plateaued([5.0, 4.0, 3.0], 2)  # shorter than two windows
    assert ev.plateaued([9.0, 3.0, 2.0, 2.0, 2.0, 2.0], 2)
    assert not ev.plateaued([4.0, 4.0, 3.0, 3.0], 2, rtol=0.3)
    assert ev.plateaued([4.0, 4.0, 3.0, 3.0], 2, atol=1.0)
    with pytest.raises(TypeError, match="window"):
        ev.plateaued([1.0, 2.0], 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window"):
        ev.plateaued([1.0, 2.0], 0)
