"""`translate -o FILE` (io.atomic_text_writer): the file is complete or untouched, never half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from yiyan.io import atomic_text_writer


def test_success_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n", encoding="utf-8")
    with atomic_text_writer(target) as out:
        out.write("我爱你。\n")
        assert target.read_text(encoding="utf-8") == "old\n"  # nothing visible until the rename
    assert target.read_text(encoding="utf-8") == "我爱你。\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize("error", [RuntimeError("model failed"), KeyboardInterrupt()])
def test_a_failure_half_way_keeps_the_old_file(tmp_path: Path, error: BaseException) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n", encoding="utf-8")
    with pytest.raises(type(error)), atomic_text_writer(target) as out:
        out.write("first line\n")
        raise error
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_without_a_path_it_is_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    with atomic_text_writer(None) as out:
        out.write("line\n")
    assert capsys.readouterr().out == "line\n"
