"""The edge server over HTTP: the Open Inference Protocol in front of a :class:`LiveServer`.

Endpoints (KServe v2 / Triton REST, so that an unmodified ``tritonclient.http`` works):

===================================================== ============================================
``GET /v2/health/live``, ``/v2/health/ready``          200 while serving; ready is 503 once draining
``GET /v2``                                            server metadata (name, version, extensions)
``GET /v2/models/{name}[/versions/{v}]``               model metadata: input and output, shape, type
``GET /v2/models/{name}[/versions/{v}]/ready``         200, or 404 for an unknown model
``POST /v2/models/{name}[/versions/{v}]/infer``        JSON or binary tensors (:mod:`.protocol`)
``GET /metrics``                                       Prometheus text format
===================================================== ============================================

Answers: 200 with the output once the request is served (``parameters.status`` says ``served``
or ``late``, with its measured times); 503 with ``{"error": ...}`` when the server rejects it (an
unreachable deadline, an upload that timed out) or is shutting down; 404 for an unknown model; 400
for a malformed body, a wrong input name, shape or datatype, or a parameter out of range; 413 for a
body over ``max_body_bytes``. An error never carries a traceback: an unexpected fault is logged on
stderr and answered 500 with one line.

SIGTERM (or SIGINT) drains: the server stops taking requests (503), finishes the ones in flight,
then exits 0.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import sys
import threading
import time

import numpy as np
from aiohttp import web

from .. import __version__
from ..model import radio
from ..model.instance import RANGES
from ..online.simulator import LATE, SERVED, STATUS
from .protocol import (HEADER_LENGTH, ModelSpec, ProtocolError, encode_infer_response,
                       error_body, parse_infer)

__all__ = ["make_app", "run_server", "BackgroundServer", "DEFAULT_MAX_BODY", "DEFAULT_DISTANCE_M"]

DEFAULT_MAX_BODY = 64 * 2**20       # bytes: a 224x224 FP32 image is 0.6 MB
DEFAULT_DISTANCE_M = 100.0          # where a request that names no channel is taken to be
STATE = web.AppKey("plcore.state", dict)       # {"draining": bool, "users": next user id}
METRICS = web.AppKey("plcore.metrics", object)
_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def edge_ranges() -> dict:
    """Ranges of the per-request parameters: those of instance files (``RANGES``)."""
    t_lo, t_hi, _ = RANGES["time"]
    b_lo, b_hi, _ = RANGES["bits"]
    return {"deadline_s": (t_lo, t_hi), "data_bits": (0.0, b_hi), "user": (0, 2**62),
            "trace_index": (0, 2**62),
            "channel_gain": (1e-30, 1.0), "distance_m": (1.0, 1e6)}


class Metrics:
    """The server's Prometheus metrics, in a registry of its own."""

    def __init__(self, server):
        from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram,
                                       ProcessCollector)

        self.registry = r = CollectorRegistry()
        self.requests = Counter("plcore_requests", "Requests that ended, by outcome",
                                ["status"], registry=r)
        self.latency = Histogram("plcore_request_latency_seconds",
                                 "Arrival to answer, served and late requests",
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.bad = Counter("plcore_bad_requests", "Requests refused before scheduling, by HTTP "
                           "status", ["code"], registry=r)
        self.hits = Counter("plcore_cache_block_hits", "Blocks found resident at dispatch",
                            registry=r)
        self.misses = Counter("plcore_cache_block_misses", "Blocks loaded at dispatch",
                              registry=r)
        self.loaded = Counter("plcore_loaded_bytes", "Bytes of blocks loaded onto the device",
                              registry=r)
        self.busy = Counter("plcore_gpu_busy_seconds", "Device time by kind (measured)",
                            ["kind"], registry=r)
        g = Gauge("plcore_queue_length", "Requests pending (arrived, not dispatched)",
                  registry=r)
        g.set_function(lambda: server.n_pending)
        g = Gauge("plcore_in_flight", "Requests arrived and not ended", registry=r)
        g.set_function(lambda: server.in_flight)
        g = Gauge("plcore_cache_resident_bytes", "Bytes the block cache holds", registry=r)
        g.set_function(lambda: server.cache.used)
        g = Gauge("plcore_cache_capacity_bytes", "The block cache's capacity", registry=r)
        g.set_function(lambda: server.cache.capacity)
        arena = getattr(server.device, "capacity", None)
        if arena is not None:
            g = Gauge("plcore_device_arena_bytes", "Bytes of the device arena (allocated once)",
                      registry=r)
            g.set(arena)
        ProcessCollector(registry=r)        # process_resident_memory_bytes, CPU seconds, ...

    def ended(self, server, k: int, status: int) -> None:
        self.requests.labels(STATUS[status]).inc()
        if status in (SERVED, LATE):
            self.latency.observe(server.finish_s[k] - server.arrival[k])
            t = server.measured.get(k)
            if t is not None:
                self.busy.labels("load").inc(t.load_end_s - t.load_start_s)
                self.busy.labels("infer").inc(t.finish_s - t.infer_start_s)
        if not math.isnan(server.dispatch_s[k]):
            self.hits.inc(server.job_hits[k])
            self.misses.inc(server.job_access[k] - server.job_hits[k])
            self.loaded.inc(server.job_bytes[k])


def make_app(server, specs: dict[str, ModelSpec], *, default_deadline_s: float = 0.2,
             max_body_bytes: int = DEFAULT_MAX_BODY, to_device=None) -> web.Application:
    """The aiohttp application serving ``server`` (a :class:`LiveServer`, not yet started).

    Parameters
    ----------
    server : LiveServer
    specs : dict
        Model name to :class:`ModelSpec` (every catalogue model).
    default_deadline_s : float
        Deadline of a request that names none (s, relative).
    max_body_bytes : int
        Larger bodies are answered 413.
    to_device : callable, optional
        Turns a request's input array into what the device's ``infer`` takes (e.g. a tensor).
    """
    names = {name: i for i, name in enumerate(server.workload.model_names)}
    ranges = edge_ranges()
    metrics = Metrics(server)
    server.listeners.append(lambda k, st: metrics.ended(server, k, st))
    state = {"draining": False, "users": 0}
    convert = to_device or (lambda a: a)

    def json_response(obj, status=200):
        return web.Response(body=json.dumps(obj).encode(), status=status,
                            content_type="application/json")

    def error(status: int, message: str):
        if status != 503:
            metrics.bad.labels(str(status)).inc()
        return web.Response(body=error_body(message), status=status,
                            content_type="application/json")

    @web.middleware
    async def errors_as_json(request, handler):
        try:
            return await handler(request)
        except ProtocolError as exc:
            return error(exc.status, exc.message)
        except web.HTTPException as exc:       # aiohttp's own: 404 route, 405, 413 ...
            if exc.status < 400:
                raise
            text = exc.text or exc.reason
            if exc.status == 413:
                text = f"request body over the limit of {max_body_bytes} bytes"
            return error(exc.status, text)
        except Exception as exc:   # noqa: BLE001 - one line on stderr, never a traceback out
            print(f"plcore serve: internal error on {request.method} {request.path}: "
                  f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return error(500, f"internal error: {type(exc).__name__}")

    def spec_of(request) -> ModelSpec:
        name = request.match_info["name"]
        spec = specs.get(name)
        if spec is None:
            raise ProtocolError(404, f"unknown model {name!r}")
        v = request.match_info.get("version")
        if v is not None and v not in spec.versions:
            raise ProtocolError(404, f"model {name!r} has no version {v!r} (versions: "
                                     f"{', '.join(spec.versions)})")
        return spec

    async def live(request):
        return json_response({"live": True})

    async def ready(request):
        if state["draining"]:
            return error(503, "server is shutting down")
        return json_response({"ready": True})

    async def server_metadata(request):
        return json_response({"name": "plcore", "version": __version__,
                              "extensions": ["binary_tensor_data", "parameters"]})

    async def model_metadata(request):
        return json_response(spec_of(request).metadata())

    async def model_ready(request):
        spec_of(request)
        if state["draining"]:
            return error(503, "server is shutting down")
        return json_response({"name": request.match_info["name"], "ready": True})

    async def infer(request):
        spec = spec_of(request)
        if state["draining"]:
            return error(503, "server is shutting down: not taking requests")
        body = await request.read()
        req = parse_infer(body, spec, header_length=request.headers.get(HEADER_LENGTH),
                          content_encoding=request.headers.get("Content-Encoding"),
                          ranges=ranges)
        p = req.parameters
        if "channel_gain" in p:
            gain = p["channel_gain"]
        else:
            gain = float(radio.channel_gain(p.get("distance_m", DEFAULT_DISTANCE_M)))
        a = server.workload.power_w * gain / server.noise
        lo, hi, _ = RANGES["a_hz"]
        if not lo <= a <= hi:
            raise ProtocolError(400, f"parameters.channel_gain: gives a = p g / N0 of {a:.3g} "
                                     f"Hz, outside [{lo:g}, {hi:g}]")
        bits = p.get("data_bits", req.tensor.nbytes * 8.0)
        if "user" in p:
            user = p["user"]
        else:
            user = state["users"]
            state["users"] += 1
        x = convert(req.tensor)
        k, fut = server.submit(names[spec.name], float(bits), p.get("deadline_s",
                               default_deadline_s), gain, user, x, tag=p.get("trace_index"))
        status, reason = await fut
        if status not in (SERVED, LATE):
            return error(503, f"request rejected: {reason} (deadline "
                              f"{server.deadline_abs[k] - server.arrival[k]:g} s)")
        out = server.outputs.pop(k)
        t = server.measured[k]
        params = {"status": STATUS[status], "request": k,
                  "latency_s": server.finish_s[k] - server.arrival[k],
                  "upload_s": server.upload_s[k] - server.arrival[k],
                  "queue_s": server.dispatch_s[k] - server.arrival[k],
                  "load_s": t.load_end_s - t.load_start_s,
                  "infer_s": t.finish_s - t.infer_start_s,
                  "bytes_loaded": t.bytes_loaded}
        out = np.asarray(out.detach().cpu() if hasattr(out, "detach") else out)
        body, headers = encode_infer_response(spec, out.reshape(spec.output.shape),
                                              request_id=req.id, parameters=params,
                                              binary=req.binary_output)
        return web.Response(body=body, headers=headers)

    async def prometheus(request):
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return web.Response(body=generate_latest(metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application(client_max_size=max_body_bytes, middlewares=[errors_as_json])
    app.add_routes([web.get("/v2/health/live", live), web.get("/v2/health/ready", ready),
                    web.get("/v2", server_metadata), web.get("/metrics", prometheus)])
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        app.add_routes([web.get(prefix, model_metadata), web.get(prefix + "/ready", model_ready),
                        web.post(prefix + "/infer", infer)])
    app[STATE] = state
    app[METRICS] = metrics
    return app


async def run_server(server, specs, *, port: int = 8000, announce=None, drain_timeout_s=60.0,
                     stop: asyncio.Event | None = None, **app_options) -> int:
    """Serve on 127.0.0.1:``port`` until SIGTERM/SIGINT (or ``stop``), then drain; returns 0.

    ``announce(url)`` is called once the socket listens (``port=0`` picks a free port).
    """
    app = make_app(server, specs, **app_options)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
    server.start()
    await site.start()
    host, real_port = runner.addresses[0][:2]
    if announce is not None:
        announce(f"http://{host}:{real_port}")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):   # not the main thread
            pass
    await stop.wait()
    app[STATE]["draining"] = True
    t_end = time.monotonic() + drain_timeout_s
    while server.in_flight and time.monotonic() < t_end:
        await asyncio.sleep(0.01)
    await runner.cleanup()
    await server.stop()
    return 0 if not server.in_flight else 1


class BackgroundServer:
    """A server on a free port of 127.0.0.1, in a thread of its own (tests, notebooks).

    Use as a context manager: ``with BackgroundServer(engine, specs) as s: ... s.url ...``; on
    exit it drains like SIGTERM does and joins the thread. ``returncode`` is then what
    :func:`run_server` returned.
    """

    def __init__(self, server, specs, **options):
        self.server, self.specs, self.options = server, specs, options
        self.url = None
        self.returncode = None
        self._loop = self._stop = self._error = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="plcore-serve", daemon=True)

    def _main(self) -> None:
        async def go():
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            return await run_server(self.server, self.specs, port=0, announce=self._announce,
                                    stop=self._stop, **self.options)
        try:
            self.returncode = asyncio.run(go())
        except BaseException as exc:   # noqa: BLE001 - re-raised in the caller's thread
            self._error = exc
            self._ready.set()

    def _announce(self, url: str) -> None:
        self.url = url
        self._ready.set()

    def __enter__(self):
        self._thread.start()
        if not self._ready.wait(60) or self._error is not None:
            raise RuntimeError(f"the server did not start: {self._error!r}")
        return self

    def stop(self, timeout_s: float = 60.0) -> None:
        """Drain and stop (as SIGTERM does); wait for the thread."""
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
        if self._error is not None:
            raise self._error

    def __exit__(self, *exc) -> None:
        self.stop()
