"""The real edge server and its load generator.

The online wing's policies and block cache decide; this wing executes their decisions for real:
blocks loaded from safetensors files by the gpu wing's packed loader into a preallocated arena,
real torch inference, requests over HTTP in the Open Inference Protocol (KServe v2 / Triton REST).
The radio is emulated: a request's input counts as received when its upload would have ended
under the bandwidth the server allocates (the simulator's uplink model).
"""
