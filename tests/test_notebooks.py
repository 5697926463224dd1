"""The notebooks in analysis/notebooks execute from top to bottom without error (so they never rot) and
display their figures; ``jupyter nbconvert --execute`` works in the venv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "analysis" / "notebooks").glob("*.ipynb"))


def _outputs(notebook, output_type=None):
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if output_type is None or o.output_type == output_type]


def _images(notebook):
    return [o for o in _outputs(notebook) if "image/png" in o.get("data", {})]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_and_shows_its_figures(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    monkeypatch.setenv("NS6G_NOTEBOOK_RUN", str(tmp_path))  # the notebook's runs go to the test's folder
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert not _outputs(notebook, "error")
    assert _images(notebook), f"{path.name} displays no figure (no image/png output)"


def test_jupyter_nbconvert_executes_a_notebook_in_the_venv(tmp_path):
    """The venv's ``jupyter nbconvert --to notebook --execute`` (the test extra has nbconvert) runs a
    notebook that draws one of ns6g's figures, and the executed copy holds the image."""
    nbformat = pytest.importorskip("nbformat")
    jupyter = Path(sys.executable).with_name("jupyter")
    assert jupyter.is_file(), f"no jupyter beside {sys.executable}: install the test extra (nbconvert)"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "%matplotlib inline\n"
        "import pandas as pd\n"
        "from ns6g.analysis.compare import comparison_figure, confidence_table\n"
        "episodes = pd.DataFrame({'policy': ['a', 'a', 'b', 'b'], 'seed': [1, 2, 1, 2], 'return': [1.0, 2.0, 3.0, 4.0]})\n"
        "comparison_figure(confidence_table(episodes))")])
    source = tmp_path / "figure.ipynb"
    nbformat.write(notebook, source)
    subprocess.run([str(jupyter), "nbconvert", "--to", "notebook", "--execute", "--output", "executed.ipynb",
                    str(source)], check=True, capture_output=True, timeout=300, cwd=tmp_path)
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    assert not _outputs(executed, "error") and len(_images(executed)) == 1
