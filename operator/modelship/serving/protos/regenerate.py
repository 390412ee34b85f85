"""Compile the .proto files beside this script into `descriptors.binpb`, the descriptor set
`modelship.serving.protos` loads at run time:

    python operator/modelship/serving/protos/regenerate.py

Needs grpcio-tools (the `dev` extra). The .proto files are modelship's own; the descriptor set
is committed so the server needs no compiler, and a unit test checks it is up to date.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTOS = ("tensorflow_types.proto", "tensorflow_serving.proto", "open_inference.proto")
OUTPUT = HERE / "descriptors.binpb"


def compile_descriptors() -> bytes:
    """The FileDescriptorSet of our .proto files and the well-known types they import."""
    from importlib.resources import files

    from grpc_tools import protoc

    well_known = str(files("grpc_tools") / "_proto")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "descriptors.binpb"
        code = protoc.main(
            [
                "protoc",
                f"-I{HERE}",
                f"-I{well_known}",
                "--include_imports",
                f"--descriptor_set_out={out}",
                *PROTOS,
            ]
        )
        if code != 0:
            raise SystemExit(f"protoc failed with exit code {code}")
        return out.read_bytes()


if __name__ == "__main__":
    OUTPUT.write_bytes(compile_descriptors())
    print(f"wrote {OUTPUT}", file=sys.stderr)
