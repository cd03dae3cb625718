"""With CI=true a skip fails the run, except the allowed ones (ci_skips.py)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SKIPPING = """
import pytest
{module_skip}

def test_needs_data():
    pytest.skip("Tatoeba data not found at ../shared")

@pytest.mark.skipif(True, reason="needs a CUDA GPU")
def test_needs_a_gpu():
    pass

def test_runs():
    pass
"""


@pytest.mark.parametrize("ci", ["true", "false"])
def test_a_skip_fails_only_in_ci_and_a_gpu_skip_never(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile(test_skipping=SKIPPING.format(module_skip=""))
    result = pytester.runpytest("-p", "ci_skips", "-rs")
    if ci == "true":
        result.assert_outcomes(passed=1, failed=1, skipped=1)
        result.stdout.fnmatch_lines(["*skipped with CI=true, which counts as a failure*Tatoeba data*"])
    else:
        result.assert_outcomes(passed=1, skipped=2)


def test_a_module_level_importorskip_fails_in_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    module_skip = 'pytest.importorskip("a_package_that_is_not_installed")'
    pytester.makepyfile(test_skipping=SKIPPING.format(module_skip=module_skip))
    result = pytester.runpytest("-p", "ci_skips")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*skipped with CI=true*a_package_that_is_not_installed*"])
