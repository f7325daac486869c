"""Open-loop load generator: replays a workload against an Open Inference Protocol server.

    plcore loadgen URL INPUT [--requests N --rate HZ ...] [--json] [--out run.csv]
    python -m plcore.serving.loadgen URL INPUT ...

The workload is the simulator's (:mod:`plcore.online.workload`): INPUT is an instance file used
as the catalogue with requests drawn by the options of ``plcore simulate`` (``--requests --rate
--cv --popularity --zipf --deadline-s --data-bits --coherence-s --seed``), or a CSV trace with
``--catalogue``. Request ``k`` is sent at ``t0 + arrival_s[k]`` as ``POST
/v2/models/{model}/infer`` whatever the server does (**open loop**: a slow server cannot slow the
arrivals down and hide its queue), with the request's top-level ``parameters``
``{"deadline_s", "user", "channel_gain", "data_bits"}`` (relative deadline in s, user index,
linear gain at arrival, input size in bit for the server's emulated radio).

Input tensors: each requested model's metadata (``GET /v2/models/{name}``) gives its inputs'
names, shapes (a dynamic ``-1`` becomes 1) and datatypes; a tensor is drawn once per model from
``numpy.random.default_rng((seed, model index))`` and encoded once; the binary tensor data
extension is the default (``--json`` for JSON tensors; binary answers are asked for with
``"binary_data_output": true``).

Outcome of a request (CSV column ``outcome``)
    * ``served`` / ``late``: HTTP 200; the server's ``parameters.status`` when it says
      ``"served"`` or ``"late"``, otherwise the client's latency against the deadline;
    * ``rejected``: HTTP 503 (the server refused it: an unreachable deadline, a full queue);
    * ``error``: any other status, a malformed answer, a connection error or no answer within
      ``--timeout-s`` (``status`` 0 when there was no HTTP answer); the ``error`` column says why.

Times (s) are on the workload's clock: ``scheduled_s`` is the arrival, ``sent_s`` when the
request's bytes were handed to the socket, ``answered_s`` when the whole answer was read;
``latency_s = answered_s - scheduled_s`` (from the arrival, so the client's own delays count
against it). The summary: goodput (requests served per second of the arrival window
``(0, last arrival]``, as :func:`plcore.online.metrics.summary` defines it), latency P50/P95/P99
of the answered-200 requests with bootstrap intervals, counts by outcome, and the send-time error
``sent_s - scheduled_s`` (P50, P99, max) that says whether the arrivals were kept.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import numpy as np

from ..errors import short_repr
from ..online.workload import IMAGE_BITS, POPULARITIES, Workload
from .protocol_client import HEADER_LENGTH, answer_json, input_specs, request_pieces, seeded_tensor

__all__ = ["LoadgenResult", "LoadgenError", "run_loadgen", "add_parser", "main", "OUTCOMES",
           "MAX_REQUESTS"]

OUTCOMES = ("served", "late", "rejected", "error")
SERVED, LATE, REJECTED, ERROR = range(4)
#: Most requests one run sends (a trace or --requests beyond it is refused).
MAX_REQUESTS = 10_000_000
#: A scheduler behind time sends a burst without waiting, but lets the loop run at least every
#: this many requests (answers must be read meanwhile).
_BURST = 32
#: Bodies up to this size go out in one write (one copy beats two system calls).
_JOIN_BYTES = 1 << 16
#: The run starts this long after the set-up (s), so the first arrival is not already late.
_LEAD_S = 0.01
#: Net new objects tracked by the cyclic garbage collector that make a run collect (it is off
#: otherwise): failing requests leave about 30 each, so it runs every few thousand failures.
_GC_OBJECTS = 100_000
#: A request is started this long before its arrival (s): the HTTP client builds it, takes a
#: connection and queues the headers, and the body holds the write back until the arrival.
#: The client's own work (about 0.1 to 0.3 ms a request) then does not delay the send.
_AHEAD_S = 2e-3


class LoadgenError(Exception):
    """A run could not start: the server is unreachable, lacks a model, or answered nonsense."""


@dataclass(eq=False)
class LoadgenResult:
    """What a run measured, one entry per request (arrays of shape ``(n,)``, workload order).

    Attributes
    ----------
    url : str
    binary : bool
        Binary tensor data extension (else JSON tensors).
    model_names : tuple of str
    model : ndarray of int
        Index into ``model_names``.
    scheduled_s, deadline_s : ndarray of float
        Arrival (on the workload's clock) and relative deadline (s).
    sent_s, answered_s : ndarray of float
        When the bytes went to the socket and when the answer was read (s, same clock);
        NaN if never.
    status : ndarray of int
        HTTP status, 0 for no answer.
    outcome : ndarray of int
        Index into :data:`OUTCOMES`.
    error : list of str
        Why an ``error`` or ``rejected`` request was one ("" otherwise).
    server : list of dict or None
        The answer's ``parameters`` object (200) as the server sent it.
    wall_s, cpu_s : float
        Wall-clock and process CPU time of the run (s), set-up excluded.
    t0_monotonic : float
        ``time.monotonic()`` at time 0 of the workload's clock (s): request ``k`` was due at
        ``t0_monotonic + scheduled_s[k]``, for comparison with a server's clock on this host.
    server_columns : tuple of str
        The keys found in the server's ``parameters`` (sorted), one CSV column each.
    """

    url: str
    binary: bool
    model_names: tuple
    model: np.ndarray
    scheduled_s: np.ndarray
    deadline_s: np.ndarray
    sent_s: np.ndarray
    answered_s: np.ndarray
    status: np.ndarray
    outcome: np.ndarray
    error: list
    server: list
    wall_s: float = 0.0
    cpu_s: float = 0.0
    t0_monotonic: float = 0.0
    server_columns: tuple = ()

    @property
    def n(self) -> int:
        return int(self.model.size)

    @property
    def latency_s(self) -> np.ndarray:
        """``answered_s - scheduled_s`` (s), NaN without an answer."""
        return self.answered_s - self.scheduled_s

    @property
    def send_error_s(self) -> np.ndarray:
        """``sent_s - scheduled_s`` (s), NaN for a request never sent."""
        return self.sent_s - self.scheduled_s

    def count(self, outcome: str) -> int:
        return int(np.count_nonzero(self.outcome == OUTCOMES.index(outcome)))

    def summary(self, *, n_boot: int = 2000, seed: int = 0) -> dict:
        """Counts, goodput, latency and send-error percentiles (a dict of plain numbers).

        Returns
        -------
        dict
            ``requests, served, late, rejected, error, arrival_rate_hz, goodput_hz`` (served per
            second of ``(0, last arrival]``), ``latency_p50_s`` (and ``_lo_s``/``_hi_s``, 95 %
            bootstrap bounds; likewise P95, P99) over the requests answered 200,
            ``send_error_p50_s, send_error_p99_s, send_error_max_s`` over the requests sent,
            ``sent_rate_hz`` (requests sent per second between the first and last send),
            ``wall_s, cpu_s, url, binary``.

        Notes
        -----
        Quantiles are the ``ceil(q n)``-th smallest value
        (:func:`plcore.online.metrics.quantile_ci`), the definition ``plcore simulate`` uses.
        O(n log n).
        """
        from ..online.metrics import quantile_ci

        n = self.n
        window = float(self.scheduled_s.max()) if n else 0.0
        out = {"url": self.url, "binary": self.binary, "requests": n}
        for name in OUTCOMES:
            out[name] = self.count(name)
        out["arrival_rate_hz"] = n / window if window > 0 else math.inf
        out["goodput_hz"] = out["served"] / window if window > 0 else math.inf
        ran = (self.outcome == SERVED) | (self.outcome == LATE)
        for q in (50, 95, 99):
            est, lo, hi = quantile_ci(self.latency_s[ran], q / 100, n_boot=n_boot, seed=seed)
            out[f"latency_p{q}_s"] = est
            out[f"latency_p{q}_lo_s"], out[f"latency_p{q}_hi_s"] = lo, hi
        err = np.sort(self.send_error_s[np.isfinite(self.sent_s)])
        for q in (50, 99):
            out[f"send_error_p{q}_s"] = (float(err[math.ceil(q / 100 * err.size) - 1])
                                         if err.size else math.nan)
        out["send_error_max_s"] = float(err[-1]) if err.size else math.nan
        sent = self.sent_s[np.isfinite(self.sent_s)]
        span = float(sent.max() - sent.min()) if sent.size > 1 else 0.0
        out["sent_rate_hz"] = (sent.size - 1) / span if span > 0 else math.nan
        out["wall_s"], out["cpu_s"] = self.wall_s, self.cpu_s
        return out

    def columns(self) -> dict:
        """The per-request table as columns: ``index, model, scheduled_s, deadline_s, sent_s,
        answered_s, status, outcome, latency_s, error`` and one ``server_<key>`` column per key
        of the server's ``parameters`` (empty where an answer lacks it; non-scalars as JSON)."""
        names = np.asarray(self.model_names, dtype=object)
        cols = {"index": np.arange(self.n), "model": names[self.model] if self.n else [],
                "scheduled_s": self.scheduled_s, "deadline_s": self.deadline_s,
                "sent_s": self.sent_s, "answered_s": self.answered_s, "status": self.status,
                "outcome": np.asarray(OUTCOMES, dtype=object)[self.outcome] if self.n else [],
                "latency_s": self.latency_s, "error": self.error}
        for key in self.server_columns:
            col = []
            for p in self.server:
                v = p.get(key, "") if p else ""
                col.append(v if isinstance(v, (str, int, float)) else json.dumps(v))
            cols[f"server_{key}"] = col
        return cols

    def write_csv(self, path) -> None:
        """Write :meth:`columns` as CSV, to a temporary name in the same folder then renamed.

        Raises :class:`OSError` when it cannot be written (nothing is left behind).
        """
        cols = self.columns()
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(cols)
                lists = [c.tolist() if isinstance(c, np.ndarray) else c for c in cols.values()]
                w.writerows(zip(*lists))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _body_type():
    """A request body that stamps its send time: an aiohttp payload written in pieces.

    aiohttp queues a request's headers and writes them with the first piece of its body (one
    socket write), so nothing leaves before ``write_with_length`` writes. It waits until the
    request's arrival time (the request was started :data:`_AHEAD_S` early), stamps the time
    and writes. Built here, not at import, so that importing this module does not import
    aiohttp.
    """
    from aiohttp.payload import Payload

    class Body(Payload):
        _autoclose = True

        def __init__(self, pieces, size, headers, run, k):   # not Payload's: it costs more
            self._value = pieces
            self._size = size
            self._headers = headers
            self._encoding = None
            self._filename = None
            self._run, self._k = run, k

        def decode(self, encoding="utf-8", errors="strict"):
            return b"".join(self._value).decode(encoding, errors)

        async def write(self, writer):
            await self.write_with_length(writer, None)

        async def write_with_length(self, writer, content_length):
            run = self._run
            wait = run.t0 + run.arrival[self._k] - run.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            run.stamp_sent(self._k)
            if self._size <= _JOIN_BYTES:
                await writer.write(b"".join(self._value))
            else:
                for piece in self._value:
                    await writer.write(piece)

    return Body


class _Run:
    """One run's state: the session, the encoded models and the per-request lists."""

    def __init__(self, url: str, workload: Workload, binary: bool, timeout_s: float,
                 connections: int, seed: int, progress: bool):
        self.url = url.rstrip("/")
        self.w = workload
        self.binary = binary
        self.timeout_s = timeout_s
        self.connections = connections
        self.seed = seed
        self.progress = progress
        n = workload.n
        self.sent = [math.nan] * n
        self.answered = [math.nan] * n
        self.status = [0] * n
        self.outcome = [ERROR] * n
        self.error = [""] * n
        self.server = [None] * n
        self.done = 0
        self.t0 = 0.0

    def stamp_sent(self, k: int) -> None:
        if self.sent[k] != self.sent[k]:         # NaN: the first write of this request
            self.sent[k] = self.clock() - self.t0

    # -- set-up ---------------------------------------------------------------------------
    async def _get_json(self, path: str, what: str, *, parse: bool = True):
        """GET ``path``: its JSON (None without ``parse``); a LoadgenError unless HTTP 200."""
        import aiohttp

        url = self.url + path
        try:
            async with self.session.get(url, allow_redirects=False) as r:
                body = await r.read()
                status = r.status
        except asyncio.TimeoutError:
            raise LoadgenError(f"{self.url}: no answer to GET {path} within {self.timeout_s:g} s")
        except aiohttp.ClientError as exc:
            raise LoadgenError(f"cannot reach the server at {self.url}: {_why(exc)}") from None
        if status == 404:
            raise LoadgenError(f"{url}: the server has no {what} (HTTP 404)")
        if status != 200:
            said = f": {short_repr(_text(body))}" if body else ""
            raise LoadgenError(f"{url}: HTTP {status} for {what}{said}")
        if not parse:
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise LoadgenError(f"{url}: the {what} is not JSON: "
                               f"{short_repr(_text(body))}") from None

    async def _prepare(self) -> None:
        """Metadata of every requested model, then its encoded request pieces and URL."""
        from multidict import CIMultiDict
        from yarl import URL

        w = self.w
        ctype = "application/octet-stream" if self.binary else "application/json"
        self.body_headers = CIMultiDict({"Content-Type": ctype})
        self.pieces, self.urls = {}, {}
        for j in sorted(set(w.model.tolist())):
            name = w.model_names[j]
            path = f"/v2/models/{quote(name, safe='')}"
            meta = await self._get_json(path, f"model {name!r}")
            try:
                specs = input_specs(meta, self.url + path)
            except ValueError as exc:
                raise LoadgenError(str(exc)) from None
            rng = np.random.default_rng((self.seed, j))
            tensors = [seeded_tensor(s, rng) for s in specs]
            head, tail, data = request_pieces(specs, tensors, self.binary)
            self.pieces[j] = (head, tail, data, sum(len(d) for d in data))
            self.urls[j] = URL(self.url + path + "/infer", encoded=True)
        # Per-request parameters, spliced between head and tail: a %-format, no JSON encoder.
        extra = ',"binary_data_output":true' if self.binary else ""
        # trace_index: the server keeps it with its record of the request, so the two records
        # of a run can be matched request by request (plcore validate-serving).
        self.fmt = ('{"deadline_s":%r,"user":%d,"channel_gain":%r,"data_bits":%r,'
                    '"trace_index":%d' + extra + "}")
        self.args = list(zip(w.deadline_s.tolist(), w.user.tolist(), w.channel_gain.tolist(),
                             w.data_bits.tolist(), range(w.n)))
        self.model_of = w.model.tolist()
        self.arrival = w.arrival_s.tolist()

    # -- the run --------------------------------------------------------------------------
    async def _one(self, k: int) -> None:
        import aiohttp

        j = self.model_of[k]
        head, tail, data, size = self.pieces[j]
        json_head = head + (self.fmt % self.args[k]).encode() + tail
        headers = {HEADER_LENGTH: str(len(json_head))} if self.binary else None
        body = self.Body((json_head,) + data, len(json_head) + size, self.body_headers, self, k)
        try:
            async with self.session.post(self.urls[j], data=body, headers=headers,
                                         allow_redirects=False) as r:
                raw = await r.read()
                self.answered[k] = self.clock() - self.t0
                self.status[k] = code = r.status
                hlen = r.headers.get(HEADER_LENGTH)
            self._classify(k, code, raw, hlen)
        except asyncio.TimeoutError:
            self.error[k] = f"no answer within {self.timeout_s:g} s"
        except aiohttp.ClientError as exc:
            self.error[k] = _why(exc)
        finally:
            self.done += 1

    def _classify(self, k: int, code: int, raw: bytes, hlen) -> None:
        try:
            doc = answer_json(raw, hlen)
        except ValueError:
            doc = None
        if code == 200:
            params = doc.get("parameters") if isinstance(doc, dict) else None
            if not isinstance(doc, dict) or "outputs" not in doc:
                self.error[k] = "HTTP 200 without an inference answer (no 'outputs')"
                return
            self.server[k] = params if isinstance(params, dict) else None
            said = params.get("status") if isinstance(params, dict) else None
            if said == "served":
                self.outcome[k] = SERVED
            elif said == "late":
                self.outcome[k] = LATE
            elif said is None:   # the server does not say: the client's clock decides
                ok = self.answered[k] - self.arrival[k] <= self.args[k][0]
                self.outcome[k] = SERVED if ok else LATE
            else:
                self.error[k] = f"HTTP 200 with status {short_repr(said)}"
            return
        msg = doc.get("error") if isinstance(doc, dict) else None
        self.error[k] = str(msg)[:200] if msg is not None else f"HTTP {code}"
        if code == 503:
            self.outcome[k] = REJECTED

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        clock, sleep, create = loop.time, asyncio.sleep, loop.create_task
        tasks = set()
        t0 = self.t0
        burst = 0
        for k, a in enumerate(self.arrival):
            wait = t0 + a - _AHEAD_S - clock()
            if wait > 0:
                burst = 0
                await sleep(wait)        # the selector wakes within ~0.1 ms (_fine_selector)
            else:
                burst += 1               # behind time: send at once, no sleeping
                if burst >= _BURST:      # but let the loop read answers now and then
                    burst = 0
                    await sleep(0)
            t = create(self._one(k))     # fire and forget; kept in `tasks` against GC
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.wait(set(tasks))

    async def _collect_cycles(self) -> None:
        """Collect cyclic garbage when :data:`_GC_OBJECTS` objects have piled up (checked twice
        a second): failing requests leave exception cycles, and their memory must stay bounded."""
        while True:
            await asyncio.sleep(0.5)
            if gc.get_count()[0] > _GC_OBJECTS:
                gc.collect()

    async def _show_progress(self) -> None:
        """A bar of the answered requests, redrawn four times a second (not per answer)."""
        from tqdm import tqdm

        with tqdm(total=self.w.n, unit="req", mininterval=0.25, leave=False,
                  file=sys.stderr) as bar:
            while True:
                bar.update(self.done - bar.n)
                await asyncio.sleep(0.25)

    async def run(self) -> LoadgenResult:
        import aiohttp

        loop = asyncio.get_running_loop()
        self.clock = loop.time
        self.Body = _body_type()
        connector = aiohttp.TCPConnector(limit=self.connections, limit_per_host=0,
                                         keepalive_timeout=60.0, ttl_dns_cache=None)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        # No Accept-Encoding: answers come uncompressed (nothing to inflate on the hot path).
        async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                         auto_decompress=False,
                                         skip_auto_headers=("Accept-Encoding",)) as self.session:
            await self._get_json("/v2/health/ready", "the readiness check", parse=False)
            await self._prepare()
            bar = loop.create_task(self._show_progress()) if self.progress and _has_tqdm() else None
            wall, cpu = time.perf_counter(), time.process_time()
            self.t0 = self.clock() + _LEAD_S
            # The cyclic garbage collector would stop the loop for ms at a time (a young pass
            # every few requests walks the requests in flight; a full one every object the
            # process holds). Requests leave next to no cycles (their objects go by reference
            # counting), so it is off during the run and runs only if cycles pile up.
            gc.freeze()
            enabled = gc.isenabled()
            gc.disable()
            janitor = loop.create_task(self._collect_cycles())
            try:
                await self._schedule()
            finally:
                janitor.cancel()
                if enabled:
                    gc.enable()
                gc.unfreeze()
                if bar is not None:
                    bar.cancel()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        w = self.w
        keys = sorted({key for p in self.server if p for key in p})
        return LoadgenResult(
            url=self.url, binary=self.binary, model_names=w.model_names, model=w.model.copy(),
            scheduled_s=w.arrival_s.copy(), deadline_s=w.deadline_s.copy(),
            sent_s=np.array(self.sent, dtype=float),
            answered_s=np.array(self.answered, dtype=float),
            status=np.array(self.status, dtype=np.int64),
            outcome=np.array(self.outcome, dtype=np.int64), error=self.error,
            server=self.server, wall_s=wall, cpu_s=cpu, t0_monotonic=self.t0,
            server_columns=tuple(keys))


def _has_tqdm() -> bool:
    """Whether tqdm, which draws the progress bar, is installed (it is not a core dependency)."""
    import importlib.util

    return importlib.util.find_spec("tqdm") is not None


def _fine_selector():
    """The platform's selector, on Linux an epoll one whose timeouts are microseconds.

    ``epoll_wait`` takes whole milliseconds and Python rounds a timeout up, so an asyncio
    sleep ends up to 1 ms late: the whole send-time error budget. Before a positive timeout
    this selector waits with ``select()`` (a ``timeval``, microseconds) on the epoll object's
    own descriptor, which is readable when any registered socket is, then collects the events
    without waiting. No busy polling: a loop that waits costs no CPU, and on a shared machine a
    process that sleeps gets the CPU back sooner than one that spins.
    """
    import select
    import selectors

    if not hasattr(selectors, "EpollSelector"):
        return selectors.DefaultSelector()       # kqueue and others take finer timeouts

    class FineEpollSelector(selectors.EpollSelector):
        def select(self, timeout=None):
            if timeout is not None and timeout > 0:
                try:
                    select.select((self.fileno(),), (), (), timeout)
                    timeout = 0
                except ValueError:               # descriptor above FD_SETSIZE: whole ms
                    pass
            return super().select(timeout)

    return FineEpollSelector()


def _run_in_loop(coro):
    """``asyncio.run(coro)`` on a loop with :func:`_fine_selector` (Python 3.10 has no Runner)."""
    loop = asyncio.SelectorEventLoop(_fine_selector())
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _why(exc: BaseException) -> str:
    """A one-line reason for a client error, in the OS's words where there are some."""
    inner = getattr(exc, "os_error", None)
    code = getattr(inner, "errno", None)
    if isinstance(code, int) and code > 0:          # "Connection refused", not the call
        text = os.strerror(code)
    else:
        text = getattr(inner, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:200]


def _text(body: bytes) -> str:
    return body[:200].decode("utf-8", "replace")


def _raise_fd_limit(connections: int) -> None:
    """Let the process open ``connections`` sockets (the soft limit is often 1024)."""
    try:
        import resource
    except ImportError:                 # not on this platform: leave the limit as it is
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = connections + 64
    if soft != resource.RLIM_INFINITY and soft < need:
        top = need if hard == resource.RLIM_INFINITY else min(need, hard)
        if top < need:
            raise LoadgenError(f"--connections {connections}: the open-file limit is {hard}; "
                               f"use at most {max(1, hard - 64)}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


def run_loadgen(url: str, workload: Workload, *, binary: bool = True, timeout_s: float = 30.0,
                progress: bool = False, out=None, connections: int = 1000,
                seed: int = 0) -> LoadgenResult:
    """Replay ``workload`` against the server at ``url``, open loop; the per-request record.

    Parameters
    ----------
    url : str
        ``http://host:port`` (an optional path prefix is kept); only this server is contacted.
    workload : Workload
        Request ``k`` is sent ``workload.arrival_s[k]`` seconds after the start.
    binary : bool
        Binary tensor data extension (default) or JSON tensors.
    timeout_s : float
        Longest wait for one answer, connection included (s), > 0; the run ends at most this
        long after the last arrival.
    progress : bool
        Show a tqdm bar of the answered requests on stderr.
    out : str or Path, optional
        Write the per-request CSV here (:meth:`LoadgenResult.write_csv`).
    connections : int
        Most connections open at once (kept alive). HTTP/1.1 carries one request at a time
        per connection, so this many requests can be outstanding; more wait for a connection
        and their ``sent_s`` shows it.
    seed : int
        Seeds the input tensors (with each model's index).

    Returns
    -------
    LoadgenResult

    Raises
    ------
    LoadgenError
        The server cannot be reached, is not ready, lacks a requested model (404 on its
        metadata) or describes inputs this client cannot build; one line naming the URL.
    ValueError
        A bad argument.
    OSError
        ``out`` cannot be written.

    Examples
    --------
    >>> from plcore.online.catalogue import cluster_catalogue
    >>> from plcore.online.workload import generate
    >>> w = generate(cluster_catalogue(), 1000, rate_hz=500.0, seed=1)
    >>> run = run_loadgen("http://127.0.0.1:8000", w, out="run.csv")   # doctest: +SKIP
    >>> run.summary()["goodput_hz"]                                     # doctest: +SKIP

    Notes
    -----
    One asyncio event loop, whose selector sleeps with microsecond timeouts
    (:func:`_fine_selector`). A scheduler coroutine sleeps until :data:`_AHEAD_S` before each
    arrival, then starts the request as its own task and goes on without waiting for it
    (behind time, it starts requests without sleeping); the HTTP client builds the request and
    takes a connection meanwhile, and the body writes at the arrival time. Request bodies are
    encoded once per model; per request only the ``parameters`` object is formatted and
    spliced in. The cyclic garbage collector is off during the run (requests are freed by
    reference counting; cycles are collected if :data:`_GC_OBJECTS` pile up). O(n) memory;
    CPU about one aiohttp request and answer per request (0.1 to 0.2 ms on a 2-core virtual
    machine; ``benchmarks/bench_loadgen.py`` measures it with the send-time error).
    """
    if not isinstance(timeout_s, (int, float)) or not 0 < timeout_s < math.inf:
        raise ValueError(f"timeout_s: must be a finite number > 0, got {timeout_s!r}")
    if not isinstance(connections, int) or connections < 1:
        raise ValueError(f"connections: must be an integer >= 1, got {connections!r}")
    if workload.n > MAX_REQUESTS:
        raise ValueError(f"the workload has {workload.n} requests; at most {MAX_REQUESTS} a run")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{short_repr(url)} is not an http:// or https:// server address")
    _raise_fd_limit(connections)
    run = _run_in_loop(_Run(url, workload, binary, float(timeout_s), connections, seed,
                            progress).run())
    if out is not None:
        run.write_csv(out)
    return run


# -- command line ----------------------------------------------------------------------------

def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``loadgen`` subcommand on an argparse ``subparsers`` object; returns it.

    Numbers are taken as text and checked by :func:`main`, so that a bad value ends with one
    ``plcore: error:`` line like every other bad input.
    """
    g = subparsers.add_parser(
        "loadgen", help="replay a workload against an inference server, open loop",
        description="Send a workload's requests to an Open Inference Protocol server at their "
        "arrival times (open loop), and report goodput and latency. INPUT is an instance file "
        "(the catalogue; its users are ignored) with a workload drawn as by plcore simulate, or "
        "a CSV trace (columns arrival_s, model, data_bits, deadline_s, channel_gain[, user]) "
        "with --catalogue.")
    g.add_argument("url", help="the server, e.g. http://127.0.0.1:8000 (nothing else is contacted)")
    g.add_argument("input", help="instance file (catalogue) or .csv trace")
    g.add_argument("--catalogue", help="instance file whose models the trace requests")
    g.add_argument("--requests", default="1000", metavar="N",
                   help=f"number of requests drawn (at most {MAX_REQUESTS})")
    g.add_argument("--rate", default="50", metavar="HZ", help="mean arrival rate (req/s)")
    g.add_argument("--cv", default="1", metavar="CV", help="inter-arrival CV (1: Poisson)")
    g.add_argument("--popularity", default="uniform", choices=POPULARITIES)
    g.add_argument("--zipf", default="1", metavar="ALPHA", help="Zipf exponent")
    g.add_argument("--deadline-s", default="0.2", metavar="S", help="relative deadline (s)")
    g.add_argument("--data-bits", default=repr(float(IMAGE_BITS)), metavar="BITS",
                   help="input size for the emulated radio (bit)")
    g.add_argument("--coherence-s", default="inf", metavar="S",
                   help="block-fading interval (s); default: no fading")
    g.add_argument("--seed", default="0", metavar="SEED",
                   help="seeds the workload and the input tensors")
    g.add_argument("--json", action="store_true",
                   help="JSON tensors (default: the binary tensor data extension)")
    g.add_argument("--timeout-s", default="30", metavar="S",
                   help="longest wait for one answer (s); default 30")
    g.add_argument("--connections", default="1000", metavar="N",
                   help="most connections open at once (default 1000)")
    g.add_argument("--out", help="write the per-request table here (CSV)")
    return g


def _number(args, name: str, *, integer: bool = False, lo=None, finite: bool = True):
    text = getattr(args, name.lstrip("-").replace("-", "_"))
    try:
        v = int(text) if integer else float(text)
    except (TypeError, ValueError):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name}: expected {kind}, got {short_repr(text)}") from None
    if not integer and (math.isnan(v) or (finite and math.isinf(v))):
        raise ValueError(f"{name}: must be finite, got {short_repr(text)}")
    if lo is not None and not v >= lo:
        raise ValueError(f"{name}: must be >= {lo}, got {short_repr(text)}")
    return v


def _workload(args) -> tuple[Workload, int]:
    """The workload the options describe, and the seed."""
    from ..model.instance import load_instance
    from ..online.workload import generate, read_trace

    seed = _number(args, "--seed", integer=True, lo=0)
    if args.input.endswith(".csv"):
        if not args.catalogue:
            raise ValueError("a trace needs --catalogue INSTANCE (its blocks and models)")
        return read_trace(args.input, load_instance(args.catalogue)), seed
    n = _number(args, "--requests", integer=True, lo=0)
    if n > MAX_REQUESTS:
        raise ValueError(f"--requests: at most {MAX_REQUESTS}, got {n}")
    cat = load_instance(args.input)
    w = generate(cat, n, _number(args, "--rate"), seed=seed, cv=_number(args, "--cv"),
                 popularity=args.popularity, zipf_alpha=_number(args, "--zipf"),
                 deadline_s=_number(args, "--deadline-s"),
                 data_bits=_number(args, "--data-bits", lo=0),
                 coherence_s=_number(args, "--coherence-s", finite=False))
    return w, seed


def format_summary(s: dict) -> str:
    """The summary on a few lines, for the command line."""
    def ms(key):
        return (f"{1e3 * s[key + '_s']:.1f} ms [{1e3 * s[key + '_lo_s']:.1f}, "
                f"{1e3 * s[key + '_hi_s']:.1f}]")

    return "\n".join([
        f"{s['url']}  {'binary' if s['binary'] else 'JSON'} tensors",
        f"requests {s['requests']}: served {s['served']}, late {s['late']}, "
        f"rejected {s['rejected']}, error {s['error']}",
        f"arrival rate {s['arrival_rate_hz']:.4g} req/s, goodput {s['goodput_hz']:.4g} req/s",
        f"latency P50 {ms('latency_p50')}  P95 {ms('latency_p95')}  P99 {ms('latency_p99')} "
        "(95 % bootstrap CI)",
        f"send error P50 {1e3 * s['send_error_p50_s']:.3f} ms, P99 "
        f"{1e3 * s['send_error_p99_s']:.3f} ms, max {1e3 * s['send_error_max_s']:.3f} ms; "
        f"sent {s['sent_rate_hz']:.4g} req/s",
        f"ran {s['wall_s']:.3g} s, {s['cpu_s']:.3g} s of CPU",
    ]) + "\n"


def main(args) -> int:
    """Run ``plcore loadgen`` from parsed arguments (see :func:`add_parser`); the exit code.

    0 after a run (whatever the server answered), 2 with one ``plcore: error:`` line on stderr
    for a bad option or input, an unreachable server, a model it lacks, or output that cannot be
    written (then no output file is left).
    """
    try:
        workload, seed = _workload(args)
        timeout_s = _number(args, "--timeout-s")
        if timeout_s <= 0:
            raise ValueError(f"--timeout-s: must be > 0, got {short_repr(args.timeout_s)}")
        connections = _number(args, "--connections", integer=True, lo=1)
        if args.out and not Path(args.out).parent.is_dir():
            raise ValueError(f"{args.out}: cannot write (no such folder)")
        run = run_loadgen(args.url, workload, binary=not args.json, timeout_s=timeout_s,
                          progress=sys.stderr.isatty(), connections=connections, seed=seed)
    except (ValueError, LoadgenError) as exc:     # InstanceError is a ValueError
        return _error(exc)
    except KeyboardInterrupt:
        print("plcore: interrupted; nothing written", file=sys.stderr)
        return 130
    if args.out:
        try:
            run.write_csv(args.out)
        except OSError as exc:
            return _error(f"{args.out}: cannot write ({exc.strerror or exc})")
    try:
        sys.stdout.write(format_summary(run.summary()))
        sys.stdout.flush()
    except OSError as exc:
        return _error(f"cannot write the summary ({exc.strerror or exc})")
    return 0


def _error(message) -> int:
    print(f"plcore: error: {message}", file=sys.stderr)
    return 2


def _cli(argv=None) -> int:
    p = argparse.ArgumentParser(prog="plcore")
    add_parser(p.add_subparsers(dest="command", required=True))
    return main(p.parse_args(["loadgen", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(_cli())
