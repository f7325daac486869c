"""Execute one notebook with papermill and strip volatile metadata.

Usage::

    python -m plcore.study.notebook_runner notebooks/NAME.ipynb OUT.ipynb [-p NAME VALUE]...
        [--dask tcp://HOST:PORT [--dask-timeout SECONDS]]

The notebook runs with ``notebooks/`` as its working directory; ``-p`` overrides a value of its
``parameters`` cell (parsed as a Python literal, else kept as a string). Timestamps and durations
and progress bars are removed afterwards, so re-running a seeded notebook gives the same file.
``--dask ADDRESS`` runs the notebook's sweeps on that Dask scheduler (it sets ``PLCORE_DASK`` for
the kernel; see :mod:`plcore.study.sweep`), and ``--dask-timeout SECONDS`` how long a sweep waits
for it to answer and to have a worker (``PLCORE_DASK_TIMEOUT``; default 10 s).

A sweep that cannot go on (:class:`plcore.errors.SweepError`: its cache cannot be written, its
Dask scheduler is unreachable, has no worker or died), and a bad ``--dask`` or ``--dask-timeout``,
end the run with one line ``plcore: error: ...`` on stderr and exit code 2, and no output notebook.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
from pathlib import Path

from ..errors import SweepError

VOLATILE_NOTEBOOK_KEYS = ("start_time", "end_time", "duration", "input_path", "output_path")
PROGRESS_RE = re.compile(r"\d+(\.\d+)?(it/s|s/it)\]|\?it/s\]")


def _is_progress(output) -> bool:
    """A tqdm progress bar on stderr, or the blank line it ends with: its rates change every run
    and it carries no result."""
    if output.get("output_type") != "stream" or output.get("name") != "stderr":
        return False
    lines = [ln for ln in output.get("text", "").replace("\r", "\n").splitlines() if ln.strip()]
    return all(PROGRESS_RE.search(ln) for ln in lines)


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def strip_volatile(path: Path) -> None:
    """Remove timing metadata (papermill, nbclient) and progress bars from an executed notebook."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    pm = nb.metadata.get("papermill", {})
    for key in VOLATILE_NOTEBOOK_KEYS:
        pm.pop(key, None)
    pm.pop("environment_variables", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.get("papermill", {}).clear()
        if "papermill" in cell.metadata and not cell.metadata["papermill"]:
            del cell.metadata["papermill"]
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not _is_progress(o)]
    nbformat.write(nb, path)


def run(src: Path, dst: Path, parameters: dict) -> None:
    import papermill

    dst.parent.mkdir(parents=True, exist_ok=True)
    # The kernel shares this process's stderr, and logs there: on every run a warning that its
    # local sockets are not encrypted, and, when a cell failed, an error for the interrupt that
    # its shutdown begins with. A cell's failure is reported by papermill.
    papermill.execute_notebook(str(src), str(dst), parameters=parameters,
                               cwd=str(src.resolve().parent), kernel_name="python3",
                               progress_bar=False, extra_arguments=["--log-level=CRITICAL"])
    strip_volatile(dst)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m plcore.study.notebook_runner", description=__doc__)
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"))
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run the notebook's sweeps on this Dask scheduler (tcp://host:port); "
                   "default: $PLCORE_DASK, else local processes")
    p.add_argument("--dask-timeout", metavar="SECONDS",
                   help="seconds a sweep waits for the Dask scheduler to answer, and then for a "
                   "worker (default: $PLCORE_DASK_TIMEOUT, else 10)")
    args = p.parse_args(argv)
    from . import sweep

    try:
        # Checked here, where a bad value is one line, rather than in the kernel, where it would
        # be a traceback; the kernel papermill starts inherits the variables.
        if args.dask is not None:
            os.environ[sweep.DASK_ENV] = sweep.dask_address(args.dask, name="--dask") or ""
        if args.dask_timeout is not None:
            os.environ[sweep.DASK_TIMEOUT_ENV] = str(
                sweep.dask_timeout_s(args.dask_timeout, name="--dask-timeout"))
        sweep.dask_address()
        sweep.dask_timeout_s()
    except ValueError as e:
        return _error(e)
    from papermill.exceptions import PapermillExecutionError

    try:
        run(args.src, args.dst, {k: _literal(v) for k, v in args.parameter})
    except PapermillExecutionError as e:
        # A notebook's own failure keeps papermill's report; a sweep that cannot go on is one line.
        if e.ename != SweepError.__name__:
            raise
        args.dst.unlink(missing_ok=True)     # papermill wrote the notebook as far as it ran
        return _error(e.evalue)
    return 0


def _error(message) -> int:
    print(f"plcore: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
