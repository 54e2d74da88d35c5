"""The client against a served API with no worker, on each stack (jobs stay queued): cancel,
an idempotent resubmit (also after a connection dropped mid-answer), a 429 retried after
Retry-After, refusals raised as `AtelierError`s with the API's code (a refused save writes
nothing), styles, the model registry for admins."""

import asyncio
import time

import httpx
import pytest
from atelier_client import (
    APIConnectionError,
    AsyncClient,
    AtelierError,
    AuthenticationError,
    Client,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnsupportedFormatError,
    WaitTimeoutError,
)


def test_cancel_a_queued_job(idle_stack, photo, painting):
    with Client(idle_stack.url, idle_stack.user_key, poll_interval=0.05) as client:
        job = client.stylize(photo, style=painting, method="optimisation", wait=False)
        canceled = job.cancel()
        assert canceled.status == "canceled" and canceled.id == job.id
        assert job.wait(timeout=5).status == "canceled"
        with pytest.raises(ConflictError) as again:
            canceled.cancel()
        assert again.value.code == "job_finished" and again.value.status == 409
        with pytest.raises(ConflictError) as no_result:
            canceled.download()
        assert no_result.value.code == "job_not_succeeded"


def test_saving_a_missing_or_unfinished_result_raises_and_writes_nothing(
    idle_stack, photo, painting, tmp_path
):
    target = tmp_path / "stylized.png"
    with Client(idle_stack.url, idle_stack.user_key) as client:
        queued = client.stylize(photo, style=painting, method="optimisation", wait=False)
        with pytest.raises(NotFoundError) as missing:
            client.jobs.save("no-such-job", target)
        with pytest.raises(ConflictError) as unfinished:
            queued.save(target)
        client.jobs.cancel(queued.id)
    assert (missing.value.code, missing.value.status) == ("job_not_found", 404)
    assert (unfinished.value.code, unfinished.value.status) == ("job_not_succeeded", 409)
    assert list(tmp_path.iterdir()) == []  # no target, no `.part` file


def test_the_async_client_refuses_to_save_a_missing_or_unfinished_result(
    idle_stack, photo, painting, tmp_path
):
    target = tmp_path / "stylized.png"

    async def save() -> tuple[AtelierError, AtelierError]:
        async with AsyncClient(idle_stack.url, idle_stack.user_key) as client:
            queued = await client.stylize(photo, style=painting, method="optimisation", wait=False)
            with pytest.raises(NotFoundError) as missing:
                await client.jobs.save("no-such-job", target)
            with pytest.raises(ConflictError) as unfinished:
                await queued.save(target)
            await client.jobs.cancel(queued.id)
            return missing.value, unfinished.value

    missing, unfinished = asyncio.run(save())
    assert (missing.code, missing.status) == ("job_not_found", 404)
    assert (unfinished.code, unfinished.status) == ("job_not_succeeded", 409)
    assert list(tmp_path.iterdir()) == []


def test_a_wait_that_runs_out_says_so(idle_stack, photo, painting):
    with Client(idle_stack.url, idle_stack.user_key, poll_interval=0.05) as client:
        with pytest.raises(WaitTimeoutError) as waited:
            client.stylize(photo, style=painting, method="optimisation", timeout=1)
        assert waited.value.code == "wait_timeout" and "queued" in waited.value.message
        client.jobs.cancel(client.jobs.list(status="queued").data[0].id)


def test_an_idempotent_resubmit_returns_the_same_job(idle_stack, photo, painting, make_photo):
    with Client(idle_stack.url, idle_stack.user_key) as client:
        first = client.stylize(
            photo, style=painting, method="optimisation", wait=False, idempotency_key="order-7"
        )
        again = client.stylize(
            make_photo((48, 40), 9),
            style=painting,
            method="optimisation",
            wait=False,
            idempotency_key="order-7",
        )
        other = client.stylize(photo, style=painting, method="optimisation", wait=False)
    assert again.id == first.id and again.created_at == first.created_at
    assert other.id != first.id  # a key is generated per submission, never reused


class _AnswerLostOnce(httpx.HTTPTransport):
    """A transport whose first submission reaches the service but whose answer is lost (the
    connection drops as it comes back): the client cannot know whether a job was made."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[httpx.Response] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        self.answers.append(response)
        if request.method == "POST" and len(self.answers) == 1:
            raise httpx.ReadError("connection reset while reading the answer", request=request)
        return response


def test_a_submission_retried_after_a_lost_answer_is_the_same_job(idle_stack, photo, painting):
    transport = _AnswerLostOnce()
    with httpx.Client(transport=transport, timeout=30) as http:
        client = Client(idle_stack.url, idle_stack.user_key, http_client=http)
        job = client.stylize(photo, style=painting, method="optimisation", wait=False)
    first, retried = transport.answers
    assert first.status_code == 202 and first.json()["id"] == job.id
    assert retried.headers["idempotent-replayed"] == "true" and retried.json()["id"] == job.id


def _limited_key(stack, rate: str) -> str:
    with stack.client(stack.admin_key) as admin:
        created = admin.post("/v1/admin/keys", json={"name": "limited", "rate_limit": rate})
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def test_a_429_is_retried_after_its_retry_after(idle_stack, photo, painting):
    """A key limited to one submission in 3 s: the second submission is refused (429 with
    Retry-After); the client waits that long and submits again, which is accepted."""
    key = _limited_key(idle_stack, "1/3 seconds")
    answers: list[tuple[float, httpx.Response]] = []

    def note(response: httpx.Response) -> None:
        answers.append((time.monotonic(), response))

    with httpx.Client(timeout=30, event_hooks={"response": [note]}) as http:
        client = Client(idle_stack.url, key, http_client=http)
        first = client.stylize(photo, style=painting, method="optimisation", wait=False)
        with pytest.raises(RateLimitError) as refused:
            Client(idle_stack.url, key, max_retries=0, http_client=http).stylize(
                photo, style=painting, method="optimisation", wait=False
            )
        second = client.stylize(photo, style=painting, method="optimisation", wait=False)

    assert refused.value.code == "rate_limited" and refused.value.status == 429
    assert 1 <= refused.value.retry_after <= 3
    assert [r.status_code for _, r in answers] == [202, 429, 429, 202]
    (t_refused, refusal), (t_accepted, _) = answers[2], answers[3]
    assert t_accepted - t_refused >= float(refusal.headers["retry-after"]) - 0.05
    assert second.id != first.id


@pytest.mark.parametrize(
    ("photo_bytes", "kind", "code"),
    [
        (b"this is not an image at all", UnsupportedFormatError, "unsupported_format"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, InvalidInputError, "corrupt_image"),
        (b"", InvalidInputError, "empty_file"),
    ],
)
def test_a_bad_photo_raises_the_apis_code_and_stores_nothing(
    idle_stack, painting, photo_bytes, kind, code
):
    with Client(idle_stack.url, idle_stack.user_key) as client:
        before = client.jobs.list(limit=100).data
        with pytest.raises(kind) as refused:
            client.stylize(photo_bytes, style=painting, method="optimisation")
        after = client.jobs.list(limit=100).data
    assert isinstance(refused.value, AtelierError)
    assert refused.value.code == code and "'content'" in refused.value.message
    assert refused.value.status in (415, 422)
    assert [j.id for j in after] == [j.id for j in before]


def test_a_misspelt_option_is_refused_before_anything_is_sent(idle_stack, photo, painting):
    with (
        Client(idle_stack.url, idle_stack.user_key) as client,
        pytest.raises(TypeError, match="strenght"),
    ):
        client.stylize(photo, style=painting, strenght=0.5)  # type: ignore[call-arg]


def test_a_style_is_uploaded_listed_used_and_deleted(idle_stack, photo, painting):
    with Client(idle_stack.url, idle_stack.user_key) as client:
        style = client.styles.upload(painting, name="my painting")
        assert (style.name, style.width, style.height, style.builtin) == (
            "my painting",
            40,
            40,
            False,
        )
        assert style.id in [s.id for s in client.styles.list()]
        assert client.styles.image(style.id)[:8] == b"\x89PNG\r\n\x1a\n"
        job = client.stylize(photo, style_id=style.id, method="optimisation", wait=False)
        assert job.style_id == style.id
        client.jobs.cancel(job.id)
        client.styles.delete(style.id)
        with pytest.raises(NotFoundError) as gone:
            client.styles.get(style.id)
    assert gone.value.code == "style_not_found" and gone.value.status == 404


def test_keys_are_checked(idle_stack):
    with (
        Client(idle_stack.url, "atl_not-a-key") as stranger,
        pytest.raises(AuthenticationError) as refused,
    ):
        stranger.whoami()
    assert refused.value.code == "unauthorized" and refused.value.status == 401
    with Client(idle_stack.url, idle_stack.admin_key) as admin:
        assert admin.whoami().is_admin is True


def test_the_model_registry_for_admins(idle_stack, builtin_model_file):
    with Client(idle_stack.url, idle_stack.user_key) as user:
        with pytest.raises(PermissionDeniedError) as refused:
            user.models.activations()
        assert refused.value.code == "forbidden"
    with Client(idle_stack.url, idle_stack.admin_key) as admin:
        assert admin.models.list() == []
        model = admin.models.upload(builtin_model_file, name="tiny")
        assert (model.name, model.is_active, model.gate) == ("tiny", False, {})
        assert admin.models.activate(model.id).is_active is True
        assert [m.id for m in admin.models.list() if m.is_active] == [model.id]
        assert admin.models.activations()[0].model_id == model.id
        assert [m.id for m in admin.models.rollback() if m.is_active] == []
        with pytest.raises(NotFoundError) as missing:
            admin.trainings.create("no-such-set", steps=1)
        assert missing.value.code == "style_set_not_found"


def test_no_service_is_a_connection_error_after_the_retries(free_port):
    url = f"http://127.0.0.1:{free_port}"
    with Client(url, "atl_x", max_retries=1) as client, pytest.raises(APIConnectionError) as failed:
        client.whoami()
    assert failed.value.code == "connection_error" and failed.value.status is None
