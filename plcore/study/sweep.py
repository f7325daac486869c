"""Monte Carlo sweeps: run points in parallel, show progress, cache every finished point.

A sweep is a list of parameter dicts and a module-level function returning a ``DataFrame`` for one
point. Finished points are written under ``results/<name>/cache/<fingerprint>/`` as soon as they
finish, so an interrupted run resumes where it stopped and loses nothing.

A cached point is reused only if nothing it may depend on has changed. The folder's
``<fingerprint>`` hashes plcore's own source (every ``plcore/**/*.py``), every file under
``plcore.paths.DATA`` (read when the sweep starts) and the versions of Python, numpy, scipy and
pandas; the point's key hashes the function's qualified name and the point's parameters. Change
any of these and the point is computed again. Anything else a point might read (other packages,
environment variables, the machine) is not covered, and the source is hashed as it is on disk: a
process that imported plcore before an edit (a notebook's kernel) still computes with the old code.

Each point is stored by :mod:`plcore.study.cache`: written to a temporary file of its own, synced
to disk, committed by one atomic rename under a name holding the sha256 of its bytes, and checked
against that checksum before it is used. A damaged file, and anything under a point's name that is
not a regular file (a folder, a named pipe, a symbolic link), is reported on stderr (one line
naming it), removed, and the point computed again; temporary files left by a killed sweep are
removed by the next one (the rule is in :mod:`plcore.study.cache`). Sweeps sharing a cache folder
at the same time may compute a point twice but never read a partial one. A worker process ends
within a second of its sweep's process dying, so a killed sweep does not leave workers running.
A cache that cannot be written (a full disk, a file-size limit) ends the sweep with
:class:`plcore.errors.SweepError`, one line naming the cache folder; the points finished before
are kept.

**Dask.** Given the address of a Dask distributed scheduler
(``run_sweep(..., dask="tcp://host:port")``, or the environment variable ``PLCORE_DASK``, which
``python -m plcore.study.notebook_runner --dask ADDRESS`` sets for a notebook's kernel), the
points run on that cluster, one task per point, instead of local processes; the results are the
same rows. The workers need the same plcore (and package versions) as the sweep's process: the
cache fingerprint is computed where the sweep runs, not on the workers. Under Dask a point's CSV is
sent back and cached by the sweep's process (a worker's disk need not be this one), as soon as it
arrives. A scheduler that does not answer within the Dask timeout (``dask_timeout=``, else
``PLCORE_DASK_TIMEOUT``, which ``--dask-timeout`` of the notebook runner sets, else 10 s), one
that has no worker within that time, and one that dies during the sweep end it with a
:class:`plcore.errors.SweepError`: one line naming the address and saying that the finished
points are kept in the cache (a re-run computes only the others). Once the sweep runs, workers
that leave are waited for, as Dask does (an adaptive cluster may start others); an exception
raised by the point function itself on a worker is raised as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import math
import os
import platform
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from .. import paths
from ..errors import SweepError, short_repr
from ..paths import result_dir
from . import cache

_PACKAGE = Path(__file__).resolve().parents[1]
DASK_ENV = "PLCORE_DASK"    # address of a Dask scheduler for sweeps, e.g. tcp://10.0.0.5:8786
DASK_TIMEOUT_ENV = "PLCORE_DASK_TIMEOUT"    # seconds to wait for that scheduler and a worker
DASK_TIMEOUT_S = 10.0
_MAX_TIMEOUT_S = 1e6
_WATCH_S = 0.5   # how often a worker checks that its sweep is still alive


def _tree_digest(root: Path, pattern: str) -> str:
    """sha256 over the files under ``root`` matching ``pattern``: their relative paths and bytes."""
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob(pattern) if p.is_file()) if root.is_dir() else []
    for path in files:
        data = path.read_bytes()
        # Lengths first, so that no two different trees feed the hash the same bytes.
        name = path.relative_to(root).as_posix().encode()
        h.update(b"%d:%s%d:" % (len(name), name, len(data)))
        h.update(data)
    return h.hexdigest()


def library_fingerprint() -> str:
    """Short hash of every ``plcore/**/*.py`` file: results depend on exactly this code."""
    return _tree_digest(_PACKAGE, "*.py")[:12]


def data_fingerprint() -> str:
    """Short hash of every file under ``plcore.paths.DATA`` (looked up now, not at import)."""
    return _tree_digest(Path(paths.DATA), "*")[:12]


def versions() -> dict[str, str]:
    """The versions of Python, numpy, scipy and pandas, which the points' numbers may depend on."""
    import numpy
    import scipy

    return {"python": f"{platform.python_implementation()} {platform.python_version()}",
            "numpy": numpy.__version__, "scipy": scipy.__version__, "pandas": pd.__version__}


def fingerprint() -> str:
    """The cache folder's name: a short hash of the library, the data and the versions."""
    text = json.dumps({"library": library_fingerprint(), "data": data_fingerprint(),
                       "versions": versions()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def point_key(fn: Callable, point: dict) -> str:
    """Short hash of ``fn``'s qualified name and the point's parameters."""
    text = json.dumps({"fn": f"{fn.__module__}.{fn.__qualname__}", "point": point},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _run_point(fn: Callable, point: dict, directory: Path | None, key: str,
               owner: int | None) -> tuple[str, bytes]:
    """Compute one point; cache it here when ``directory`` is given; watch the sweep's process
    when ``owner`` (its pid) is given and this is another process."""
    if owner is not None and os.getpid() != owner:    # a worker process, not the sweep's own
        _exit_with_parent()
    data = fn(**point).to_csv(index=False).encode()
    if directory is not None:
        cache.save(directory, key, data)
    return key, data


def dask_address(dask: str | None = None, *, name: str = "dask") -> str | None:
    """The Dask scheduler a sweep uses: ``dask`` if given, else ``$PLCORE_DASK``; None (run
    locally) when neither is set or the value is empty.

    Parameters
    ----------
    dask : str, optional
        An address such as ``"tcp://10.0.0.5:8786"``.
    name : str
        What a message calls ``dask`` (a command line gives its option's name).

    Returns
    -------
    str or None
        The address, stripped of surrounding blanks.

    Raises
    ------
    ValueError
        The address is not one Dask can connect to (no port, an unknown scheme); the message
        names where it came from (``name`` or ``$PLCORE_DASK``). Checked before connecting:
        distributed's client, given such an address, fails and then logs a traceback when it is
        collected.

    Examples
    --------
    >>> dask_address("tcp://127.0.0.1:8786"), dask_address("")
    ('tcp://127.0.0.1:8786', None)
    """
    source = f"${DASK_ENV}" if dask is None else name
    address = (os.environ.get(DASK_ENV, "") if dask is None else dask).strip()
    if not address:
        return None
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:
        if parse_address(address)[0] != "inproc":    # in-process: no host or port
            get_address_host_port(address)
    except ValueError as e:
        raise ValueError(f"{source}: {short_repr(address)} is not a Dask scheduler address "
                         f"({e})") from None
    return address


def dask_timeout_s(seconds: float | str | None = None, *, name: str = "dask_timeout") -> float:
    """The Dask timeout of a sweep, in seconds: ``seconds`` if given, else ``$PLCORE_DASK_TIMEOUT``,
    else 10.

    Parameters
    ----------
    seconds : float or str, optional
        A number, or its text (as on a command line), in (0, 1e6].
    name : str
        What a message calls ``seconds``.

    Returns
    -------
    float
        Seconds to wait for the scheduler to answer, and then for a worker.

    Raises
    ------
    ValueError
        Not a number in (0, 1e6]; the message names ``name``, or ``$PLCORE_DASK_TIMEOUT`` where
        the value came from it.

    Examples
    --------
    >>> dask_timeout_s(2.5), dask_timeout_s("30")
    (2.5, 30.0)
    """
    source = name
    if seconds is None:
        seconds = os.environ.get(DASK_TIMEOUT_ENV, "").strip()
        if not seconds:
            return DASK_TIMEOUT_S
        source = f"${DASK_TIMEOUT_ENV}"
    try:
        value = float(seconds)
    except (TypeError, ValueError, OverflowError):
        value = math.nan
    if not 0 < value <= _MAX_TIMEOUT_S:    # also NaN
        raise ValueError(f"{source}: expected seconds in (0, {_MAX_TIMEOUT_S:g}], got "
                         f"{short_repr(seconds)}")
    return value


_watching = False
_watching_lock = threading.Lock()


def _exit_with_parent() -> None:
    """End this worker process soon after the process that started it dies (once per process).

    loky keeps idle workers alive for up to 300 s, also when the sweep that started them was
    killed (SIGKILL, or SIGTERM, which Python does not catch) and cannot end them. A daemon thread
    polls the parent's pid: a worker whose parent died has been given another one, and exits.
    """
    global _watching
    with _watching_lock:
        if _watching:
            return
        _watching = True
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(_WATCH_S)
        os._exit(1)

    threading.Thread(target=watch, name="plcore-sweep-watchdog", daemon=True).start()


def run_sweep(name: str, fn: Callable[..., pd.DataFrame], points: Iterable[dict], *,
              n_jobs: int = -1, progress: bool = True, desc: str | None = None,
              dask: str | None = None, dask_timeout: float | None = None) -> pd.DataFrame:
    """Evaluate ``fn(**point)`` for every point, in parallel, reusing cached points.

    Parameters
    ----------
    name : str
        The result's name: the cache lives under ``results/<name>/cache/``.
    fn : callable
        A module-level (picklable) function returning a ``pandas.DataFrame``.
    points : iterable of dict
        Keyword arguments of ``fn``, one dict per point (JSON-serialisable values).
    n_jobs : int
        joblib workers (-1: one per core).
    progress : bool
        Show a tqdm progress bar (on stderr).
    dask : str, optional
        Address of a Dask distributed scheduler (``"tcp://host:port"``) to run the points on;
        default ``$PLCORE_DASK``, and local processes when that is unset or empty.
    dask_timeout : float, optional
        Seconds (in (0, 1e6]) to wait for that scheduler to answer, and then for it to have a
        worker; default ``$PLCORE_DASK_TIMEOUT``, else 10.

    Returns
    -------
    pandas.DataFrame
        The rows of every point, in the order of ``points``, as read back from their CSV (a point
        computed now and one taken from the cache give the same values).

    Raises
    ------
    plcore.errors.SweepError
        The cache cannot be written (one line naming its folder), or the Dask scheduler does not
        answer, has no worker within the timeout or dies during the sweep (one line naming its
        address). The points finished before are kept in the cache.
    ValueError
        ``dask`` (or ``$PLCORE_DASK``) is not a Dask address, or ``dask_timeout`` (or
        ``$PLCORE_DASK_TIMEOUT``) not a number of seconds in (0, 1e6]: before any point runs.

    Notes
    -----
    A point found in the cache costs reading and hashing its file; the others cost ``fn`` each,
    run ``n_jobs`` (or the cluster's threads) at a time.
    """
    from joblib import Parallel, delayed
    from tqdm import tqdm

    points = list(points)
    address = dask_address(dask)
    timeout = dask_timeout_s(dask_timeout) if address else None   # bad input before any work
    folder = fingerprint()
    try:
        directory = result_dir(name) / "cache" / folder
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SweepError(f"cannot create the sweep cache {e.filename}: {e.strerror or e}") from e
    keys = [point_key(fn, p) for p in points]
    csv = cache.load(directory, keys)
    todo = {k: p for k, p in zip(keys, points) if k not in csv}   # a repeated point runs once
    if todo:
        count = Counter(keys)
        with tqdm(total=len(points), initial=len(points) - sum(count[k] for k in todo),
                  desc=desc or name, disable=not progress, mininterval=1.0) as bar:
            if address is None:
                jobs = (delayed(_run_point)(fn, p, directory, k, os.getpid())
                        for k, p in todo.items())
                for key, data in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs):
                    csv[key] = data
                    bar.update(count[key])
            else:
                _run_on_dask(address, timeout, fn, todo, directory, csv,
                             lambda key: bar.update(count[key]))
    parsed = {k: pd.read_csv(io.BytesIO(data)) for k, data in csv.items()}
    frames = [parsed[k] for k in keys]
    # Points without rows (e.g. an order that cannot meet its deadlines) must not turn the
    # columns into objects.
    return pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)


def _run_on_dask(address: str, timeout: float, fn: Callable, todo: dict, directory: Path,
                 csv: dict, done: Callable[[str], None]) -> None:
    """Run the points of ``todo`` on the Dask scheduler at ``address``, one task each, caching each
    in this process as it comes back; :class:`SweepError` where the scheduler fails us."""
    from distributed import Client, as_completed

    def failed(what: str) -> SweepError:
        left = sum(k not in csv for k in todo)
        return SweepError(f"the Dask scheduler at {address} {what}; {len(csv)} of "
                          f"{len(csv) + left} points are finished and kept in {directory}, a "
                          f"re-run computes only the others")

    with _dask_logs_quiet():
        try:
            client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, asyncio.TimeoutError) as e:
            raise failed(f"did not answer within {timeout:g} s") from e
        with client:
            try:
                client.wait_for_workers(1, timeout=timeout)
            except (OSError, asyncio.TimeoutError) as e:
                raise failed(f"had no worker within {timeout:g} s") from e
            futures = [client.submit(_run_point, fn, p, None, k, None, pure=False)
                       for k, p in todo.items()]
            for future in as_completed(futures, loop=client.loop):
                if future.status == "error":
                    future.result()     # raises the exception of the point function itself
                try:
                    key, data = future.result()
                except (Exception, asyncio.CancelledError) as e:
                    # Cancelled when the connection is lost, or lost on the way back.
                    raise failed("was lost during the sweep") from e
                cache.save(directory, key, data)
                csv[key] = data
                done(key)


@contextlib.contextmanager
def _dask_logs_quiet():
    """Silence distributed's client logger while a sweep talks to its scheduler: it logs a lost
    scheduler (with a traceback), which the sweep reports in one line."""
    logger = logging.getLogger("distributed.client")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)
