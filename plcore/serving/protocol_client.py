"""The client's side of the Open Inference Protocol (KServe v2 / Triton REST): tensors and bodies.

What a client needs to build requests from a model's metadata and to read answers, with no HTTP
library: the datatypes and their sizes, a seeded input tensor, request bodies as pre-encoded
pieces (the per-request ``parameters`` object spliced in) and the JSON part of an answer.

Binary tensor data extension
    The body is the JSON header followed by the raw little-endian tensor bytes, in the order of
    the inputs; each input carries ``"parameters": {"binary_data_size": N}`` and the HTTP header
    ``Inference-Header-Content-Length`` gives the JSON header's length in bytes. A server may
    answer the same way (it does when the request's ``parameters`` say ``"binary_data_output":
    true``).
"""

from __future__ import annotations

import json

import numpy as np

from .protocol import DATATYPES, HEADER_LENGTH

__all__ = ["DATATYPES", "HEADER_LENGTH", "InputSpec", "input_specs", "seeded_tensor",
           "request_pieces", "answer_json"]

#: Largest input tensor a client builds (elements): 2^28, a GiB of FP32.
MAX_ELEMENTS = 1 << 28


class InputSpec(tuple):
    """``(name, shape, datatype)`` of one input, with a concrete shape (dynamic ``-1`` -> 1)."""

    __slots__ = ()

    def __new__(cls, name: str, shape: tuple, datatype: str):
        return tuple.__new__(cls, (name, shape, datatype))

    name = property(lambda self: self[0])
    shape = property(lambda self: self[1])
    datatype = property(lambda self: self[2])


def input_specs(metadata, where: str) -> list[InputSpec]:
    """The inputs of a model's metadata (``GET /v2/models/{name}``), checked.

    Parameters
    ----------
    metadata : object
        The decoded JSON answer: a dict with ``"inputs": [{"name", "datatype", "shape"}, ...]``.
    where : str
        Names the source in error messages (the URL).

    Returns
    -------
    list of InputSpec
        Dynamic dimensions (``-1``) become 1: one sample per request.

    Raises
    ------
    ValueError
        For missing or malformed entries, an unsupported datatype or an oversized tensor, naming
        ``where`` and the entry (``inputs[0].shape``).

    Examples
    --------
    >>> from plcore.serving.protocol_client import input_specs
    >>> input_specs({"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]}, "m")
    [('x', (1, 3), 'FP32')]
    """
    inputs = metadata.get("inputs") if isinstance(metadata, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise ValueError(f"{where}: the model metadata has no 'inputs' list")
    out = []
    for i, spec in enumerate(inputs):
        entry = f"{where}: inputs[{i}]"
        if not isinstance(spec, dict):
            raise ValueError(f"{entry}: not an object")
        name, dtype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{entry}.name: missing or not a string")
        if dtype not in DATATYPES:
            raise ValueError(f"{entry}.datatype: {str(dtype)[:40]!r} is not supported (one of "
                             f"{', '.join(DATATYPES)})")
        if (not isinstance(shape, list) or len(shape) > 16
                or not all(type(d) is int and d >= -1 for d in shape)):
            raise ValueError(f"{entry}.shape: expected a list of integers >= -1, got "
                             f"{str(shape)[:60]}")
        concrete = tuple(1 if d == -1 else d for d in shape)
        if int(np.prod(concrete, dtype=object)) > MAX_ELEMENTS:
            raise ValueError(f"{entry}.shape: {list(shape)} has more than {MAX_ELEMENTS} elements")
        out.append(InputSpec(name, concrete, dtype))
    return out


def seeded_tensor(spec: InputSpec, rng: np.random.Generator) -> np.ndarray:
    """A tensor of ``spec``'s shape and datatype drawn from ``rng``.

    Floats are standard normal, integers uniform in 0..9 (valid for every integer type), BOOL
    fair coins. O(elements).
    """
    dtype = DATATYPES[spec.datatype]
    if dtype.kind == "f":
        x = rng.standard_normal(spec.shape)
    elif dtype.kind == "b":
        x = rng.integers(0, 2, spec.shape)
    else:
        x = rng.integers(0, 10, spec.shape)
    return np.ascontiguousarray(x.astype(dtype))


def request_pieces(specs: list[InputSpec], tensors: list[np.ndarray],
                   binary: bool) -> tuple[bytes, bytes, tuple[bytes, ...]]:
    """A request body as pieces: ``head + PARAMETERS + tail`` then ``data``.

    The body of a request whose top-level ``parameters`` object encodes to ``P`` is
    ``head + P + tail + b"".join(data)``; with ``binary`` the JSON header is ``head + P + tail``
    (its length goes in :data:`HEADER_LENGTH`) and ``data`` the raw tensors, otherwise ``data``
    is empty and the tensors are in the JSON. Encoding once per model and splicing ``P`` in
    keeps the per-request cost to a few string operations.

    Examples
    --------
    >>> import numpy as np
    >>> from plcore.serving.protocol_client import InputSpec, request_pieces
    >>> spec = InputSpec("x", (2,), "FP32")
    >>> head, tail, data = request_pieces([spec], [np.array([1, 2], "<f4")], binary=False)
    >>> import json
    >>> body = json.loads(head + b'{"user":1}' + tail)
    >>> body["inputs"][0]["data"], body["parameters"], data
    ([1.0, 2.0], {'user': 1}, ())
    """
    entries = []
    for spec, t in zip(specs, tensors):
        e = {"name": spec.name, "shape": list(spec.shape), "datatype": spec.datatype}
        if binary:
            e["parameters"] = {"binary_data_size": t.nbytes}
        else:
            e["data"] = t.ravel().tolist()
        entries.append(e)
    head = ('{"inputs":' + json.dumps(entries, separators=(",", ":")) + ',"parameters":').encode()
    data = tuple(memoryview(t.reshape(-1)).cast("B") for t in tensors) if binary else ()
    return head, b"}", data


def answer_json(body: bytes, header_length: str | None):
    """The JSON part of an answer: the whole body, or its first ``header_length`` bytes.

    Raises :class:`ValueError` when it is not JSON or the length is not an integer in range.
    """
    if header_length is not None:
        n = int(header_length)
        if not 0 <= n <= len(body):
            raise ValueError(f"{HEADER_LENGTH} {n} outside the body's {len(body)} bytes")
        body = body[:n]
    return json.loads(body)
