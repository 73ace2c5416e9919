"""scripts/check_tests.py on small good and bad test files, and on this suite itself."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_tests", ROOT / "scripts" / "check_tests.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


checker = load_checker()


def problems(tmp_path: Path, source: str, conftest: str = "") -> list[str]:
    """The checker's messages for one test module (and an optional conftest.py beside it)."""
    (tmp_path / "test_example.py").write_text(textwrap.dedent(source))
    if conftest:
        (tmp_path / "conftest.py").write_text(textwrap.dedent(conftest))
    return [f"{p.line}: {p.message}" for p in checker.check_paths([tmp_path])]


@pytest.mark.parametrize("body", [
    "assert 1 + 1 == 2",
    "with pytest.raises(ValueError):\n        int('x')",
    "with pytest.warns(UserWarning):\n        warn()",
    "np.testing.assert_allclose([1.0], [1.0])",
    "pd.testing.assert_frame_equal(a, b)",
    "same(1, 1)",  # a helper of this module that asserts
    "through(1)",  # a helper that calls an asserting helper
    "def inner(x):\n        assert x\n    inner(1)",  # a nested helper, called
])
def test_a_test_that_asserts_passes(tmp_path, body):
    source = """
        import pytest

        def same(a, b):
            assert a == b

        def through(x):
            same(x, x)

        def test_it():
            BODY
        """
    assert problems(tmp_path, textwrap.dedent(source).replace("BODY", body)) == []


@pytest.mark.parametrize("body", [
    "x = compute()\n    print(x)",  # runs the code, checks nothing
    "quiet(1)",  # a helper that does not assert
    "def inner(x):\n        assert x",  # the assert is in a function nobody calls
    "probe.check_compatible(d_model=4)",  # an attribute call is not a helper of the module
])
def test_a_test_that_asserts_nothing_is_named(tmp_path, body):
    source = """
        def quiet(x):
            return x

        def test_it():
            BODY
        """
    assert problems(tmp_path, textwrap.dedent(source).replace("BODY", body)) == ["5: test_it asserts nothing: add an assert (or pytest.raises) on what the "
                                          "code must do"]


def test_a_conftest_helper_that_asserts_counts_and_test_classes_are_checked(tmp_path):
    conftest = """
        def assert_finite(x):
            pass

        def close_to(a, b):
            assert abs(a - b) < 1e-9
        """
    source = """
        def test_uses_the_conftest_helper():
            close_to(1.0, 1.0)

        class TestGroup:
            def test_method(self):
                self.value = 3

            def helper(self):
                assert True
        """
    assert problems(tmp_path, source, conftest) == [
        "6: test_method asserts nothing: add an assert (or pytest.raises) on what the code must do"]


def test_swallowed_exceptions_are_named(tmp_path):
    source = """
        import contextlib

        def test_swallows():
            try:
                risky()
            except ValueError:
                pass
            assert True

        def test_suppresses():
            with contextlib.suppress(ValueError):
                risky()
            assert True

        def test_handles():
            try:
                risky()
            except ValueError as error:
                assert "bad" in str(error)
        """
    found = problems(tmp_path, source)
    assert len(found) == 2
    assert found[0].startswith("7: `except ...: pass` swallows the error")
    assert found[1].startswith("12: contextlib.suppress swallows the error")


def test_sklearn_generated_checks_count_as_asserting(tmp_path):
    source = """
        from sklearn.utils.estimator_checks import parametrize_with_checks

        @parametrize_with_checks([object()])
        def test_contract(estimator, check):
            check(estimator)
        """
    assert problems(tmp_path, source) == []


def test_the_command_line_exit_codes(tmp_path, capsys):
    (tmp_path / "test_bad.py").write_text("def test_nothing():\n    pass\n")
    assert checker.main([str(tmp_path)]) == 1
    assert "test_bad.py:1: test_nothing asserts nothing" in capsys.readouterr().err
    assert checker.main([str(tmp_path / "absent")]) == 2


def test_this_suite_passes_the_check(capsys):
    assert checker.main([str(ROOT / "tests")]) == 0, capsys.readouterr().err
