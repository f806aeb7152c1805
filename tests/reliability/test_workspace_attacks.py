"""Attacks from a workspace or a local process, through a real server (suite "attacks:
workspace"): a repository's settings naming the program to run or widening the import
allowlist, an untrusted workspace asking for runs, and ``dw-lsp serve --tcp`` reached by a
process without the token (the four HTTP-framed POSTs of issue 16 among them).

Every attack names a ``worker.command`` that writes a marker file; the attack is refused when
the marker never appears. Each test also runs the same program the legitimate way (user-level
``initializationOptions``, or the right token) and sees its marker appear, so a missing marker
means refused, not broken."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lsp_raw import SERVER, RawServer, TcpClient, frame, marker_command

SUITE = "attacks: workspace"
WARNING = 2  # MessageType.Warning
WORKFLOW = {
    "id": "victim",
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
}
#: How long a refused program is given to show up anyway.
GRACE_S = 1.5


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "flow.json").write_text(json.dumps(WORKFLOW, indent=2), encoding="utf-8")
    return ws


def refused(tally: Any, name: str, marker: Path) -> None:
    tally.tried(SUITE)
    if marker.exists():
        tally.lost(SUITE, name)
        pytest.fail(f"{name}: the workspace's program ran")
    tally.survived(SUITE)


async def appears(path: Path, timeout: float = 30) -> None:
    async def poll() -> None:
        while not path.exists():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def execute(command: str, argument: Any = None) -> dict[str, Any]:
    return {"command": command, "arguments": [argument if argument is not None else {}]}


# -- settings from the workspace -----------------------------------------------------------------
async def test_workspace_configuration_cannot_choose_the_worker(tmp_path, root, tally):
    user, pulled, pushed = (tmp_path / n for n in ("user.marker", "pulled.marker", "pushed.marker"))
    server = await RawServer.start(tmp_path / "stderr.log")
    try:
        server.configuration = {"worker": {"command": marker_command(pulled)}}
        options = {"worker": {"command": marker_command(user), "prewarm": True}}
        assert "result" in await server.initialize(options, root, pull_settings=True)
        await server.wait_for(lambda: any("worker.command" in m for m in server.shown()))
        warning = server.notifications("window/showMessage")[0]["params"]
        assert warning["type"] == WARNING and "workspace" in warning["message"]

        uri = server.open(root / "flow.json", (root / "flow.json").read_text())
        await appears(user)  # prewarm ran the user's program: the setup works
        await asyncio.sleep(GRACE_S)
        refused(tally, "worker.command from workspace/configuration (prewarm)", pulled)

        for _ in range(2):
            server.notify(
                "workspace/didChangeConfiguration",
                {"settings": {"dwLsp": {"worker": {"command": marker_command(pushed)}}}},
            )
        user.unlink()
        answer = await server.request("workspace/executeCommand", execute("dw.restartWorker"))
        assert answer["result"]["status"] == "ok"
        answer = await server.request("workspace/executeCommand", execute("dw.run", {"uri": uri}))
        assert answer["result"]["status"] == "error"  # the user's program is no worker
        await appears(user)
        await asyncio.sleep(GRACE_S)
        refused(tally, "worker.command from workspace/didChangeConfiguration (run)", pushed)
        warnings = [m for m in server.shown() if "worker.command" in m]
        assert len(warnings) == 1, warnings  # shown once per session, however often sent
        assert "worker.command" in server.stderr()  # and logged
    finally:
        await server.close()


async def test_workspace_configuration_cannot_widen_the_import_allowlist(tmp_path, root, tally):
    text = json.dumps(WORKFLOW).replace("StableDiffusionPipeline", "collections.OrderedDict")
    seen = {}
    for label, workspace, user in (
        ("nothing", None, None),
        ("workspace", {"worker": {"allowedModules": ["collections"]}}, None),
        ("user", None, ["collections"]),
    ):
        server = await RawServer.start(tmp_path / f"stderr-{label}.log")
        try:
            server.configuration = workspace
            options: dict[str, Any] = {"worker": {"prewarm": False}}
            if user is not None:
                options["worker"]["allowedModules"] = user
            await server.initialize(options, root, pull_settings=True)
            if workspace is not None:
                await server.wait_for(
                    lambda s=server: any("allowedModules" in m for m in s.shown())
                )
            else:
                await server.request("workspace/executeCommand", execute("dw.status"))
            uri = server.open(root / f"{label}.json", text)
            diagnostics = (await server.published(uri))["diagnostics"]
            seen[label] = sorted((d["code"], d["range"]["start"]["line"]) for d in diagnostics)
        finally:
            await server.close()
    assert seen["nothing"] != seen["user"], "the user-level allowlist is honoured"
    tally.tried(SUITE)
    if seen["workspace"] != seen["nothing"]:
        tally.lost(SUITE, "worker.allowedModules from the workspace")
        pytest.fail(f"the workspace widened the allowlist: {seen}")
    tally.survived(SUITE)


# -- workspace trust -----------------------------------------------------------------------------
@pytest.mark.parametrize("trusted", [False, "no", 0, None], ids=repr)
async def test_an_untrusted_workspace_gets_no_worker(tmp_path, root, tally, trusted):
    marker = tmp_path / "marker"
    server = await RawServer.start(tmp_path / "stderr.log")
    try:
        options = {"trusted": trusted, "worker": {"command": marker_command(marker)}}
        await server.initialize(options, root)
        uri = server.open(root / "flow.json", (root / "flow.json").read_text())
        await server.published(uri)  # diagnostics still work
        symbols = await server.request(
            "textDocument/documentSymbol", {"textDocument": {"uri": uri}}
        )
        assert symbols["result"], "editing features still work"
        for command, argument in (
            ("dw.run", {"uri": uri}),
            ("dw.memory", {}),
            ("dw.clear", {}),
            ("dw.restartWorker", {}),
        ):
            answer = await server.request("workspace/executeCommand", execute(command, argument))
            result = answer["result"]
            assert result["status"] == "error" and "trust" in result["error"]["message"], answer
        status = await server.request("workspace/executeCommand", execute("dw.status"))
        assert status["result"]["state"] == "stopped"
        if trusted is not False:
            assert any("trusted" in m for m in server.shown()), "a bad value is reported"
        await asyncio.sleep(GRACE_S)
        refused(tally, f"untrusted workspace (trusted={trusted!r})", marker)
    finally:
        await server.close()


async def test_a_trusted_or_silent_client_gets_its_worker(tmp_path, root):
    """The control for the test above: the same program runs when trust is given or the
    client does not speak of trust at all."""
    for trusted in (True, "absent"):
        marker = tmp_path / f"marker-{trusted}"
        server = await RawServer.start(tmp_path / "stderr.log")
        try:
            options: dict[str, Any] = {"worker": {"command": marker_command(marker)}}
            if trusted != "absent":
                options["trusted"] = trusted
            await server.initialize(options, root)
            server.open(root / "flow.json", (root / "flow.json").read_text())
            await appears(marker)
        finally:
            await server.close()


# -- the Ray pool ---------------------------------------------------------------------------------
class RayMarker:
    """A listener on 127.0.0.1 standing in for a Ray cluster: ``ray://127.0.0.1:PORT``
    (Ray Client) connects to it as soon as a server starts the pool there, so a connection
    proves that Ray was started and pointed at it (nothing ever answers it)."""

    def __init__(self) -> None:
        self.connections = 0
        self._server: asyncio.Server | None = None
        self.address = ""

    async def __aenter__(self) -> RayMarker:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"ray://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def reached(self, timeout: float = 60) -> None:
        async def poll() -> None:
            while not self.connections:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(poll(), timeout)


def _ray(address: str, **more: Any) -> dict[str, Any]:
    return {"backend": "ray", "ray": {"address": address, "workers": 1}, **more}


async def test_workspace_configuration_cannot_choose_the_ray_cluster(tmp_path, root, tally):
    """A Ray cluster exchanges pickled data with the server: a workspace must not pick one.
    The control: the same settings from the user start the pool there."""
    user = tmp_path / "user.marker"
    async with RayMarker() as cluster:
        server = await RawServer.start(tmp_path / "stderr.log")
        try:
            server.configuration = {"worker": _ray(cluster.address)}
            options = {"worker": {"command": marker_command(user), "prewarm": True}}
            await server.initialize(options, root, pull_settings=True)
            await server.wait_for(lambda: any("worker.backend" in m for m in server.shown()))
            assert any("worker.ray.address" in m for m in server.shown())
            uri = server.open(root / "flow.json", (root / "flow.json").read_text())
            await appears(user)  # the user's local worker started: the workspace's Ray did not
            await server.request("workspace/executeCommand", execute("dw.run", {"uri": uri}))
            await asyncio.sleep(GRACE_S)
        finally:
            await server.close()
        tally.tried(SUITE)
        if cluster.connections:
            tally.lost(SUITE, "worker.backend / worker.ray.address from the workspace")
            pytest.fail("the workspace's Ray cluster was contacted")
        tally.survived(SUITE)

        server = await RawServer.start(tmp_path / "stderr-user.log")
        try:
            await server.initialize({"worker": _ray(cluster.address, prewarm=True)}, root)
            server.open(root / "flow.json", (root / "flow.json").read_text())
            await cluster.reached()  # the user's own setting is honoured
        finally:
            await server.close()


async def test_an_untrusted_workspace_starts_no_ray(tmp_path, root, tally):
    """With the pool chosen by the user, an untrusted workspace still gets no Ray and no
    actor: not on opening a workflow (prewarm), not from any command, sweeps included."""
    async with RayMarker() as cluster:
        server = await RawServer.start(tmp_path / "stderr.log")
        try:
            options = {"trusted": False, "worker": _ray(cluster.address, prewarm=True)}
            await server.initialize(options, root)
            # A sweep over a declared variable: valid input, so only trust can refuse it.
            flow = json.loads(json.dumps(WORKFLOW))
            flow["variables"] = {"prompt": "a cat"}
            flow["steps"][0]["pipeline"]["arguments"]["prompt"] = "variable:prompt"
            (root / "sweep.json").write_text(json.dumps(flow), encoding="utf-8")
            uri = server.open(root / "sweep.json", (root / "sweep.json").read_text())
            await server.published(uri)
            for command, argument in (
                ("dw.run", {"uri": uri}),
                ("dw.runSweep", {"uri": uri, "grid": {"prompt": ["a fox", "an owl"]}}),
                ("dw.memory", {}),
                ("dw.clear", {}),
                ("dw.restartWorker", {}),
            ):
                answer = await server.request(
                    "workspace/executeCommand", execute(command, argument)
                )
                result = answer["result"]
                assert result["status"] == "error", (command, answer)
                assert "trust" in result["error"]["message"], (command, answer)
            status = await server.request("workspace/executeCommand", execute("dw.status"))
            assert status["result"]["state"] == "stopped"
            await asyncio.sleep(GRACE_S)
        finally:
            await server.close()
        tally.tried(SUITE)
        if cluster.connections:
            tally.lost(SUITE, "Ray started in an untrusted workspace")
            pytest.fail("an untrusted workspace started Ray")
        tally.survived(SUITE)


# -- TCP -----------------------------------------------------------------------------------------
class TcpServer:
    """``dw-lsp serve --tcp --port 0``: its port and announced token, its stderr kept."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.port = 0
        self.token: str | None = None
        self._reading: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> TcpServer:
        process = await asyncio.create_subprocess_exec(
            *SERVER,
            "serve",
            "--tcp",
            "--port",
            "0",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        server = cls(process)
        server._reading = asyncio.ensure_future(server._read())
        await asyncio.wait_for(server._announced(), 20)
        return server

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.lines.append(line.decode(errors="replace"))

    async def _announced(self) -> None:
        while True:
            for line in self.lines:
                if found := re.search(r"listening on 127\.0\.0\.1:(\d+)", line):
                    self.port = int(found.group(1))
                    token = re.search(r"token: (\S+)", line)
                    self.token = token.group(1) if token else None
                    return
            if self.process.returncode is not None:
                raise RuntimeError("".join(self.lines))
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._reading is not None:
            with contextlib.suppress(Exception):
                await self._reading


@pytest.fixture
async def tcp() -> AsyncIterator[TcpServer]:
    server = await TcpServer.start()
    yield server
    await server.stop()


def http_post(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )


def initialize(msg_id: int, options: Any, root: Path) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": msg_id,
        "method": "initialize",
        "params": {
            "processId": None,
            "rootUri": root.as_uri(),
            "capabilities": {},
            "initializationOptions": options,
        },
    }


def attack(root: Path, marker: Path, options: Any) -> list[dict[str, Any]]:
    """initialize, initialized, didChangeConfiguration naming the program, didOpen."""
    command = marker_command(marker)
    return [
        initialize(1, options, root),
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
        {
            "jsonrpc": "2.0",
            "method": "workspace/didChangeConfiguration",
            "params": {"settings": {"dwLsp": {"worker": {"command": command, "prewarm": True}}}},
        },
        {
            "jsonrpc": "2.0",
            "method": "textDocument/didOpen",
            "params": {
                "textDocument": {
                    "uri": (root / "flow.json").as_uri(),
                    "languageId": "json",
                    "version": 1,
                    "text": (root / "flow.json").read_text(),
                }
            },
        },
    ]


async def test_tcp_refuses_every_client_without_the_token(tmp_path, root, tally, tcp):
    assert tcp.token and len(tcp.token) >= 32, "a generated token is announced on stderr"
    cases: list[tuple[str, bytes, Path]] = []

    def program(marker: Path, **extra: Any) -> dict[str, Any]:
        """initializationOptions naming the program: what a token holder may do."""
        return {"worker": {"command": marker_command(marker), "prewarm": True}, **extra}

    marker = tmp_path / "issue.marker"
    issue = b"".join(map(http_post, attack(root, marker, None)))  # exactly issue 16's attack
    cases.append(("issue 16: four HTTP-framed POSTs", issue, marker))
    marker = tmp_path / "http.marker"
    messages = attack(root, marker, program(marker))
    cases.append(
        (
            "HTTP-framed, program in initializationOptions",
            b"".join(map(http_post, messages)),
            marker,
        )
    )
    for label, extra in (
        ("no token", {}),
        ("wrong token", {"token": "x" * 43}),
        ("token of the wrong type", {"token": 12345}),
        ("token null", {"token": None}),
        ("a prefix of the token", {"token": tcp.token[:-1]}),
        ("the token with a suffix", {"token": tcp.token + "x"}),
    ):
        marker = tmp_path / f"{len(cases)}.marker"
        messages = attack(root, marker, program(marker, **extra))
        cases.append((f"LSP-framed, {label}", b"".join(map(frame, messages)), marker))
    marker = tmp_path / "late-initialize.marker"
    messages = attack(root, marker, program(marker, token=tcp.token))
    late = [messages[3], messages[0], *messages[1:3]]  # didOpen first: initialize is not first
    cases.append(("LSP-framed, a message before initialize", b"".join(map(frame, late)), marker))

    for label, data, marker in cases:
        client = await TcpClient.connect(tcp.port)
        client.write(data)
        with contextlib.suppress(TimeoutError, ConnectionError):
            await client.wait_closed_by_server(10)
        assert client.closed, f"{label}: the server keeps talking to a client without the token"
        answer = client.response_to(1)
        assert answer is None or "error" in answer, f"{label}: initialize succeeded"
        await client.close()
        await asyncio.sleep(GRACE_S)
        refused(tally, f"TCP: {label}", marker)

    # The control: the right token gets a session, and the user-level program runs.
    marker = tmp_path / "owner.marker"
    owner = await TcpClient.connect(tcp.port)
    answer = await owner.initialize(program(marker, token=tcp.token), root)
    assert "result" in answer, answer
    owner.open(root / "flow.json", (root / "flow.json").read_text())
    await appears(marker)
    assert await owner.alive()

    # While that session lasts, nobody else gets in, token or not.
    marker = tmp_path / "intruder.marker"
    try:
        intruder = await TcpClient.connect(tcp.port)
    except OSError:
        pass  # not even listening any more
    else:
        intruder.write(b"".join(map(frame, attack(root, marker, program(marker, token=tcp.token)))))
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            await intruder.wait_closed_by_server(10)
        answer = intruder.response_to(1)
        assert answer is None or "error" in answer
        await intruder.close()
    await asyncio.sleep(GRACE_S)
    refused(tally, "TCP: a second connection during a session", marker)
    assert await owner.alive()
    await owner.request("shutdown")
    owner.notify("exit")
    assert await asyncio.wait_for(tcp.process.wait(), 15) == 0
    await owner.close()


async def test_tcp_token_from_the_environment_and_the_flag(tmp_path, root):
    secret = "s3cr3t-" + "k" * 30
    for args, env in (((), {"DW_LSP_TOKEN": secret}), (("--token", secret), {})):
        server = await TcpServer.start(*args, env=env)
        try:
            assert server.token is None and not any(secret in line for line in server.lines)
            client = await TcpClient.connect(server.port)
            answer = await client.initialize({"token": secret, "worker": {"prewarm": False}}, root)
            assert "result" in answer
            assert await client.alive()
            await client.close()
        finally:
            await server.stop()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
async def test_tcp_listens_on_loopback_only(host, tally):
    process = await asyncio.create_subprocess_exec(
        *SERVER,
        "serve",
        "--tcp",
        "--port",
        "0",
        "--host",
        host,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    tally.tried(SUITE)
    assert process.returncode == 2 and b"loopback" in err, err
    tally.survived(SUITE)
