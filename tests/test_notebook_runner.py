"""Executed notebooks are written without volatile metadata or progress bars."""

import nbformat
import pytest

from plcore.study.notebook_runner import _is_progress, strip_volatile


@pytest.mark.parametrize("output, progress", [
    ({"output_type": "stream", "name": "stderr",
      "text": "\rsweep:   0%|          | 0/4 [00:00<?, ?it/s]\rsweep: 100%|##| 4/4 [00:01<00:00,  3.20it/s]\n"},
     True),
    ({"output_type": "stream", "name": "stderr", "text": "\rx:   1%|  | 1/160 [00:01<04:20,  1.64s/it]"}, True),
    ({"output_type": "stream", "name": "stderr", "text": "UserWarning: kept, it may matter\n"}, False),
    ({"output_type": "stream", "name": "stderr",
      "text": "x: 100%|##| 4/4 [00:01<00:00, 3.20it/s]\nUserWarning: mixed in\n"}, False),
    ({"output_type": "stream", "name": "stdout", "text": "3.20it/s]\n"}, False),
    ({"output_type": "stream", "name": "stderr", "text": "\n"}, True),      # a bar's last newline
])
def test_only_progress_bars_count_as_progress(output, progress):
    assert _is_progress(output) is progress


def test_strip_volatile(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr",
                                           text="\rs: 100%|##| 2/2 [00:00<00:00, 9.1it/s]"),
                    nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00"}
    nb.cells = [cell]
    nb.metadata["papermill"] = {"start_time": "x", "duration": 1.0, "parameters": {"a": 1}}
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    strip_volatile(path)
    out = nbformat.read(path, as_version=4)
    assert [o["text"] for o in out.cells[0].outputs] == ["1\n"]
    assert "execution" not in out.cells[0].metadata
    assert out.metadata["papermill"] == {"parameters": {"a": 1}}
