"""The model registry: models (any key reads them; admin keys upload, activate, roll back) and
trainings (admin keys fine-tune a model on a style set; the job is followed with `jobs.wait`)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from atelier_client import routes
from atelier_client.decoding import decode
from atelier_client.jobs import AsyncJob, Job
from atelier_client.options import FileInput, TrainingSettings, file_part, form_fields
from atelier_client.schemas import Activation, JobSnapshot, Model
from atelier_client.transport import Operation, call, request

if TYPE_CHECKING:
    from atelier_client.async_client import AsyncClient
    from atelier_client.client import Client

J = TypeVar("J", bound=JobSnapshot)


def list_models() -> Operation[list[Model]]:
    response = yield from call(request(routes.LIST_MODELS))
    return [decode(Model, item) for item in response.json()["data"]]


def get_model(model_id: str) -> Operation[Model]:
    response = yield from call(request(routes.GET_MODEL, ids={"model_id": model_id}))
    return decode(Model, response.json())


def upload_model(file: FileInput, name: str | None) -> Operation[Model]:
    req = request(
        routes.UPLOAD_MODEL,
        form=form_fields({"name": name}),
        files=[("file", file_part(file, "model.safetensors"))],
    )
    response = yield from call(req)
    return decode(Model, response.json())


def activate_model(model_id: str, force: bool, reason: str | None) -> Operation[Model]:
    body: dict[str, Any] = {"force": force, "reason": reason}
    req = request(routes.ACTIVATE_MODEL, ids={"model_id": model_id}, json=body)
    response = yield from call(req)
    return decode(Model, response.json())


def rollback_model() -> Operation[list[Model]]:
    response = yield from call(request(routes.ROLLBACK_MODEL))
    return [decode(Model, item) for item in response.json()["data"]]


def list_activations() -> Operation[list[Activation]]:
    response = yield from call(request(routes.LIST_ACTIVATIONS))
    return [decode(Activation, item) for item in response.json()["data"]]


def contact_sheet(model_id: str) -> Operation[bytes]:
    response = yield from call(request(routes.CONTACT_SHEET, ids={"model_id": model_id}))
    return response.content


def create_training(
    as_job: Callable[[Any], J],
    style_set_id: str,
    base: Mapping[str, object],
    settings: Mapping[str, object],
) -> Operation[J]:
    """`base`: name, content_set_id, base_model_id, from_scratch (None: the default)."""
    fields = {"style_set_id": style_set_id, **base, **settings}
    body = {name: value for name, value in fields.items() if value is not None}
    response = yield from call(request(routes.CREATE_TRAINING, json=body))
    return as_job(response.json())


def _base(
    name: str | None, content_set_id: str | None, base_model_id: str | None, from_scratch: bool
) -> dict[str, object]:
    return {
        "name": name,
        "content_set_id": content_set_id,
        "base_model_id": base_model_id,
        "from_scratch": from_scratch,
    }


def training_preview(job_id: str) -> Operation[bytes]:
    response = yield from call(request(routes.TRAINING_PREVIEW, ids={"job_id": job_id}))
    return response.content


class Models:
    """`client.models`: reading needs any key; upload, activate and rollback an admin key."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self) -> list[Model]:
        """Newest first; `is_active` marks the default for new GAN jobs."""
        return self._client._run(list_models())

    def get(self, model_id: str) -> Model:
        return self._client._run(get_model(model_id))

    def upload(self, file: FileInput, *, name: str | None = None) -> Model:
        """Register a model file made by `atelier train` (admin)."""
        return self._client._run(upload_model(file, name))

    def activate(self, model_id: str, *, force: bool = False, reason: str | None = None) -> Model:
        """Make it the default (admin); one that failed its quality gate needs `force` and
        a `reason` (ConflictError `gate_failed` otherwise)."""
        return self._client._run(activate_model(model_id, force, reason))

    def rollback(self) -> builtins.list[Model]:
        """Re-activate the model active before the current one (admin)."""
        return self._client._run(rollback_model())

    def activations(self) -> builtins.list[Activation]:
        """The activation log, newest first (admin)."""
        return self._client._run(list_activations())

    def contact_sheet(self, model_id: str) -> bytes:
        """The evaluation's contact sheet (PNG)."""
        return self._client._run(contact_sheet(model_id))


class AsyncModels:
    """`client.models` of an `AsyncClient`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self) -> list[Model]:
        return await self._client._run(list_models())

    async def get(self, model_id: str) -> Model:
        return await self._client._run(get_model(model_id))

    async def upload(self, file: FileInput, *, name: str | None = None) -> Model:
        return await self._client._run(upload_model(file, name))

    async def activate(
        self, model_id: str, *, force: bool = False, reason: str | None = None
    ) -> Model:
        return await self._client._run(activate_model(model_id, force, reason))

    async def rollback(self) -> builtins.list[Model]:
        return await self._client._run(rollback_model())

    async def activations(self) -> builtins.list[Activation]:
        return await self._client._run(list_activations())

    async def contact_sheet(self, model_id: str) -> bytes:
        return await self._client._run(contact_sheet(model_id))


class Trainings:
    """`client.trainings` (admin): start a fine-tune; follow it with `client.jobs.wait`."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        style_set_id: str,
        *,
        name: str | None = None,
        content_set_id: str | None = None,
        base_model_id: str | None = None,
        from_scratch: bool = False,
        **settings: Unpack[TrainingSettings],
    ) -> Job:
        """A training job on a style set: a fine-tune of `base_model_id`, else of the active
        model, else (or with `from_scratch`) a new model. Its progress is the job's
        `progress_info`; the finished job registers a model version."""
        base = _base(name, content_set_id, base_model_id, from_scratch)
        return self._client._run(
            create_training(self._client.jobs.as_job, style_set_id, base, settings)
        )

    def preview(self, job_id: str) -> bytes:
        """The latest preview (PNG: validation photos, then their stylized versions)."""
        return self._client._run(training_preview(job_id))


class AsyncTrainings:
    """`client.trainings` of an `AsyncClient`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        style_set_id: str,
        *,
        name: str | None = None,
        content_set_id: str | None = None,
        base_model_id: str | None = None,
        from_scratch: bool = False,
        **settings: Unpack[TrainingSettings],
    ) -> AsyncJob:
        base = _base(name, content_set_id, base_model_id, from_scratch)
        return await self._client._run(
            create_training(self._client.jobs.as_job, style_set_id, base, settings)
        )

    async def preview(self, job_id: str) -> bytes:
        return await self._client._run(training_preview(job_id))
