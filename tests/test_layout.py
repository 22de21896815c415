"""The file tree has the architecture's shape: the coding library (``vqcodec/*.py``) imports
no torch and nothing of the training package (``vqcodec/training/``), which holds what only a
trainer runs; tests mirror the two."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODING = sorted(p.stem for p in (ROOT / "vqcodec").glob("*.py") if p.stem != "__init__")
TRAINING = sorted(p.stem for p in (ROOT / "vqcodec" / "training").glob("*.py") if p.stem != "__init__")

_IMPORT_ALL = """
import importlib, sys
sys.modules["torch"] = None  # any import of torch raises ImportError
for name in sys.argv[1:]:
    importlib.import_module(name)
print(" ".join(sorted(k for k, v in sys.modules.items() if v is not None and (k.startswith("vqcodec.training") or k.split(".")[0] == "torch"))))
"""


def test_coding_modules_import_neither_torch_nor_training():
    names = ["vqcodec", *(f"vqcodec.{m}" for m in CODING), "vqcodec_cli.main"]
    out = subprocess.run([sys.executable, "-c", _IMPORT_ALL, *names], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_training_lives_apart_and_tests_mirror_it():
    assert {"train", "finetune", "model", "quantizer", "data", "distributed"} <= set(TRAINING)
    assert not set(TRAINING) & set(CODING)
    for m in TRAINING:
        assert not (ROOT / "tests" / f"test_{m}.py").exists(), f"tests of vqcodec.training.{m} belong in tests/training/"
    assert {p.stem for p in (ROOT / "tests" / "training").glob("test_*.py")} <= {f"test_{m}" for m in TRAINING}
