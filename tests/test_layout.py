"""The package's layering: dependencies point one way (app/CLI -> sampler -> model and
checkpoints; training -> model and checkpoints; metrics -> images and latents), and
importing ganart loads nothing heavy until it is used."""

from __future__ import annotations

import ast
import io
import subprocess
import sys
from pathlib import Path

import pytest

from ganart.progress import LineProgress, progress

PACKAGE = Path(__file__).resolve().parent.parent / "ganart"
# the modules above each layer: a module of the layer must not import them
TOP = {"ui", "cli"}
SERVICE = {"sampler", "batching"}
FORBIDDEN = {
    "core": TOP | SERVICE | {"training", "metrics", "leakage"},  # config, models, checkpoint, latent, limits, ...
    "sampler": TOP | {"training", "metrics", "leakage", "batching"},
    "batching": TOP | {"training", "metrics", "leakage"},
    "metrics": TOP | SERVICE | {"training"},
    "training": TOP | SERVICE,
}


METRICS_PARTS = {"leakage"}  # scores beside FID: the metrics layer


def layer(module: str) -> str:
    first = module.split(".")[0]
    if first.split("_")[0] in TOP:  # ui.py and its parts (ui_models.py, ui_files.py)
        return "top"
    if first in METRICS_PARTS:
        return "metrics"
    return first if first in FORBIDDEN else "core"


def ganart_imports(path: Path) -> set[str]:
    """The ganart modules a file imports (relative or absolute, at any depth), as dotted names
    below the package (``training.data``, ``sampler``)."""
    rel = path.relative_to(PACKAGE).with_suffix("")
    package = list(rel.parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                parts = base + (node.module.split(".") if node.module else [])
                names = [".".join(parts)] if node.module else [".".join(base + [a.name]) for a in node.names]
            elif node.module and node.module.startswith("ganart."):
                names = [node.module.removeprefix("ganart.")]
            else:
                continue
            found.update(n for n in names if n)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("ganart.") for a in node.names if a.name.startswith("ganart."))
    return found


def test_dependencies_point_one_way():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if module in ("__init__", "__main__") or layer(module) == "top":
            continue
        for imported in ganart_imports(path):
            if imported.split(".")[0] in FORBIDDEN[layer(module)]:
                wrong.append(f"{module} imports {imported}")
    assert not wrong, wrong


def test_the_layer_check_sees_a_relative_import_upward(tmp_path):
    """The check itself: a training module importing the sampler two levels up is caught."""
    bad = PACKAGE / "training" / "_layout_probe.py"
    bad.write_text("from ..sampler import Sampler\n")
    try:
        assert ganart_imports(bad) == {"sampler"}
        with pytest.raises(AssertionError, match="training._layout_probe imports sampler"):
            test_dependencies_point_one_way()
    finally:
        bad.unlink()


def test_importing_ganart_loads_no_sampler_gradio_or_hub():
    code = ("import sys, ganart, ganart.latent, ganart.cli; "
            "print(sorted(m for m in ('ganart.sampler', 'gradio', 'huggingface_hub', 'ganart.training.loop') "
            "if m in sys.modules)); print(ganart.__version__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    loaded, version = r.stdout.splitlines()
    assert loaded == "[]"
    from importlib.metadata import version as installed

    assert version == installed("ganart")


def test_progress_prints_whole_lines_off_a_terminal(monkeypatch):
    """Piped to a log, a tqdm bar wrote hundreds of carriage-return updates onto one line."""
    monkeypatch.delenv("GANART_NO_PROGRESS", raising=False)
    out = io.StringIO()  # not a terminal
    bar = progress(100, 0, file=out)
    assert isinstance(bar, LineProgress)
    for _ in range(1000):
        bar.update(1)  # within one reporting interval: nothing yet
    assert out.getvalue() == ""
    bar.every_s = 0
    bar.set_postfix(G="0.700")
    bar.update(4)
    bar.close()
    lines = out.getvalue().split("\n")
    assert "\r" not in out.getvalue() and lines[-1] == "" and len(lines) == 3
    assert lines[0].startswith("1,004/100 img (") and "G=0.700" in lines[0]
    monkeypatch.setenv("GANART_NO_PROGRESS", "1")
    assert progress(100, 0, file=out) is None


def test_version_comes_from_pyproject_when_ganart_is_not_installed(monkeypatch):
    """A Space runs the checkout without installing it: the version is pyproject.toml's, the
    one place it is written."""
    from importlib import metadata

    import tomllib

    import ganart

    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    assert ganart._version() == pyproject["project"]["version"]
