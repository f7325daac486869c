"""The Open Inference Protocol codec against tritonclient's own encoder and decoder.

``tritonclient.http`` builds request bodies (``InferInput`` and the function its client posts
with) and parses response bodies (``InferResult.from_response_body``): an implementation of the
protocol written by others, used here as the reference for ours, byte for byte.
"""

from __future__ import annotations

import gzip
import json
import zlib

import numpy as np
import pytest

tritonclient = pytest.importorskip("tritonclient.http")
from tritonclient.http import InferInput, InferRequestedOutput, InferResult  # noqa: E402
from tritonclient.http._utils import _get_inference_request  # noqa: E402

from plcore.serving.protocol import (  # noqa: E402
    ModelSpec, ProtocolError, TensorSpec, encode_infer_response, parse_infer)

SPEC = ModelSpec("r50-cars", TensorSpec("input", "FP32", (1, 3, 4, 4)),
                 TensorSpec("output", "FP32", (1, 5)))
X = np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)


def triton_body(x=X, *, binary=True, outputs=None, parameters=None, name="input",
                datatype="FP32"):
    inp = InferInput(name, list(x.shape), datatype)
    inp.set_data_from_numpy(x, binary_data=binary)
    return _get_inference_request([inp], "req-1", outputs, 0, False, False, 0, None,
                                  parameters or {})


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_bodies_parse_bit_exactly(binary):
    body, hlen = triton_body(binary=binary, parameters={"deadline_s": 0.25, "user": 3,
                                                        "channel_gain": 1e-10})
    req = parse_infer(body, SPEC, header_length=None if hlen is None else str(hlen))
    assert req.tensor.dtype == np.float32 and req.tensor.shape == X.shape
    assert np.array_equal(req.tensor, X)
    assert req.parameters["deadline_s"] == 0.25 and req.parameters["user"] == 3
    assert req.id == "req-1"
    assert req.binary_output  # no output named: tritonclient asks for binary outputs


@pytest.mark.parametrize("binary_out", [True, False])
def test_responses_decode_with_tritonclient(binary_out):
    y = np.arange(5, dtype=np.float32).reshape(1, 5) / 7
    body, headers = encode_infer_response(SPEC, y, request_id="req-1",
                                          parameters={"status": "served"}, binary=binary_out)
    result = InferResult.from_response_body(
        body, header_length=None if not binary_out else int(headers["Inference-Header-Content-"
                                                                    "Length"]))
    assert np.array_equal(result.as_numpy("output"), y)
    assert result.get_response()["parameters"]["status"] == "served"
    assert result.get_response()["id"] == "req-1"


def test_requested_output_chooses_json_or_binary():
    for flag in (True, False):
        body, hlen = triton_body(outputs=[InferRequestedOutput("output", binary_data=flag)])
        assert parse_infer(body, SPEC, header_length=str(hlen)).binary_output is flag


@pytest.mark.parametrize("encoding,compress", [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_compressed_request_bodies(encoding, compress):
    body, hlen = triton_body(binary=False)
    req = parse_infer(compress(body), SPEC, content_encoding=encoding)
    assert np.array_equal(req.tensor, X)


def bad(body, hlen=None, **kw):
    with pytest.raises(ProtocolError) as info:
        parse_infer(body, SPEC, header_length=hlen, **kw)
    return info.value


def json_body(**changes):
    d = {"inputs": [{"name": "input", "shape": [1, 3, 4, 4], "datatype": "FP32",
                     "data": X.reshape(-1).tolist()}]}
    for k, v in changes.items():
        if k in ("name", "shape", "datatype", "data", "parameters_in"):
            d["inputs"][0][k if k != "parameters_in" else "parameters"] = v
        else:
            d[k] = v
    return json.dumps(d).encode()


@pytest.mark.parametrize("body,fragment", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (json.dumps({"inputs": []}).encode(), "exactly one input"),
    (json_body(name="pixels"), "inputs[0].name"),
    (json_body(shape=[1, 3, 4, 5]), ".shape"),
    (json_body(shape="1x3"), ".shape"),
    (json_body(datatype="FP64"), ".datatype"),
    (json_body(data=[1.0] * 47), "47 values"),
    (json_body(data=["a"] * 48), "not a list of FP32"),
    (json_body(data=[1e400] * 48), "NaN or infinite"),
    (json_body(data=None), ".data"),
    (json_body(parameters={"deadline_s": "soon"}), "parameters.deadline_s"),
    (json_body(parameters={"deadline_s": True}), "parameters.deadline_s"),
    (json_body(parameters={"user": 1.5}), "parameters.user"),
    (json_body(parameters=[1]), "parameters: expected a JSON object"),
    (json_body(outputs=[{"name": "logits"}]), "unknown output"),
    (b"[" * 100000 + b"]" * 100000, "not valid JSON"),
])
def test_malformed_bodies_are_400_naming_the_field(body, fragment):
    err = bad(body)
    assert err.status == 400 and fragment in err.message


def test_binary_sizes_must_agree():
    body, hlen = triton_body()
    assert "binary data" in bad(body[:-4], str(hlen)).message
    assert "Content-Length" in bad(body, "99999999").message
    assert "Content-Length" in bad(body, "ten").message
    head = json.loads(body[:hlen])
    head["inputs"][0]["parameters"]["binary_data_size"] = 12
    js = json.dumps(head).encode()
    assert "binary_data_size" in bad(js + body[hlen:], str(len(js))).message
    assert "gzip" in bad(b"\x1f\x8bjunk", content_encoding="gzip").message
    assert "not supported" in bad(body, content_encoding="br").message


def test_parameter_ranges():
    ranges = {"deadline_s": (1e-12, 1e6)}
    err = bad(json_body(parameters={"deadline_s": -1}), ranges=ranges)
    assert "parameters.deadline_s" in err.message and "outside" in err.message
    req = parse_infer(json_body(parameters={"deadline_s": 1}), SPEC, ranges=ranges)
    assert req.parameters["deadline_s"] == 1.0
