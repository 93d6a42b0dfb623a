"""The README's "Use npml as a library" section runs as written.

Each ```python block of that section is extracted and executed in a fresh namespace, from an
empty working directory (the language model block writes its ``.npz`` there). The blocks use
small sizes, so this takes seconds once Numba's kernels are compiled.
"""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Use npml as a library"


def section_blocks(text: str, heading: str = SECTION) -> list[str]:
    """The ```python blocks between ``heading`` and the next heading of the same level."""
    start = text.index(heading + "\n")
    rest = text[start + len(heading) :]
    end = re.search(r"^## ", rest, flags=re.MULTILINE)
    body = rest if end is None else rest[: end.start()]
    return re.findall(r"^```python\n(.*?)^```$", body, flags=re.MULTILINE | re.DOTALL)


BLOCKS = section_blocks(README.read_text(encoding="utf-8"))


def test_the_section_has_its_examples():
    assert len(BLOCKS) == 2
    lm, fitted = BLOCKS
    for name in ("CharTokenizer", "train_causal_lm", "generate", ".save(", ".load("):
        assert name in lm
    for name in ("GaussianProcessRegressor", "optimize=", "make_pipeline", "ElasticNet"):
        assert name in fitted


def test_section_blocks_stops_at_the_next_heading():
    text = "## A\n```python\na = 1\n```\n## B\n```python\nb = 2\n```\n"
    assert section_blocks(text, "## A") == ["a = 1\n"]


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=["causal_lm", "gp_and_pipeline"])
def test_readme_block_runs(index, tmp_path, monkeypatch, capsys):
    code = compile(BLOCKS[index], f"README.md block {index}", "exec")
    if "sklearn" in BLOCKS[index]:
        pytest.importorskip("sklearn", reason="scikit-learn is in the test extra")
    monkeypatch.chdir(tmp_path)
    exec(code, {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert out.strip()  # every block shows its result
