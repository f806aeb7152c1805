"""``pipeline.remote_text_encoder`` (FORMAT.md 1.4): the prompt is encoded by a remote
service instead of the local ``text_encoder`` (which is not loaded: it is set to null).

The request is dw's: ``POST {url}`` with the JSON body ``{"prompt": <the prompt>}`` and
``Content-Type: application/json``; the answer's body is a tensor saved with ``torch.save``,
passed to the call as ``prompt_embeds`` (on the pipeline's device) in place of ``prompt``.
Unlike dw: the answer is read with ``torch.load(weights_only=True)`` (tensors only, never
arbitrary pickled objects), capped at :data:`MAX_BYTES`; the Hugging Face token goes only
to ``https`` endpoints (never in clear text); every request has a timeout
(``$DW_LSP_REMOTE_ENCODER_TIMEOUT`` seconds, default :data:`TIMEOUT_S`);
``$DW_LSP_REMOTE_ENCODER_URL`` replaces every workflow's URL (to point workflows at a
local service). A failure names the URL and the cause. Standard library and torch only.
"""

from __future__ import annotations

import io
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

TIMEOUT_S = 120.0
MAX_BYTES = 1024 * 1024 * 1024
URL_ENV = "DW_LSP_REMOTE_ENCODER_URL"
TIMEOUT_ENV = "DW_LSP_REMOTE_ENCODER_TIMEOUT"


class RemoteEncoderError(RuntimeError):
    """The remote text encoder could not give embeddings (the message says why)."""


def endpoint(spec: Any) -> str:
    """The URL to call: ``$DW_LSP_REMOTE_ENCODER_URL`` or the workflow's, checked."""
    url = os.environ.get(URL_ENV) or (spec.get("url") if isinstance(spec, Mapping) else None)
    if not isinstance(url, str) or not url:
        raise RemoteEncoderError("pipeline.remote_text_encoder.url is required")
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise RemoteEncoderError(
            f"pipeline.remote_text_encoder.url {url!r} is not an http(s) URL with a host"
        )
    return url


def timeout() -> float:
    raw = os.environ.get(TIMEOUT_ENV)
    try:
        value = float(raw) if raw else TIMEOUT_S
    except ValueError:
        raise RemoteEncoderError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    return value if value > 0 else TIMEOUT_S


def _token() -> str | None:
    try:
        from huggingface_hub import get_token
    except ImportError:
        return None
    token: str | None = get_token()
    return token


def encode(prompt: Any, url: str, device: Any) -> Any:
    """POST ``prompt`` to ``url`` and return the embeddings it answers, on ``device``."""
    import torch

    headers = {"Content-Type": "application/json", "User-Agent": "dw-lsp-worker"}
    token = _token() if url.startswith("https://") else None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"prompt": prompt}).encode("utf-8")
    seconds = timeout()
    # endpoint() admits only http(s) URLs with a host (S310 warns of file: and custom schemes).
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=seconds) as response:  # noqa: S310
            data: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        raise RemoteEncoderError(
            f"remote text encoder {url} answered HTTP {exc.code}"
            + (f": {detail}" if detail else "")
        ) from None
    except TimeoutError:
        raise RemoteEncoderError(
            f"remote text encoder {url} did not answer within {seconds:g} s "
            f"(set {TIMEOUT_ENV} to wait longer)"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise RemoteEncoderError(
                f"remote text encoder {url} did not answer within {seconds:g} s "
                f"(set {TIMEOUT_ENV} to wait longer)"
            ) from None
        raise RemoteEncoderError(f"remote text encoder {url} cannot be reached: {reason}") from None
    if len(data) > MAX_BYTES:
        raise RemoteEncoderError(f"remote text encoder {url} answered more than 1 GiB")
    try:
        embeds = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:
        raise RemoteEncoderError(
            f"remote text encoder {url} did not answer with a saved tensor ({exc})"
        ) from None
    if not isinstance(embeds, torch.Tensor):
        raise RemoteEncoderError(
            f"remote text encoder {url} answered a {type(embeds).__name__}, not a tensor"
        )
    return embeds.to(device)


def apply(pipe: Any, spec: Any, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The call's arguments with the remote embeddings in place of ``prompt``."""
    out = dict(arguments)
    if "prompt" not in out:
        raise RemoteEncoderError("a remote text encoder needs a prompt argument to encode")
    prompt = out.pop("prompt")
    out["prompt_embeds"] = encode(prompt, endpoint(spec), getattr(pipe, "device", "cpu"))
    return out
