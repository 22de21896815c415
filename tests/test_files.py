"""Atomic output, on the O_TMPFILE path and on the named-temporary fallback."""

import pytest

from vqcodec_cli import files
from vqcodec_cli.files import OutputExistsError, write_atomic


@pytest.fixture(params=["unnamed", "fallback"])
def mode(request, monkeypatch):
    if request.param == "fallback":
        monkeypatch.setattr(files, "_write_unnamed", lambda *a: False)
    return request.param


def test_write_force_and_no_leftovers(tmp_path, mode):
    out = tmp_path / "a.vqc"
    write_atomic(out, b"one", force=False)
    assert out.read_bytes() == b"one"
    with pytest.raises(OutputExistsError):
        write_atomic(out, b"two", force=False)
    assert out.read_bytes() == b"one"
    write_atomic(out, b"three", force=True)
    assert out.read_bytes() == b"three"
    assert [p.name for p in tmp_path.iterdir()] == ["a.vqc"]


def test_directory_is_never_a_target(tmp_path, mode):
    with pytest.raises(OutputExistsError, match="directory"):
        write_atomic(tmp_path, b"x", force=True)


def test_a_missing_output_directory_is_named_not_the_temporary_file(tmp_path):
    import pytest

    from vqcodec_cli.files import OutputError

    target = tmp_path / "nowhere" / "a.png"
    with pytest.raises(OutputError) as info:
        write_atomic(target, b"x", force=False)
    assert str(target) in str(info.value) and ".part" not in str(info.value)
