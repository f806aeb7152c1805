"""A stand-in worker that speaks the protocol and misbehaves on request.

``python fake_worker.py [--mode MODE] [--steps N] [--delay S] [--pidfile F]``. Modes:

- ``ok``: each ``execute`` reports N progress events ``delay`` seconds apart, then succeeds;
- ``hang``: ``execute`` reports one progress event, then nothing, ever;
- ``crash``: ``execute`` reports one progress event, then the process SIGKILLs itself;
- ``ignore-cancel``: like ``ok`` with many steps, and ``cancel`` is acknowledged but ignored;
- ``garbage``: like ``ok``, with non-protocol lines on stdout before every reply;
- ``no-init``: exits with code 7 before answering ``initialize``, printing to stderr;
- ``slow-init``: answers ``initialize`` only after ``--init-delay`` seconds (a slow import);
- malformed messages, for the channel's totality: ``bad-percent`` (progress ``percent``
  ``"abc"``), ``null-percent``, ``nan-percent`` (a bare ``NaN``), ``bad-code`` (an error
  whose ``code`` is a string), ``bad-error`` (``error`` a string), ``bad-outputs``
  (``outputs`` a string), ``bad-status``, ``bad-timings``, ``no-result`` (neither
  ``result`` nor ``error``), ``bad-log`` (a ``log`` whose ``message`` is an object),
  ``bad-init`` (``initialize`` answered with a string), ``bad-jsonrpc`` (version ``"1.0"``);
- noise that must not lose a message: ``banner`` (text *without* a newline right before the
  result line, as an ssh login banner), ``binary`` (a line of invalid UTF-8).

With ``--once FILE`` a misbehaving mode misbehaves only while FILE does not exist (it is
created then), so the next worker process behaves: "the next run is ok" can be shown.

It exits when its stdin closes, like the real worker. Only the standard library is used.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from typing import Any

_lock = threading.Lock()
_cancel = threading.Event()
_runs = 0


def send(obj: dict[str, Any]) -> None:
    with _lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def reply(msg_id: Any, result: Any) -> None:
    send({"jsonrpc": "2.0", "id": msg_id, "result": result})


def memory() -> dict[str, Any]:
    return {
        "device": "cpu",
        "cuda": False,
        "allocatedMb": 10.0,
        "reservedMb": 10.0,
        "freeMb": 1000.0,
        "totalMb": 2000.0,
        "runs": _runs,
        "processRssMb": 50.0,
        "hostTotalMb": 2000.0,
        "hostAvailableMb": 1000.0,
    }


def send_raw(text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    with _lock:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def misbehaving(args: argparse.Namespace) -> str:
    """The mode to act out now: ``ok`` once a ``--once`` file exists."""
    if args.once:
        if os.path.exists(args.once):
            return "ok"
        with open(args.once, "w") as f:
            f.write("done")
    return str(args.mode)


def execute(msg_id: Any, params: dict[str, Any], args: argparse.Namespace) -> None:
    global _runs
    run_id = params.get("runId", "")
    mode = misbehaving(args) if args.mode not in ("ok", "hang", "crash") else args.mode
    if mode == "bad-log":
        send({"jsonrpc": "2.0", "method": "log", "params": {"level": 7, "message": {"a": 1}}})
    if mode in ("bad-percent", "null-percent"):
        send(
            {
                "jsonrpc": "2.0",
                "method": "progress",
                "params": {
                    "runId": run_id,
                    "phase": "denoise",
                    "message": "step",
                    "percent": "abc" if mode == "bad-percent" else None,
                },
            }
        )
    if mode == "nan-percent":  # json.dumps writes a bare NaN, which JSON does not allow
        send(
            {
                "jsonrpc": "2.0",
                "method": "progress",
                "params": {
                    "runId": run_id,
                    "phase": "denoise",
                    "message": "s",
                    "percent": math.nan,
                },
            }
        )
    if mode == "bad-code":
        send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": "boom", "message": "no"}})
        return
    if mode == "bad-error":
        send({"jsonrpc": "2.0", "id": msg_id, "error": "it broke"})
        return
    if mode == "no-result":
        send({"jsonrpc": "2.0", "id": msg_id})
        return
    if mode == "bad-jsonrpc":
        send({"jsonrpc": "1.0", "id": msg_id, "result": {"status": "ok"}})
        return

    def progress(i: int, total: int) -> None:
        send(
            {
                "jsonrpc": "2.0",
                "method": "progress",
                "params": {
                    "runId": run_id,
                    "phase": "denoise",
                    "message": f"step {i}/{total}",
                    "percent": 100.0 * i / total,
                    "denoiseStep": i,
                    "denoiseTotal": total,
                },
            }
        )

    steps = 1000 if args.mode == "ignore-cancel" else args.steps
    progress(0, steps)
    if args.mode == "hang":
        return
    if args.mode == "crash":
        time.sleep(0.2)
        print("fake worker: about to die", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    for i in range(1, steps + 1):
        time.sleep(args.delay)
        if _cancel.is_set() and args.mode != "ignore-cancel":
            _cancel.clear()
            reply(msg_id, {"status": "cancelled", "runs": _runs, "memory": memory()})
            return
        progress(i, steps)
    _runs += 1
    out = os.path.join(params["outputDir"], f"{run_id}.png")
    if args.mode == "garbage":
        print("this is not JSON", flush=True)
    if mode == "banner":
        send_raw("Last login: Mon Jan  1 00:00:00 2024 from 10.0.0.1 ")
    if mode == "binary":
        send_raw(b"\xff\xfe\x00garbage\x80\n")
    reply(
        msg_id,
        {
            "status": 42 if mode == "bad-status" else "ok",
            "outputs": out if mode == "bad-outputs" else [out],
            "timings": {
                "load": "slow" if mode == "bad-timings" else 0.0,
                "inference": 0.1,
                "total": 0.1,
            },
            "cache": {
                "reused": ["draw@x"] if _runs > 1 else [],
                "loaded": [] if _runs > 1 else ["draw@x"],
            },
            "runs": _runs,
            "memory": memory(),
            "arguments": params.get("arguments"),
            # The mode it was asked for, as the real worker's report names it.
            "standIn": None
            if params.get("standIns", "off") == "off"
            else {"mode": params["standIns"], "models": [], "arguments": [], "media": []},
        },
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--pidfile", default="")
    parser.add_argument("--once", default="")
    parser.add_argument("--init-delay", type=float, default=0.0)
    args = parser.parse_args()
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write(str(os.getpid()))
    if args.mode == "no-init":
        print("fake worker: cannot start", file=sys.stderr, flush=True)
        return 7
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        method, msg_id, params = msg.get("method"), msg.get("id"), msg.get("params") or {}
        if args.mode == "garbage":
            print("garbage line from a library", flush=True)
        if method == "initialize":
            if args.mode == "slow-init":
                time.sleep(args.init_delay)
            if args.mode == "bad-init" and misbehaving(args) == "bad-init":
                reply(msg_id, "ready")
                continue
            reply(msg_id, {"protocolVersion": "1.0", "pid": os.getpid()})
        elif method == "execute":
            threading.Thread(target=execute, args=(msg_id, params, args), daemon=True).start()
        elif method == "cancel":
            _cancel.set()
            reply(msg_id, {"cancelled": True})
        elif method in ("memoryStatus", "clearMemory"):
            reply(msg_id, memory())
        elif method == "ping":
            reply(msg_id, {"ready": True})
        elif method == "shutdown":
            reply(msg_id, {})
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
