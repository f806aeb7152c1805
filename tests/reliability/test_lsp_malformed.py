"""Malformed LSP traffic against a real server process over stdio: bad Content-Length values,
garbage between messages, invalid JSON, broken envelopes, wrong parameter types on every
handler the server registers, documents that were never opened, requests before
``initialize``, and the exit codes. Each case must leave the server answering the next valid
request correctly; each is counted in the tally (suite "lsp: malformed")."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from lsp_raw import NO_WORKER, RawServer, frame

from dw_lsp.server.app import create_server

SUITE = "lsp: malformed"
OPTIONS = {"worker": {"command": NO_WORKER, "prewarm": False}}
WORKFLOW = json.dumps(
    {
        "id": "probe",
        "steps": [
            {
                "name": "draw",
                "pipeline": {
                    "configuration": {"component_type": "StableDiffusionPipeline"},
                    "from_pretrained_arguments": {"model_name": "builtin:tiny-sd"},
                    "arguments": {"prompt": "a cat"},
                },
            }
        ],
    },
    indent=2,
)
SERVER_NOT_INITIALIZED = -32002
INVALID_REQUEST = -32600


# One server for the whole module (starting one takes seconds on a busy machine): each case
# must leave it answering, which is the point; the lifecycle tests start their own.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RawServer]:
    tmp = tmp_path_factory.mktemp("malformed")
    root = tmp / "ws"
    root.mkdir()
    srv = await RawServer.start(tmp / "stderr.log")
    answer = await srv.initialize(OPTIONS, root)
    assert "result" in answer
    uri = srv.open(root / "flow.json", WORKFLOW)
    await srv.published(uri)
    yield srv
    await srv.close()


@pytest.fixture
def server(shared: RawServer) -> RawServer:
    """The shared server, with what it sent before this test forgotten."""
    shared.received.clear()
    return shared


def hover(msg_id: Any, uri: str = "file:///nowhere.json") -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": msg_id,
        "method": "textDocument/hover",
        "params": {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}},
    }


def body_of(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


async def survives(server: RawServer, tally: Any, name: str) -> None:
    """Count the case; it survived when the next valid request is answered correctly."""
    tally.tried(SUITE)
    if await server.alive():
        tally.survived(SUITE)
        return
    tally.lost(SUITE, name)
    pytest.fail(f"{name}: the server stopped answering\n{server.stderr()[-3000:]}")


# -- framing -----------------------------------------------------------------------------
HIDDEN = 777  # the id of a request inside a frame the server must not read as a message

BAD_LENGTHS = {
    "length 2^62": b"4611686018427387904",
    "negative length": b"-5",
    "non-numeric length": b"abc",
    "length of 30 digits": b"9" * 30,
    "float length": b"1e3",
    "empty length": b"",
    "length over the 64 MiB cap": b"%d" % (64 * 2**20 + 1),
}


@pytest.mark.parametrize("value", BAD_LENGTHS.values(), ids=list(BAD_LENGTHS))
async def test_bad_content_length_is_answered_and_survived(server, tally, value):
    body = body_of(hover(HIDDEN))
    server.write(b"Content-Length: " + value + b"\r\n\r\n" + body)
    await survives(server, tally, f"Content-Length: {value[:40]!r}")
    errors = server.null_id_errors()
    assert errors and "Content-Length" in errors[-1]["error"]["message"]
    assert server.response_to(HIDDEN) is None  # the body was never taken for a message


async def test_five_framing_errors_in_a_row_then_resynchronised(server, tally):
    bad = b"".join(
        b"Content-Length: " + value + b"\r\n\r\n" + body_of(hover(HIDDEN))
        for value in (b"-1", b"x", b"4611686018427387904", b"", b"1.5")
    )
    server.write(bad)
    await survives(server, tally, "five framing errors in a row")
    assert len(server.null_id_errors()) == 5
    assert server.response_to(HIDDEN) is None


GARBAGE = {
    "text line": b"hello world\r\n",
    "text without newline": b"hello world",
    "binary junk": bytes(range(256)) * 64,
    "blank lines": b"\r\n\r\n\r\n\n",
    "a 1 MiB header line": b"X-Junk: " + b"a" * 2**20 + b"\r\n",
    "a 1 MiB line without colon": b"z" * 2**20,
    "header block without Content-Length": b"Content-Type: text/plain\r\n\r\n",
    "NUL bytes": b"\x00" * 1000,
}


@pytest.mark.parametrize("junk", GARBAGE.values(), ids=list(GARBAGE))
async def test_garbage_between_messages(server, tally, junk):
    server.write(junk)
    await survives(server, tally, f"garbage: {junk[:30]!r}")


async def test_body_shorter_and_longer_than_declared(server, tally):
    body = body_of(hover(HIDDEN))
    server.write(b"Content-Length: %d\r\n\r\n" % (len(body) - 10) + body)  # 10 bytes left over
    await survives(server, tally, "Content-Length shorter than the body")
    # Longer than the body: the server takes the start of the next message as the rest of
    # this one; that next message is lost, the one after it must be answered.
    server.write(b"Content-Length: %d\r\n\r\n" % (len(body) + 20) + body)
    lost = server.send_request("textDocument/hover", hover(0)["params"])
    await survives(server, tally, "Content-Length longer than the body")
    assert server.response_to(lost) is None
    assert server.response_to(HIDDEN) is None


async def test_bare_newline_framing_is_read(server, tally):
    body = body_of(hover(55))
    server.write(b"Content-Length: %d\n\n" % len(body) + body)
    await survives(server, tally, "LF-only header lines")
    assert server.response_to(55) is not None


async def test_an_http_request_is_not_an_lsp_message(server, tally):
    body = body_of(hover(HIDDEN))
    server.write(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )
    await survives(server, tally, "HTTP-framed request")
    assert server.response_to(HIDDEN) is None


async def test_an_oversized_message_is_skipped(server, tally):
    """A message just over the 64 MiB cap is refused, not read into memory and parsed."""
    body = b'{"jsonrpc": "2.0", "id": 777, "method": "x", "params": "' + b"a" * (64 * 2**20)
    body += b'"}'
    server.write(frame(body))
    await server.drain()
    await survives(server, tally, "a message over 64 MiB")
    assert server.response_to(HIDDEN) is None
    assert any("64 MiB" in e["error"]["message"] for e in server.null_id_errors())


# -- bodies and envelopes ------------------------------------------------------------------
BAD_BODIES = {
    "truncated JSON": b'{"jsonrpc": "2.0", "id": 1, "method": ',
    "not UTF-8": b"\xff\xfe\x00{not json",
    "a JSON array": b"[1, 2, 3]",
    "a JSON string": b'"hello"',
    "a JSON number": b"5",
    "JSON null": b"null",
    "deeply nested JSON": b"[" * 100_000 + b"]" * 100_000,
    "trailing garbage": body_of(hover(HIDDEN)) + b" trailing",
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=list(BAD_BODIES))
async def test_invalid_bodies(server, tally, body):
    server.write(frame(body))
    await survives(server, tally, f"body {body[:30]!r}")
    assert server.null_id_errors(), "a body that is no JSON-RPC message gets an error"
    assert server.response_to(HIDDEN) is None


BAD_ENVELOPES = {
    "no jsonrpc member": {"id": 47, "method": "textDocument/hover", "params": {}},
    "jsonrpc 1.0": {"jsonrpc": "1.0", "id": 41, "method": "textDocument/hover", "params": {}},
    "id is an object": {"jsonrpc": "2.0", "id": {"a": 1}, "method": "textDocument/hover"},
    "id is a list": {"jsonrpc": "2.0", "id": [1], "method": "textDocument/hover"},
    "id is a float": {"jsonrpc": "2.0", "id": 1.5, "method": "textDocument/hover"},
    "id is true": {"jsonrpc": "2.0", "id": True, "method": "textDocument/hover"},
    "method is a number": {"jsonrpc": "2.0", "id": 42, "method": 5, "params": {}},
    "method is null": {"jsonrpc": "2.0", "id": 43, "method": None},
    "params is a string": {
        "jsonrpc": "2.0",
        "id": 44,
        "method": "textDocument/hover",
        "params": "x",
    },
    "lone surrogate method": {"jsonrpc": "2.0", "id": 45, "method": "text\ud800", "params": {}},
    "lone surrogate in a URI": hover(46, "file:///x\ud800.json"),
    "response to nothing": {"jsonrpc": "2.0", "id": 999, "result": None},
    "malformed error response": {"jsonrpc": "2.0", "id": 998, "error": "boom"},
    "notification of nothing": {"jsonrpc": "2.0", "method": "dw/nothing", "params": [1]},
}


@pytest.mark.parametrize("message", BAD_ENVELOPES.values(), ids=list(BAD_ENVELOPES))
async def test_broken_envelopes(server, tally, message):
    server.write(frame(json.dumps(message).encode()))
    await survives(server, tally, f"envelope {message!r:.60}")
    msg_id = message.get("id")
    if isinstance(msg_id, int) and not isinstance(msg_id, bool) and "method" in message:
        answer = server.response_to(msg_id)
        assert answer is not None, "a request with a usable id is always answered"


# -- wrong parameter types on every handler --------------------------------------------------
LIFECYCLE = {"initialize", "initialized", "shutdown", "exit"}
WRONG_PARAMS: list[Any] = [
    None,
    5,
    "x",
    [],
    {"textDocument": 5},
    {"textDocument": {"uri": 5}, "position": {"line": "a", "character": None}},
    {
        "textDocument": {"uri": "file:///nowhere.json", "version": "1"},
        "position": {"line": -1, "character": 2**40},
        "range": 5,
        "contentChanges": "x",
        "settings": [1],
        "changes": {"a": 1},
        "command": 7,
    },
]


def registered_methods() -> list[str]:
    fm = create_server().protocol.fm
    return sorted((set(fm.features) | set(fm.builtin_features)) - LIFECYCLE)


def is_request(method: str) -> bool:
    from lsprotocol import types

    request_type = types.METHOD_TO_TYPES.get(method, (None,))[0]
    return request_type is not None and "id" in {a.name for a in request_type.__attrs_attrs__}


async def test_wrong_param_types_on_every_handler(server, tally):
    methods = registered_methods()
    assert "textDocument/hover" in methods and "workspace/executeCommand" in methods
    for method in methods:
        for params in WRONG_PARAMS:
            if is_request(method):
                msg_id = server.send_request(method, params)
                answer = await server.response(msg_id, timeout=5)
                assert "result" in answer or "error" in answer, (method, params)
            else:
                server.notify(method, params)
            await survives(server, tally, f"{method} with params {params!r:.50}")


COMMAND_ARGUMENTS: list[Any] = [
    5,
    "x",
    [5],
    [[]],
    [{"uri": 5, "arguments": "x", "progressToken": {}}],
    [{"uri": "file:///nowhere.json", "arguments": [1]}],
    [{"uri": "http://example.com/x.json"}],
    [{}, {}],
]


async def test_wrong_arguments_on_every_command(server, tally):
    commands = sorted(create_server().protocol.fm.commands)
    assert "dw.run" in commands
    for command in [*commands, "dw.noSuchCommand", 5]:
        for arguments in COMMAND_ARGUMENTS:
            if command in ("dw.memory", "dw.restartWorker", "dw.clear") and arguments == [{}]:
                continue  # valid: would ask for the worker
            answer = await server.request(
                "workspace/executeCommand", {"command": command, "arguments": arguments}, 5
            )
            assert "result" in answer or "error" in answer
            await survives(server, tally, f"{command} with {arguments!r:.50}")


# -- documents that were never opened ----------------------------------------------------------
UNOPENED = "file:///never/opened.json"
ANY_POSITION = {"line": 3, "character": 4}
ANY_RANGE = {"start": {"line": 0, "character": 0}, "end": {"line": 9, "character": 0}}
SUPERSET_PARAMS = {
    "textDocument": {"uri": UNOPENED},
    "position": ANY_POSITION,
    "positions": [ANY_POSITION],
    "range": ANY_RANGE,
    "context": {"diagnostics": [], "includeDeclaration": True, "triggerKind": 1},
    "newName": "renamed",
    "options": {"tabSize": 2, "insertSpaces": True},
}


async def test_every_document_request_on_an_unopened_uri(server, tally):
    methods = [m for m in registered_methods() if m.startswith("textDocument/") and is_request(m)]
    assert len(methods) >= 10
    for method in methods:
        answer = await server.request(method, SUPERSET_PARAMS, 5)
        assert "result" in answer, (method, answer)
        await survives(server, tally, f"{method} on an unopened URI")
    for method, params in (
        (
            "textDocument/didChange",
            {"textDocument": {"uri": UNOPENED, "version": 2}, "contentChanges": [{"text": "{}"}]},
        ),
        ("textDocument/didSave", {"textDocument": {"uri": UNOPENED}}),
        ("textDocument/didClose", {"textDocument": {"uri": UNOPENED}}),
    ):
        server.notify(method, params)
        await survives(server, tally, f"{method} on an unopened URI")


# -- the lifecycle -----------------------------------------------------------------------------
async def test_requests_before_initialize_are_refused(tmp_path, tally):
    root = tmp_path / "ws"
    root.mkdir()
    server = await RawServer.start(tmp_path / "stderr.log")
    try:
        early = await server.request("textDocument/hover", hover(0)["params"])
        command = await server.request(
            "workspace/executeCommand", {"command": "dw.status", "arguments": [{}]}
        )
        for answer in (early, command):
            assert answer.get("error", {}).get("code") == SERVER_NOT_INITIALIZED, answer
        uri = server.open(root / "flow.json", WORKFLOW)  # a notification: dropped
        tally.tried(SUITE, 3)
        assert "result" in await server.initialize(OPTIONS, root)
        tally.survived(SUITE, 3)
        answer = await server.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
        assert not answer["result"], "the didOpen sent before initialize was dropped"
        again = await server.request("initialize", {"processId": None, "capabilities": {}})
        assert "error" in again, "a second initialize is refused"
        await survives(server, tally, "a second initialize")
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("steps", "code"),
    [
        (["initialize", "shutdown", "exit"], 0),
        (["initialize", "exit"], 1),
        (["exit"], 1),
    ],
    ids=["shutdown then exit", "exit without shutdown", "exit before initialize"],
)
async def test_exit_code_follows_the_spec(tmp_path, tally, steps, code):
    server = await RawServer.start(tmp_path / "stderr.log")
    tally.tried(SUITE)
    try:
        for step in steps:
            if step == "initialize":
                assert "result" in await server.initialize(OPTIONS)
            elif step == "shutdown":
                assert "result" in await server.request("shutdown")
                late = await server.request("textDocument/hover", hover(0)["params"])
                assert late.get("error", {}).get("code") == INVALID_REQUEST, late
            else:
                server.notify("exit")
        assert await server.exit_code() == code
        tally.survived(SUITE)
    finally:
        await server.close()
