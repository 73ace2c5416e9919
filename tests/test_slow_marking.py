"""tests/conftest.py marks a test slow exactly when its fixtures, directly or through other fixtures, load the
real model; checked on a small suite collected in-process with that conftest (no fixture is run)."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

SUITE = '''
import pytest

@pytest.fixture
def labelled(smollm2_run):
    return smollm2_run

def test_real_run(smollm2_run):
    pass

def test_through_a_local_fixture(labelled):
    pass

def test_nnsight(smollm2_nnsight):
    pass

def test_tiny_model(tiny_checkpoint):
    pass

def test_tokenizer_only(smollm2_tokenizer):
    pass

def test_plain():
    pass
'''


def test_the_fast_tier_is_the_tests_that_load_no_real_model(pytester):
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_suite=SUITE)
    fast = pytester.runpytest_inprocess("--collect-only", "-q", "-m", "not slow")
    slow = pytester.runpytest_inprocess("--collect-only", "-q", "-m", "slow")
    listed = lambda result: sorted(line.split("::")[1] for line in result.outlines if "::" in line)  # noqa: E731
    assert listed(fast) == ["test_plain", "test_tiny_model", "test_tokenizer_only"]
    assert listed(slow) == ["test_nnsight", "test_real_run", "test_through_a_local_fixture"]
