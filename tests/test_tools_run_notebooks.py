"""tools/run_notebooks.py re-executes a notebook in place with clean, deterministic metadata."""

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from tools.run_notebooks import execute, main, merge_streams

#: A cell that shows whether the kernel's sockets are encrypted: CurveZMQ keys in its
#: connection file.
ENCRYPTION = (
    "from ipykernel.connect import get_connection_info\n"
    "'curve_secretkey' in get_connection_info(unpack=True)"
)


def test_execute_stores_outputs_without_timing(tmp_path, write_notebook, capfd):
    path = write_notebook(
        [
            nbformat.v4.new_code_cell("x = 21\nx * 2"),
            nbformat.v4.new_code_cell("import os\nprint(os.path.basename(os.getcwd()))"),
            nbformat.v4.new_code_cell(ENCRYPTION),
        ],
    )
    execute(path)
    cells = nbformat.read(path, as_version=4).cells
    assert [c["execution_count"] for c in cells] == [1, 2, 3]
    assert cells[0]["outputs"][0]["data"]["text/plain"] == "42"
    assert cells[1]["outputs"][0]["text"] == f"{tmp_path.name}\n"  # runs from its own folder
    assert all("execution" not in c["metadata"] for c in cells)
    # The kernel talks over encrypted sockets, and says nothing on its stderr about it.
    assert cells[2]["outputs"][0]["data"]["text/plain"] == "True"
    assert "without encryption" not in capfd.readouterr().err


def test_tagged_exception_is_kept_and_untagged_one_stops(write_notebook):
    raising = nbformat.v4.new_code_cell("1 / 0")
    raising.metadata["tags"] = ["raises-exception"]
    path = write_notebook([raising, nbformat.v4.new_code_cell("'after'")])
    execute(path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0]["outputs"][0]["ename"] == "ZeroDivisionError"
    assert not any("/" in line for line in cells[0]["outputs"][0]["traceback"])  # no paths
    assert cells[1]["outputs"][0]["data"]["text/plain"] == "'after'"

    path = write_notebook([nbformat.v4.new_code_cell("1 / 0")])
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        execute(path)


def test_bad_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="existing .ipynb"):
        execute(tmp_path / "missing.ipynb")
    with pytest.raises(FileNotFoundError, match="existing .ipynb"):
        main([str(tmp_path)])


def test_prints_split_by_a_slow_call_are_stored_as_one_output(write_notebook):
    code = "import sys, time\nprint('a')\nsys.stdout.flush()\ntime.sleep(0.3)\nprint('b')"
    path = write_notebook([nbformat.v4.new_code_cell(code)])
    execute(path)
    (cell,) = nbformat.read(path, as_version=4).cells
    assert [(o["name"], o["text"]) for o in cell["outputs"]] == [("stdout", "a\nb\n")]


def test_merge_streams_joins_runs_of_one_stream_only():
    out = nbformat.v4.new_output
    outputs = [
        out("stream", name="stdout", text="a\n"),
        out("stream", name="stdout", text="b\n"),
        out("stream", name="stderr", text="c\n"),
        out("execute_result", data={"text/plain": "1"}, execution_count=1),
        out("stream", name="stdout", text="d\n"),
    ]
    merged = merge_streams(outputs)
    assert [(o.output_type, o.get("name"), o.get("text")) for o in merged] == [
        ("stream", "stdout", "a\nb\n"),
        ("stream", "stderr", "c\n"),
        ("execute_result", None, None),
        ("stream", "stdout", "d\n"),
    ]
