"""The Ray backend of the worker pool: connecting to Ray, and one actor per worker slot.

The only module that imports Ray, and only inside :meth:`RayBackend.connect` (so importing
this module costs nothing and a Session on the local backend never loads Ray).

- **Where**: ``worker.ray.address`` empty starts a private Ray on this machine (bound to
  127.0.0.1 only, no dashboard, a small object store, as many CPUs as workers) that ends
  with the session; ``auto`` joins the cluster this machine is a node of; ``ray://HOST:PORT``
  connects through Ray Client. A Ray this process already runs (a test, a notebook) is
  used as it is and left running.
- **The actor** is :class:`_HostActor`, whose body builds the worker's
  :class:`~dw_lsp.worker.actor.RuntimeHost` by *module name* in the actor's own process
  (as the local backend starts ``python -m dw_lsp.worker`` by name): the session process
  never imports the worker or torch. Each actor has two concurrency groups: ``run`` (one
  thread: the run, streamed as a Ray generator, one item per progress event) and
  ``control`` (cancel, load keys, snapshot and clear answer during a run). Actors are not
  detached and never restarted by Ray: they die with this process, and the pool replaces a
  dead one itself. ``worker.ray.resources`` are each actor's resources (``{"GPU": 1}``);
  a ``CPU`` amount also sets the actor's torch threads.
- **Errors**: a dead actor (``RayActorError``) becomes :class:`~.pool_parts.ActorDied` with
  Ray's first lines of explanation; any other failure of a call becomes a
  :class:`~.rpc.WorkerError`. What the actor answers is checked by the pool
  (:mod:`.actor_channel`), not here.

No torch, no LSP types; never imports the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import math
import os
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from dw_lsp.session.pool_parts import CALL_TIMEOUT, ActorDied
from dw_lsp.session.rpc import WorkerError

#: The worker's in-process host, named so that only the actor's process imports it.
HOST_MODULE = "dw_lsp.worker.actor"
HOST_CLASS = "RuntimeHost"
NAMESPACE = "dw-lsp"
#: Object store of a private local Ray: results and progress are small.
LOCAL_OBJECT_STORE_BYTES = 128 * 1024 * 1024
#: Ray's switch that keeps a single-machine Ray on the loopback interface.
_LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class _HostActor:
    """The actor's body (runs in the actor's process): the worker's host, by name."""

    def __init__(self, options: dict[str, Any]) -> None:
        host_class = getattr(importlib.import_module(HOST_MODULE), HOST_CLASS)
        self._host = host_class(**options)

    def info(self) -> dict[str, Any]:
        import ray

        info: dict[str, Any] = self._host.info()
        info["nodeId"] = ray.get_runtime_context().get_node_id()
        return info

    def execute(self, params: dict[str, Any], ship_outputs: bool) -> Iterator[Any]:
        yield from self._host.execute(params, ship_outputs)

    def cancel(self, run_id: str | None = None) -> bool:
        return bool(self._host.cancel(run_id))

    def load_keys(self, params: dict[str, Any]) -> list[str]:
        return list(self._host.load_keys(params))

    def snapshot(self) -> dict[str, Any]:
        return dict(self._host.snapshot())

    def clear_memory(self) -> dict[str, Any]:
        return dict(self._host.clear_memory())


def _explain(exc: BaseException) -> str:
    """Ray's explanation of a failure, without its stack dumps."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith(("File ", "Traceback"))][:3]
    return " ".join(kept) or type(exc).__name__


def actor_options(resources: Mapping[str, float]) -> dict[str, Any]:
    """Ray actor options for ``worker.ray.resources``."""
    options: dict[str, Any] = {}
    custom = {k: v for k, v in resources.items() if k not in ("CPU", "GPU")}
    if "CPU" in resources:
        options["num_cpus"] = resources["CPU"]
    if "GPU" in resources:
        options["num_gpus"] = resources["GPU"]
    if custom:
        options["resources"] = custom
    return options


class RayActor:
    """A started actor, seen from the session (the pool's :class:`~.pool_parts.Actor`)."""

    def __init__(self, handle: Any, info: dict[str, Any], same_host: bool) -> None:
        self._handle = handle
        self.info = info
        self._same_host = same_host

    @property
    def same_host(self) -> bool:
        return self._same_host

    async def execute(self, params: dict[str, Any], ship_outputs: bool) -> AsyncIterator[Any]:
        import ray

        method = self._handle.execute.options(concurrency_group="run")
        try:
            async for ref in method.remote(params, ship_outputs):
                yield await ref
        except ray.exceptions.RayActorError as exc:
            raise ActorDied(_explain(exc)) from exc
        except ray.exceptions.RayError as exc:
            raise WorkerError(_explain(exc)) from exc

    async def call(self, method: str, *args: Any, timeout: float = CALL_TIMEOUT) -> Any:
        import ray

        remote = getattr(self._handle, method).options(concurrency_group="control")
        try:
            return await asyncio.wait_for(remote.remote(*args), timeout)
        except TimeoutError:
            raise WorkerError(f"the worker did not answer {method} within {timeout:g} s") from None
        except ray.exceptions.RayActorError as exc:
            raise ActorDied(_explain(exc)) from exc
        except ray.exceptions.RayError as exc:
            raise WorkerError(_explain(exc)) from exc

    async def kill(self) -> None:
        import ray

        with contextlib.suppress(Exception):  # already dead is fine
            ray.kill(self._handle, no_restart=True)


class RayBackend:
    """Connects to Ray and starts worker actors (the pool's :class:`~.pool_parts.PoolBackend`)."""

    def __init__(
        self,
        address: str = "",
        resources: Mapping[str, float] | None = None,
        *,
        workers: int = 2,
        log_level: str = "INFO",
    ) -> None:
        self.address = address
        self.resources = dict(resources or {})
        self.workers = workers
        self.log_level = log_level
        self.description = address or "local Ray (started on demand)"
        self._started_ray = False
        self._node_id: str | None = None
        self._actor_class: Any = None
        self._prefix = f"dw-lsp-{uuid.uuid4().hex[:8]}"

    async def connect(self) -> None:
        await asyncio.to_thread(self._connect)

    def _connect(self) -> None:
        if not self.address:
            # Before Ray is imported: a private single-machine Ray listens on loopback only.
            os.environ.setdefault(_LOOPBACK_ONLY, "0")
        try:
            import ray
        except ImportError as exc:
            raise WorkerError(
                "worker.backend is ray but Ray is not installed in the server's Python; "
                "install it with: pip install 'dw-lsp[cluster]'"
            ) from exc
        if not ray.is_initialized():
            common: dict[str, Any] = {
                "namespace": NAMESPACE,
                "include_dashboard": False,
                "log_to_driver": False,  # actors' output must never reach our stdout
                "configure_logging": False,
            }
            try:
                if self.address:
                    ray.init(address=self.address, **common)
                else:
                    cpus = max(self.workers, os.cpu_count() or 1)
                    ray.init(
                        num_cpus=cpus,
                        object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                        **common,
                    )
                    self._started_ray = True
            except Exception as exc:
                where = self.address or "a local Ray"
                raise WorkerError(f"Could not connect to {where}: {_explain(exc)}") from exc
        with contextlib.suppress(Exception):  # a Ray Client driver has no node of its own
            self._node_id = ray.get_runtime_context().get_node_id()
        remote: Any = ray.remote  # its overloads do not list concurrency_groups
        self._actor_class = remote(concurrency_groups={"run": 1, "control": 4})(_HostActor)

    async def start_actor(self, slot: int, timeout: float) -> RayActor:
        import ray

        threads = self.resources.get("CPU")
        options = {
            "threads": max(1, math.floor(threads)) if threads else None,
            "log_level": self.log_level,
        }
        handle = self._actor_class.options(
            name=f"{self._prefix}-{slot}",
            max_restarts=0,
            max_task_retries=0,
            **actor_options(self.resources),
        ).remote(options)
        try:
            info = await asyncio.wait_for(
                handle.info.options(concurrency_group="control").remote(), timeout
            )
        except TimeoutError:
            with contextlib.suppress(Exception):
                ray.kill(handle, no_restart=True)
            raise WorkerError(
                f"worker {slot} did not start within {timeout:g} s; does the cluster have "
                f"the resources it asks for ({self.resources or 'none'})? See `ray status`."
            ) from None
        except ray.exceptions.RayError as exc:
            raise WorkerError(f"worker {slot} failed to start: {_explain(exc)}") from exc
        # Checked by the pool (actor_channel.check_info); only read defensively here.
        node = info.get("nodeId") if isinstance(info, dict) else None
        same_host = self._node_id is not None and node == self._node_id
        return RayActor(handle, info, same_host)

    async def shutdown(self) -> None:
        if self._started_ray:
            import ray

            await asyncio.to_thread(ray.shutdown)
            self._started_ray = False
