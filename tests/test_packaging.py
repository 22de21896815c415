"""The built wheel carries the weights and the demo photo, and no top-level 'cli'."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("setuptools")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True)
    (whl,) = out.glob("vqcodec-*.whl")
    return whl


def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    from vqcodec import models

    carried = {f"vqcodec/weights/{fp}.vqm" for fp, release in models.releases().items() if release.decode_digest}
    assert len(carried) >= 2  # the current model and at least the one before it
    assert {*carried, "vqcodec/weights/releases.json", "vqcodec/assets/coffee.png", "vqcodec_cli/main.py"} <= names
    assert not any(n.startswith("cli/") for n in names)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    return target


#: Runs the installed command line with torch and onnx made unimportable, as where they are not installed,
#: then prints which heavy modules the command imported.
NO_TORCH = (
    "import sys; sys.modules['torch'] = None; sys.modules['onnx'] = None; sys.path.insert(0, sys.argv[1]);"
    "from vqcodec_cli.main import main; sys.argv = ['vqcodec', *sys.argv[2:]];"
    "code = 0\ntry: main()\nexcept SystemExit as e: code = e.code\n"
    "print('loaded:', sorted(m for m in ('onnxruntime', 'torch') if sys.modules.get(m))); sys.exit(code)"
)


def test_installed_command_codes_without_torch(installed, tmp_path):
    import vqcodec

    def vqcodec_cmd(*args: str) -> str:
        out = subprocess.run([sys.executable, "-c", NO_TORCH, str(installed), *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout

    photo = tmp_path / "photo.png"
    photo.write_bytes(vqcodec.DEMO_IMAGE.read_bytes())
    assert "PSNR" in vqcodec_cmd("compress", str(photo), "-q", "30", "--print-psnr")  # decoded too, no torch
    assert "bpp" in vqcodec_cmd("compress", str(photo), "-q", "30", "-e", "1", "-o", str(tmp_path / "effort.vqc"))
    assert (tmp_path / "effort.vqc").read_bytes() != (tmp_path / "photo.vqc").read_bytes()  # the gradient ran, no torch
    vqcodec_cmd("decompress", str(tmp_path / "photo.vqc"))
    assert (tmp_path / "photo.vqc.png").stat().st_size > 0
    older = tmp_path / "older.vqc"  # a file the release before wrote, with its own model
    older.write_bytes((ROOT / "tests" / "golden" / "d346c9c6120f5fec" / "photo-q55.vqc").read_bytes())
    assert "older.vqc.png: 93x70 RGB" in vqcodec_cmd("decompress", str(older))
    info = vqcodec_cmd("info", str(tmp_path / "photo.vqc"))
    assert f"installed: {installed / 'vqcodec' / 'weights'}" in info  # found among the wheel's own models
    assert "loaded: []" in info  # info reads a header and the packs' manifests: no inference engine
    gpu = subprocess.run([sys.executable, "-c", NO_TORCH, str(installed), "compress", str(photo), "--device", "cuda",
                          "-o", str(tmp_path / "gpu.vqc")], capture_output=True, text=True)
    assert gpu.returncode == 1 and "torch is not installed" in gpu.stderr and "Traceback" not in gpu.stderr


def test_installed_wheel_loads_its_weights_and_codes(installed):
    target = installed
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import vqcodec;"
        "assert vqcodec.__file__.startswith(sys.argv[1]), vqcodec.__file__;"
        "m = vqcodec.load_model(); d = vqcodec.compress(vqcodec.DEMO_IMAGE, 1, m);"
        "print(vqcodec.decompress(d, m).size)"
    )
    out = subprocess.run([sys.executable, "-c", script, str(target)], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "(600, 400)"


def test_make_demo_installs_no_torch():
    """The demo's set-up installs the package without extras (torch comes with '.[test]' only);
    measured on a fresh clone: make demo took 19 s and left no torch in .venv (2026-12-06)."""
    import re

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    rules = dict(re.findall(r"^([^\s:#]+):[^\n]*\n((?:\t[^\n]*\n)*)", makefile, re.M))
    prerequisites = re.search(r"^demo:([^\n]*)", makefile, re.M).group(1).split()
    installs = " ".join(rules.get(p.replace("$(VENV)", ".venv"), "") + rules.get(p, "") for p in prerequisites)
    assert "pip install" in installs and "-e ." in installs
    assert "[test]" not in installs and "[train]" not in installs and "torch" not in installs
