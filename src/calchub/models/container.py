"""The container runtime: a model image run through a Docker engine, with the Docker SDK.

The image serves on 8080 inside the container, as SageMaker's bring-your-own-container
images do (they are started with the argument ``serve``); calchub publishes that port on
the address and port it assigned. CPU, memory and GPU limits come from the manifest's
resources. The container's output is copied into the model's log.

Written against the official ``docker`` SDK; the machines calchub is tested on have no
Docker engine, so this runtime is not exercised by the test suite (docs/models.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from calchub.models.base import Launch, Runtime, Served, StartFailed, model_env

#: The port a SageMaker-style image serves on inside its container.
CONTAINER_PORT = 8080
LABEL = "calchub.model"


class ServedContainer(Served):
    def __init__(self, container: Any, endpoint: str) -> None:
        self.container = container
        self.ident = str(container.id)[:12]
        self.endpoint = endpoint
        self._exit: int | None = None

    def exit_code(self) -> int | None:
        if self._exit is not None:
            return self._exit
        try:
            self.container.reload()
        except Exception:  # the engine lost it: it is gone
            self._exit = -1
            return self._exit
        if self.container.status in {"created", "running", "restarting"}:
            return None
        self._exit = int(self.container.attrs.get("State", {}).get("ExitCode", -1))
        return self._exit

    async def stop(self, grace: float) -> None:
        def stop_and_remove() -> None:
            with contextlib.suppress(Exception):
                self.container.stop(timeout=max(1, int(grace)))
            with contextlib.suppress(Exception):
                self.container.remove(force=True)

        await asyncio.to_thread(stop_and_remove)


class ContainerRuntime(Runtime):
    name = "container"

    def __init__(self) -> None:
        self._client: Any = None

    def _docker(self) -> Any:
        if self._client is None:
            try:
                import docker  # type: ignore[import-untyped]

                self._client = docker.from_env()
                self._client.ping()
            except ImportError as error:
                raise StartFailed("the container runtime needs the 'docker' package on the server") from error
            except Exception as error:
                raise StartFailed(f"no Docker engine answers here ({error}); set DOCKER_HOST") from error
        return self._client

    async def start(self, launch: Launch) -> Served:
        return await asyncio.to_thread(self._start, launch)

    def _start(self, launch: Launch) -> Served:
        docker = self._docker()
        spec = launch.spec
        options: dict[str, Any] = {
            "command": ["serve"],
            "detach": True,
            "name": f"calchub-model-{launch.model_id}-{launch.port}",
            "labels": {LABEL: str(launch.model_id)},
            "environment": model_env(launch, CONTAINER_PORT, "0.0.0.0"),
            "ports": {f"{CONTAINER_PORT}/tcp": (launch.host, launch.port)},
        }
        if spec.resources.cpus:
            options["nano_cpus"] = int(spec.resources.cpus * 1e9)
        if spec.resources.memory:
            options["mem_limit"] = spec.resources.memory
        if spec.resources.gpus:
            from docker.types import DeviceRequest  # type: ignore[import-untyped]

            options["device_requests"] = [DeviceRequest(count=spec.resources.gpus, capabilities=[["gpu"]])]
        try:
            container = docker.containers.run(spec.image, **options)
        except Exception as error:
            raise StartFailed(f"docker could not run {spec.image}: {error}") from error
        threading.Thread(target=_copy_logs, args=(container, launch), daemon=True).start()
        return ServedContainer(container, f"http://{launch.host}:{launch.port}")

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()


def _copy_logs(container: Any, launch: Launch) -> None:
    with contextlib.suppress(Exception), launch.log.open("ab") as log:
        for chunk in container.logs(stream=True, follow=True):
            log.write(chunk)
            log.flush()
