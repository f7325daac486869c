"""The Open Inference Protocol (KServe v2, Triton's HTTP/REST API): bodies in and out.

What the server accepts (and what ``tritonclient.http`` sends):

* ``POST /v2/models/{name}[/versions/{v}]/infer`` with a JSON body
  ``{"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "data" | "parameters":
  {"binary_data_size": N}}], "outputs"?: [{"name", "parameters"?: {"binary_data": bool}}]}``;
* the **binary tensor data extension**: the JSON header first, then the raw little-endian tensor
  bytes of every input marked ``binary_data_size``, in input order; the header's length is the
  HTTP header ``Inference-Header-Content-Length``. Outputs are sent back in binary when the request
  asks (``"binary_data": true`` per output, or ``"binary_data_output": true`` in its parameters,
  which ``tritonclient`` sets when no output is named), and then the response carries the same
  header;
* ``Content-Encoding: gzip`` or ``deflate`` on the request body (``tritonclient``'s
  ``request_compression_algorithm``).

Per-request values of the edge model travel in the request's ``parameters``: ``deadline_s``
(relative to the arrival, s; default the server's), ``user`` (int), ``channel_gain`` (linear) or
``distance_m`` (then the path loss of :mod:`plcore.model.radio`), ``data_bits`` (the uploaded
input's size; default the input tensor's bytes times 8) and ``trace_index`` (int: a load
generator's index of the request in its trace, kept with the server's record of it). Each is checked against the ranges of
instance files (``plcore.model.instance.RANGES``).

Everything here is pure: bytes and dicts in, bytes and dicts out, errors as :class:`ProtocolError`
with the HTTP status to answer, so that the protocol is tested without a server.
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ProtocolError", "TensorSpec", "ModelSpec", "InferRequest", "parse_infer",
           "encode_infer_response", "error_body", "DATATYPES", "HEADER_LENGTH"]

#: Protocol datatype -> numpy dtype (little-endian, as the binary extension sends tensors).
#: BYTES (length-prefixed strings) and BF16 (no numpy type) are not supported.
DATATYPES = {
    "BOOL": np.dtype("?"), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"), "UINT64": np.dtype("<u8"), "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
}
#: HTTP header carrying the JSON header's length (bytes) of a binary-extension body.
HEADER_LENGTH = "Inference-Header-Content-Length"


class ProtocolError(Exception):
    """A request the server refuses, with the HTTP status to answer (400, 404, 413, 503, ...)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)
        self.message = message


def error_body(message: str) -> bytes:
    """The protocol's error body: ``{"error": message}``."""
    return json.dumps({"error": message}).encode()


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model: name, datatype (protocol name) and shape."""

    name: str
    datatype: str
    shape: tuple

    def as_dict(self) -> dict:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(DATATYPES[self.datatype]).itemsize


@dataclass(frozen=True)
class ModelSpec:
    """What ``GET /v2/models/{name}`` says of a model: one input, one output."""

    name: str
    input: TensorSpec
    output: TensorSpec
    platform: str = "pytorch"
    versions: tuple = ("1",)

    def metadata(self) -> dict:
        return {"name": self.name, "versions": list(self.versions), "platform": self.platform,
                "inputs": [self.input.as_dict()], "outputs": [self.output.as_dict()]}


@dataclass
class InferRequest:
    """A parsed infer request.

    Attributes
    ----------
    id : str or None
        The request's ``id``, echoed in the response.
    tensor : ndarray
        The input, shaped and typed as the model's input spec.
    parameters : dict
        The request-level parameters (the edge model's values among them, checked).
    binary_output : bool
        Send the output in binary (the extension) rather than as a JSON list.
    """

    id: str | None
    tensor: np.ndarray
    parameters: dict = field(default_factory=dict)
    binary_output: bool = False


def _decode_body(body: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding == "identity":
        return body
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, EOFError, zlib.error) as exc:
        raise ProtocolError(400, f"body: not valid {encoding} data ({exc})") from None
    raise ProtocolError(400, f"Content-Encoding {encoding!r} is not supported "
                             "(identity, gzip, deflate)")


def _number(value, where: str, lo: float, hi: float, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(400, f"{where}: expected a number, got {type(value).__name__}")
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise ProtocolError(400, f"{where}: expected an integer, got {value!r}")
    v = float(value) if not integer else value
    if not (isinstance(v, int) or math.isfinite(v)) or not lo <= v <= hi:
        raise ProtocolError(400, f"{where}: {value!r} is outside [{lo:g}, {hi:g}]")
    return int(v) if integer else v


def parse_infer(body: bytes, spec: ModelSpec, *, header_length: str | None = None,
                content_encoding: str | None = None, ranges: dict | None = None) -> InferRequest:
    """Parse and check an infer request for the model ``spec``.

    Parameters
    ----------
    body : bytes
        The HTTP body as received.
    spec : ModelSpec
        The model's input and output.
    header_length : str, optional
        The ``Inference-Header-Content-Length`` header: the JSON header's length in bytes, the
        binary tensor data following it (absent: the body is JSON only).
    content_encoding : str, optional
        The ``Content-Encoding`` header.
    ranges : dict, optional
        ``name -> (lo, hi)`` for the edge parameters (``deadline_s``, ``channel_gain``,
        ``distance_m``, ``data_bits``, ``user``); default: no range check beyond finiteness.

    Returns
    -------
    InferRequest

    Raises
    ------
    ProtocolError
        400 for a malformed body, a wrong input name, shape or datatype, or a bad parameter.

    Examples
    --------
    >>> spec = ModelSpec("m", TensorSpec("input", "FP32", (1, 2)), TensorSpec("output", "FP32", (1, 3)))
    >>> r = parse_infer(b'{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", '
    ...                 b'"data": [0.5, 1.5]}], "parameters": {"deadline_s": 0.2}}', spec)
    >>> r.tensor.tolist(), r.parameters["deadline_s"], r.binary_output
    ([[0.5, 1.5]], 0.2, False)

    Notes
    -----
    O(size of the body).
    """
    body = _decode_body(body, content_encoding)
    if header_length is not None:
        try:
            hlen = int(header_length)
        except ValueError:
            raise ProtocolError(400, f"{HEADER_LENGTH}: not an integer: "
                                     f"{header_length[:40]!r}") from None
        if not 0 < hlen <= len(body):
            raise ProtocolError(400, f"{HEADER_LENGTH}: {hlen} is not within the body's "
                                     f"{len(body)} bytes")
        head, binary = body[:hlen], memoryview(body)[hlen:]
    else:
        head, binary = body, memoryview(b"")
    try:
        req = json.loads(head)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(400, f"body: not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(req, dict):
        raise ProtocolError(400, "body: expected a JSON object")
    inputs = req.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ProtocolError(400, f"inputs: model {spec.name!r} takes exactly one input "
                                 f"({spec.input.name!r})")
    tensor = _parse_input(inputs[0], spec.input, binary)
    params = req.get("parameters", {})
    if not isinstance(params, dict):
        raise ProtocolError(400, "parameters: expected a JSON object")
    checked = dict(params)
    ranges = ranges or {}
    for name in ("deadline_s", "channel_gain", "distance_m", "data_bits", "user", "trace_index"):
        if name in params:
            lo, hi = ranges.get(name, (-math.inf, math.inf))
            checked[name] = _number(params[name], f"parameters.{name}", lo, hi,
                                    integer=name in ("user", "trace_index"))
    binary_out = bool(params.get("binary_data_output", False))
    outputs = req.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise ProtocolError(400, "outputs: expected a list of objects")
        for o in outputs:
            if o.get("name") != spec.output.name:
                raise ProtocolError(400, f"outputs: unknown output {o.get('name')!r} (model "
                                         f"{spec.name!r} has {spec.output.name!r})")
            op = o.get("parameters") or {}
            binary_out = bool(op.get("binary_data", binary_out)) if isinstance(op, dict) else binary_out
    rid = req.get("id")
    return InferRequest(id=None if rid is None else str(rid), tensor=tensor, parameters=checked,
                        binary_output=binary_out)


def _parse_input(inp: dict, spec: TensorSpec, binary: memoryview) -> np.ndarray:
    where = f"inputs[0] ({inp.get('name')!r})"
    if inp.get("name") != spec.name:
        raise ProtocolError(400, f"inputs[0].name: {inp.get('name')!r}, expected {spec.name!r}")
    if inp.get("datatype") != spec.datatype:
        raise ProtocolError(400, f"{where}.datatype: {inp.get('datatype')!r}, expected "
                                 f"{spec.datatype!r}")
    shape = inp.get("shape")
    if not isinstance(shape, list) or [int(s) if isinstance(s, int) else s for s in shape] \
            != list(spec.shape):
        raise ProtocolError(400, f"{where}.shape: {str(shape)[:60]}, expected "
                                 f"{list(spec.shape)}")
    dtype = np.dtype(DATATYPES[spec.datatype])
    count = int(np.prod(spec.shape))
    p = inp.get("parameters") or {}
    size = p.get("binary_data_size") if isinstance(p, dict) else None
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size != spec.nbytes:
            raise ProtocolError(400, f"{where}.parameters.binary_data_size: {size!r}, expected "
                                     f"{spec.nbytes} ({spec.datatype} x {list(spec.shape)})")
        if len(binary) != size:
            raise ProtocolError(400, f"{where}: {len(binary)} bytes of binary data after the "
                                     f"header, expected {size}")
        return np.frombuffer(binary, dtype=dtype).reshape(spec.shape)
    if len(binary):
        raise ProtocolError(400, f"{where}: binary data after the header but no "
                                 "binary_data_size")
    data = inp.get("data")
    if not isinstance(data, list):
        raise ProtocolError(400, f"{where}.data: expected a list of {count} numbers")
    try:
        arr = np.asarray(data, dtype=dtype)
    except (ValueError, TypeError, OverflowError):
        raise ProtocolError(400, f"{where}.data: not a list of {spec.datatype} numbers") from None
    if arr.size != count:
        raise ProtocolError(400, f"{where}.data: {arr.size} values, expected {count}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ProtocolError(400, f"{where}.data: NaN or infinite values")
    return arr.reshape(spec.shape)


def encode_infer_response(spec: ModelSpec, output: np.ndarray, *, request_id: str | None,
                          parameters: dict, binary: bool) -> tuple[bytes, dict]:
    """The response body and extra HTTP headers for ``output`` (shaped as ``spec.output``).

    With ``binary`` the output's bytes follow the JSON header and the headers carry
    ``Inference-Header-Content-Length``.

    Examples
    --------
    >>> spec = ModelSpec("m", TensorSpec("input", "FP32", (1, 2)), TensorSpec("output", "FP32", (1, 2)))
    >>> body, headers = encode_infer_response(spec, np.array([[1, 2]], "f4"), request_id="7",
    ...                                       parameters={}, binary=True)
    >>> int(headers["Inference-Header-Content-Length"]) + 8 == len(body)
    True
    """
    out = np.ascontiguousarray(output, dtype=np.dtype(DATATYPES[spec.output.datatype]))
    head = {"model_name": spec.name, "model_version": spec.versions[0], "parameters": parameters,
            "outputs": [{"name": spec.output.name, "datatype": spec.output.datatype,
                         "shape": list(out.shape)}]}
    if request_id is not None:
        head["id"] = request_id
    if binary:
        raw = out.tobytes()
        head["outputs"][0]["parameters"] = {"binary_data_size": len(raw)}
        js = json.dumps(head).encode()
        return js + raw, {HEADER_LENGTH: str(len(js)), "Content-Type": "application/octet-stream"}
    head["outputs"][0]["data"] = out.reshape(-1).tolist()
    return json.dumps(head).encode(), {"Content-Type": "application/json"}
