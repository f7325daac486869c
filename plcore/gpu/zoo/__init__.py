"""Torch model zoo with shared parameter blocks (networks defined here; random weights)."""

from .networks import ARCHITECTURES, build_blocks, input_shape
from .zoo import Zoo, build_zoo, meta_copy, tensor_bytes

__all__ = ["ARCHITECTURES", "build_blocks", "input_shape", "Zoo", "build_zoo", "meta_copy",
           "tensor_bytes"]
