"""The checked-in generated code matches prela_spans.proto, and the codec round-trips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from google.protobuf.descriptor_pb2 import FileDescriptorProto, FileDescriptorSet

from prela.model import SpanRecord
from prela.proto import prela_spans_pb2
from prela.proto.codec import decode_batch, encode_batch

PROTO_DIR = Path(__file__).resolve().parents[2] / "proto"


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    out = tmp_path / "set.pb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}", f"--descriptor_set_out={out}",
         str(PROTO_DIR / "prela_spans.proto")],
        check=True,
    )  # fmt: skip
    [fresh] = FileDescriptorSet.FromString(out.read_bytes()).file
    for message in fresh.message_type:  # protoc adds json_name to descriptor sets, not to gencode
        for field in message.field:
            field.ClearField("json_name")
    checked_in = FileDescriptorProto.FromString(prela_spans_pb2.DESCRIPTOR.serialized_pb)
    assert checked_in == fresh, "proto/prela_spans_pb2.py is stale: run proto/generate.sh"


def test_codec_round_trips_every_field() -> None:
    record = SpanRecord(
        "proj", "ab" * 16, "cd" * 8, "ef" * 8, "k=v", "chat", "LLM", "CLIENT", "svc", "scope", "1.0",
        1_700_000_000_000_000_001, 1_700_000_000_500_000_000, 499_999_999, "ERROR", "boom",
        '{"a":1}', '{"service.name":"svc"}', '{"s":true}', '[{"name":"e"}]', '[{"trace_id":"x"}]',
        "openai", "gpt-4o-2024-08-06", "gpt-4o", 100, 20, 120, 30, 5, 7, 0.00125, "hi", "hello",
    )  # fmt: skip
    project_id, [decoded] = decode_batch(encode_batch("proj", [record]))
    assert project_id == "proj"
    assert decoded == record
