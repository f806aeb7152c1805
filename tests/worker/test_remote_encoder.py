"""``pipeline.remote_text_encoder`` (FORMAT.md 1.4): dw's request (a JSON POST of the prompt,
answered by a saved tensor) against a local HTTP server on 127.0.0.1 that the test starts,
through the real worker and in-process: timeouts, HTTP errors, answers that are not tensors."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from dwtest_worker import WorkerProcess, tiny_sd_step, write_workflow

from dw_lsp.worker import remote_encoder

pytestmark = pytest.mark.slow


class Encoder:
    """A local encoding service: records each request, answers with ``answer()``."""

    def __init__(self, answer: Callable[[dict[str, Any]], tuple[int, bytes]]) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append((dict(self.headers), body))
                status, data = answer(body)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)  # a client that timed out has gone
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/encode"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def saved(tensor: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(tensor, buffer)
    return buffer.getvalue()


@pytest.fixture()
def serve() -> Iterator[Callable[[Callable[[dict[str, Any]], tuple[int, bytes]]], Encoder]]:
    started: list[Encoder] = []

    def start(answer: Callable[[dict[str, Any]], tuple[int, bytes]]) -> Encoder:
        started.append(Encoder(answer))
        return started[-1]

    yield start
    for encoder in started:
        encoder.close()


def test_a_run_uses_the_remote_embeddings(
    worker: WorkerProcess, serve: Any, tmp_path: Path
) -> None:
    def answer(body: dict[str, Any]) -> tuple[int, bytes]:
        seed = len(body["prompt"])  # a different prompt gives different embeddings
        return 200, saved(torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(seed)))

    encoder = serve(answer)
    step = tiny_sd_step("sd", prompt="a red fox", steps=2, remote_text_encoder={"url": encoder.url})
    step["pipeline"]["arguments"]["guidance_scale"] = 1.0
    workflow = write_workflow(tmp_path / "remote.json", [step], seed=2)
    result = worker.execute(workflow, tmp_path / "out")
    assert result["status"] == "ok", result.get("traceback") or result
    [(headers, body)] = encoder.requests
    assert body == {"prompt": "a red fox"}
    assert headers["Content-Type"] == "application/json"
    assert "Authorization" not in headers  # the token never goes over plain http
    encoder.close()
    failed = worker.execute(workflow, tmp_path / "again")  # the service is gone
    assert failed["status"] == "error"
    assert f"remote text encoder {encoder.url} cannot be reached" in failed["error"]
    assert failed["cache"]["loaded"] == []  # the pipeline stayed loaded


def test_http_errors_timeouts_and_non_tensors_are_named(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = serve(lambda body: (503, b"model is warming up"))
    with pytest.raises(
        remote_encoder.RemoteEncoderError, match="answered HTTP 503: model is warming up"
    ):
        remote_encoder.encode("x", failing.url, "cpu")

    class Evil:
        def __reduce__(self) -> Any:
            return (print, ("pickled code ran",))

    evil = serve(lambda body: (200, pickle.dumps(Evil())))
    with pytest.raises(
        remote_encoder.RemoteEncoderError, match="did not answer with a saved tensor"
    ):
        remote_encoder.encode("x", evil.url, "cpu")
    listed = serve(lambda body: (200, saved([1, 2])))
    with pytest.raises(remote_encoder.RemoteEncoderError, match="answered a list, not a tensor"):
        remote_encoder.encode("x", listed.url, "cpu")

    def slow(body: dict[str, Any]) -> tuple[int, bytes]:
        time.sleep(2)
        return 200, saved(torch.zeros(1))

    late = serve(slow)
    monkeypatch.setenv(remote_encoder.TIMEOUT_ENV, "0.3")
    started = time.monotonic()
    with pytest.raises(remote_encoder.RemoteEncoderError, match=r"did not answer within 0\.3 s"):
        remote_encoder.encode("x", late.url, "cpu")
    assert time.monotonic() - started < 1.5
    monkeypatch.setenv(remote_encoder.URL_ENV, failing.url)
    assert remote_encoder.endpoint({"url": "https://elsewhere.example/encode"}) == failing.url
    monkeypatch.delenv(remote_encoder.URL_ENV)
    with pytest.raises(remote_encoder.RemoteEncoderError, match="not an http"):
        remote_encoder.endpoint({"url": "file:///etc/passwd"})
