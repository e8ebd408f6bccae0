"""The README's Hugging Face Space front matter must match what we ship."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert m, "README.md must open with a --- front matter block"
    out = {}
    for line in m.group(1).splitlines():
        if ":" in line and not line.startswith(" "):
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip().strip('"')
    return out


def test_space_front_matter_matches_requirements_and_app():
    fm = front_matter()
    for key in ("title", "emoji", "colorFrom", "colorTo", "sdk", "sdk_version", "app_file", "python_version",
                "license"):
        assert fm.get(key), key
    assert fm["sdk"] == "gradio"
    pinned = re.search(r"^gradio==([\d.]+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned and fm["sdk_version"] == pinned.group(1)
    assert (ROOT / fm["app_file"]).is_file()
    assert "__main__" in (ROOT / fm["app_file"]).read_text()
    import gradio

    assert gradio.__version__ == fm["sdk_version"]  # what we test with is what the Space runs
