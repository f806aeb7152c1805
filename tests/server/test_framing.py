"""The wire format read defensively (:mod:`dw_lsp.server.framing`), the JSON-RPC envelope
check, the TCP token and endpoint rules (:mod:`dw_lsp.server.transport`), and the connection
options of :mod:`dw_lsp.server.configuration`, without a server process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dw_lsp.server.configuration import combine, initialization_section, trust_of
from dw_lsp.server.framing import (
    MAX_LINE_BYTES,
    BlockingSource,
    FramingError,
    MessageReader,
    parse_length,
)
from dw_lsp.server.transport import TOKEN_ENV, decode, tcp_endpoint, token_refusal
from dw_lsp.settings import workspace_refusal


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def read_all(data: bytes, max_bytes: int = 2**20) -> list[bytes | FramingError]:
    reader = MessageReader(BlockingSource(io.BytesIO(data)), max_bytes)
    out: list[bytes | FramingError] = []
    while (item := await reader.read()) is not None:
        out.append(item)
    return out


@pytest.mark.parametrize(
    ("value", "length", "problem"),
    [
        (b"12", 12, None),
        (b"0", None, "cannot be empty"),
        (b"-1", None, "not a number"),
        (b"1e3", None, "not a number"),
        (b"", None, "not a number"),
        (b"+5", None, "not a number"),
        (b"4611686018427387904", None, "exceeds"),
        (b"9" * 400, None, "exceeds"),
        (b"1048577", None, "exceeds the 1 MiB limit"),
    ],
)
def test_parse_length(value, length, problem):
    got, why = parse_length(value, 2**20)
    assert got == length
    assert (why is None) if problem is None else (problem in str(why))


async def test_messages_in_a_row_with_either_line_end_and_any_header_case():
    data = frame(b'{"a":1}') + b"content-length: 7\n\n" + b'{"b":2}' + frame(b"{}")
    data += b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n" + frame(b"[]")
    assert await read_all(data) == [b'{"a":1}', b'{"b":2}', b"{}", b"[]"]


async def test_a_bad_length_skips_to_the_next_header():
    data = b"Content-Length: 4611686018427387904\r\n\r\n" + b'{"lost": 1}' + frame(b'{"ok":1}')
    got = await read_all(data)
    assert isinstance(got[0], FramingError) and "exceeds" in got[0].message
    assert got[1:] == [b'{"ok":1}']


async def test_a_header_split_across_junk_chunks_is_found():
    for offset in range(-20, 20, 3):  # the header straddles the chunk boundary
        junk = b"z" * (MAX_LINE_BYTES + offset)
        assert await read_all(junk + frame(b'{"x":1}')) == [b'{"x":1}'], offset


async def test_conflicting_lengths_an_http_request_and_a_missing_length():
    body = b'{"jsonrpc":"2.0","id":1,"method":"initialize"}'
    http = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    twice = b"Content-Length: 3\r\nContent-Length: 4\r\n\r\n"
    none = b"Content-Type: text/plain\r\n\r\n"
    got = await read_all(http + twice + none + frame(b'{"ok":1}'))
    assert [type(g) for g in got] == [FramingError] * 3 + [bytes]
    assert "HTTP" in got[0].message and "two different" in got[1].message  # type: ignore[union-attr]
    assert got[3] == b'{"ok":1}'


async def test_the_end_of_the_stream_mid_message_is_the_end():
    assert await read_all(b"Content-Length: 50\r\n\r\n{") == []
    assert await read_all(b"Content-Len") == []


@pytest.mark.parametrize(
    ("body", "msg_id", "why"),
    [
        (b'{"jsonrpc":"2.0","id":3,"method":"x"}', 3, None),
        (b'{"jsonrpc":"2.0","method":"x"}', None, None),
        (b'{"jsonrpc":"2.0","id":"a","result":null}', "a", None),
        (b"\xff", None, "UTF-8"),
        (b"[1]", None, "JSON object"),
        (b"[" * 50_000, None, "JSON"),
        (b'{"jsonrpc":"2.0","id":true,"method":"x"}', None, "id"),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"x"}', None, "id"),
        (b'{"id":4,"method":"x"}', 4, "jsonrpc"),
        (b'{"jsonrpc":"2.0","id":5,"method":7}', 5, "method"),
        (b'{"jsonrpc":"2.0"}', None, "method or an id"),
    ],
)
def test_decode(body, msg_id, why):
    message, got_id, problem = decode(body)
    assert got_id == msg_id
    if why is None:
        assert problem is None and message == json.loads(body)
    else:
        assert message is None and why in str(problem)


def initialize(options: object) -> dict[str, object]:
    params = {"capabilities": {}, "initializationOptions": options}
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}


def test_token_refusal():
    token = "t" * 43
    assert token_refusal(initialize({"token": token}), token) is None
    for options in (None, {}, {"token": None}, {"token": 5}, {"token": token[:-1]}, {"token": ""}):
        assert token_refusal(initialize(options), token) is not None, options
    assert token_refusal(initialize({"token": "\ud800"}), token) is not None
    notification = {"jsonrpc": "2.0", "method": "initialize", "params": {}}
    assert "first message" in str(token_refusal(notification, token))
    assert "first message" in str(token_refusal(None, token))


def test_tcp_endpoint():
    generated = tcp_endpoint("127.0.0.1", None, {})
    assert not isinstance(generated, str) and generated.generated and len(generated.token) >= 32
    assert tcp_endpoint("127.0.0.1", None, {}).token != generated.token  # type: ignore[union-attr]
    from_env = tcp_endpoint("localhost", None, {TOKEN_ENV: "abc"})
    assert not isinstance(from_env, str)
    assert (from_env.host, from_env.token, from_env.generated) == ("127.0.0.1", "abc", False)
    flag = tcp_endpoint("::1", "flag", {TOKEN_ENV: "env"})
    assert not isinstance(flag, str) and flag.token == "flag"
    for host in ("0.0.0.0", "::", "192.168.1.5", "example.com", ""):
        assert "loopback" in str(tcp_endpoint(host, None, {})), host
    assert "empty" in str(tcp_endpoint("127.0.0.1", " ", {}))


@pytest.mark.parametrize(
    ("options", "trusted", "complains"),
    [
        (None, True, False),
        ({}, True, False),
        ({"trusted": True}, True, False),
        ({"trusted": False}, False, False),
        ({"trusted": "false"}, False, True),
        ({"trusted": None}, False, True),
        ({"trusted": 1}, False, True),
    ],
)
def test_trust_of(options, trusted, complains):
    got, problem = trust_of(options)
    assert got is trusted and (problem is not None) is complains


def test_connection_options_are_no_settings():
    options = {"trusted": False, "token": "x", "outputDir": "o"}
    assert initialization_section(options) == {"outputDir": "o"}
    settings, messages = combine(options, None)
    assert settings.output_dir == "o" and messages == []


def test_the_workspace_section_cannot_set_what_runs():
    settings, messages = combine(
        {"worker": {"command": ["mine"]}}, {"worker": {"command": ["evil"]}, "logLevel": "debug"}
    )
    assert settings.worker_command == ["mine"] and settings.log_level == "DEBUG"
    assert messages == [workspace_refusal("worker.command")]


_SOURCE_OF_STDIN = """
import asyncio
from dw_lsp.server.app import create_server
from dw_lsp.server.transport import stdin_source
print(type(asyncio.run(stdin_source(create_server()))).__name__)
"""


def _stdin_source_for(stdin: object) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _SOURCE_OF_STDIN],
        stdin=stdin,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return done.stdout.decode().strip()


def test_a_piped_stdin_is_read_by_the_event_loop_a_file_in_threads(tmp_path: Path) -> None:
    # a pipe, as every editor gives: no thread hand-off per header line and body
    assert _stdin_source_for(subprocess.PIPE) == "StreamSource"
    # a regular file cannot be watched by the loop
    source = tmp_path / "in.txt"
    source.write_bytes(b"")
    with source.open("rb") as stdin:
        assert _stdin_source_for(stdin) == "BlockingSource"


def test_one_socket_for_stdin_and_stdout_stays_blocking(tmp_path: Path) -> None:
    # the loop would make the shared socket non-blocking for the server's writes too
    import socket

    ours, theirs = socket.socketpair()
    with ours, theirs:
        subprocess.run(
            [sys.executable, "-c", _SOURCE_OF_STDIN],
            stdin=theirs,
            stdout=theirs,
            stderr=subprocess.PIPE,
            timeout=60,
            check=True,
        )
        ours.settimeout(30)
        assert ours.recv(100).decode().strip() == "BlockingSource"
