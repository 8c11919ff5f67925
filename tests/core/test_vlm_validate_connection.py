"""`validate_connection` (the configuration form's check) against a local server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import httpx
import pytest

from custom_components.homesec_nvr.core.vlm.openai_compatible import (
    VLMError,
    VLMSettings,
    validate_connection,
)

from .openai_server import DEFAULT_MODEL, OpenAIServer, Reply


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[OpenAIServer]:
    """The local OpenAI-compatible server (sockets allowed, 127.0.0.1 only)."""
    async with OpenAIServer() as srv:
        yield srv


@pytest.fixture
async def http_client() -> AsyncGenerator[httpx.AsyncClient]:
    client = await asyncio.get_running_loop().run_in_executor(None, httpx.AsyncClient)
    async with client:
        yield client


async def test_a_listed_model_is_accepted_from_the_model_list(
    server: OpenAIServer, http_client: httpx.AsyncClient
) -> None:
    # Given a server listing the configured model among others
    server.models = ["other-model", DEFAULT_MODEL]
    settings = VLMSettings(base_url=server.url, model=DEFAULT_MODEL, api_key=None)

    # When the connection is validated
    check = await validate_connection(settings, http_client)

    # Then the list proves it, without a chat request
    assert check.verified_by == "models"
    assert check.models == ("other-model", DEFAULT_MODEL)
    assert [r.path for r in server.requests] == ["/v1/models"]


async def test_an_ollama_style_latest_tag_matches(
    server: OpenAIServer, http_client: httpx.AsyncClient
) -> None:
    # Given a server listing "llava:latest"
    server.models = ["llava:latest"]

    # When "llava" is validated
    check = await validate_connection(VLMSettings(base_url=server.url, model="llava"), http_client)

    # Then it counts as the same model
    assert check.verified_by == "models"


async def test_a_model_missing_from_the_list_is_model_not_found(
    server: OpenAIServer, http_client: httpx.AsyncClient
) -> None:
    # Given a server that lists other models only
    server.models = ["llama3", "qwen2.5vl"]

    # When a missing model is validated
    with pytest.raises(VLMError) as caught:
        await validate_connection(VLMSettings(base_url=server.url, model="gpt-4o"), http_client)

    # Then the reason is model_not_found and the message lists what the server offers
    assert caught.value.reason == "model_not_found"
    assert "llama3, qwen2.5vl" in str(caught.value)


async def test_a_wrong_key_is_invalid_auth(
    server: OpenAIServer, http_client: httpx.AsyncClient
) -> None:
    # Given a server expecting another key
    server.api_key = "sk-right"

    # When a wrong key is validated
    with pytest.raises(VLMError) as caught:
        await validate_connection(
            VLMSettings(base_url=server.url, model=DEFAULT_MODEL, api_key="sk-wrong-9876"),
            http_client,
        )

    # Then the reason is invalid_auth and the key is not in the message
    assert caught.value.reason == "invalid_auth"
    assert "sk-wrong-9876" not in str(caught.value)


async def test_a_server_that_cannot_list_models_is_checked_with_a_tiny_request(
    server: OpenAIServer, http_client: httpx.AsyncClient
) -> None:
    # Given a server answering 404 to GET /models
    server.models_status = 404

    # When the connection is validated
    check = await validate_connection(
        VLMSettings(base_url=server.url, model=DEFAULT_MODEL), http_client
    )

    # Then a one-token text request proved it
    assert check.verified_by == "chat"
    (body,) = server.chat_bodies
    assert body["max_tokens"] == 1
    assert body["model"] == DEFAULT_MODEL


async def test_the_tiny_request_reports_an_unknown_model(
    server: OpenAIServer, http_client: httpx.AsyncClient
) -> None:
    # Given a server that cannot list models and does not know the model
    server.models_status = 404

    # When an unknown model is validated
    with pytest.raises(VLMError) as caught:
        await validate_connection(VLMSettings(base_url=server.url, model="nope"), http_client)

    # Then the reason is model_not_found
    assert caught.value.reason == "model_not_found"


async def test_the_tiny_request_tolerates_a_rejected_parameter(
    server: OpenAIServer, http_client: httpx.AsyncClient
) -> None:
    # Given a model that rejects max_tokens (server, key and model are fine)
    server.models_status = 404
    server.script(
        Reply(status=400, error_message="Unsupported parameter: 'max_tokens'", error_param="x")
    )

    # When the connection is validated
    check = await validate_connection(
        VLMSettings(base_url=server.url, model=DEFAULT_MODEL), http_client
    )

    # Then the rejection still proves the connection
    assert check.verified_by == "chat"


async def test_an_unreachable_server_is_cannot_connect(
    socket_enabled: None, http_client: httpx.AsyncClient
) -> None:
    # Given a server that has stopped listening
    async with OpenAIServer() as gone:
        url = gone.url

    # When it is validated
    with pytest.raises(VLMError) as caught:
        await validate_connection(VLMSettings(base_url=url, model="m"), http_client)

    # Then the reason is cannot_connect
    assert caught.value.reason == "cannot_connect"


async def test_a_wrong_base_url_is_cannot_connect(
    server: OpenAIServer, http_client: httpx.AsyncClient
) -> None:
    # Given a base URL without /v1 (every path is 404 there)
    url = server.url.removesuffix("/v1")

    # When it is validated
    with pytest.raises(VLMError) as caught:
        await validate_connection(VLMSettings(base_url=url, model=DEFAULT_MODEL), http_client)

    # Then the reason is cannot_connect and the message points at the base URL
    assert caught.value.reason == "cannot_connect"
    assert "base URL" in str(caught.value)
