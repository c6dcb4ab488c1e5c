#!/usr/bin/env bash
# Regenerates the checked-in Python code from prela_spans.proto (needs grpcio-tools, from the dev extra).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
python -m grpc_tools.protoc -I"$here" --python_out="$out" --pyi_out="$out" "$here/prela_spans.proto"
