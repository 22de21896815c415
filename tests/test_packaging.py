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
    assert {"vqcodec/weights/model.safetensors", "vqcodec/weights/config.json",
            "vqcodec/assets/coffee.png", "vqcodec_cli/main.py"} <= names
    assert not any(n.startswith("cli/") for n in names)


def test_installed_wheel_loads_its_weights_and_codes(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import vqcodec;"
        "assert vqcodec.__file__.startswith(sys.argv[1]), vqcodec.__file__;"
        "m = vqcodec.load_model(); d = vqcodec.compress(vqcodec.DEMO_IMAGE, 1, m);"
        "print(vqcodec.decompress(d, m).size)"
    )
    out = subprocess.run([sys.executable, "-c", script, str(target)], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "(600, 400)"
