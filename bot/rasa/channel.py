"""Rasa's REST input channel, answering only the gateway.

Rasa's own `rest` channel accepts a message from anything that reaches its port, so `/human_handoff` or
`/intent{"slot": ...}` sent there would skip every rule of the gateway (stored first, masked, rate-limited, the
conversation state). This channel is the same REST channel (same URL `/webhooks/rest/webhook`, same replies) with
one check first: the request must carry the token derived from SECRET_KEY in the `X-Etown-Channel-Token` header,
compared in constant time. Registered in credentials.yml."""

from __future__ import annotations

import hmac
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core.settings import load_settings
from bot.rasa.endpoints import CHANNEL_TOKEN_HEADER, channel_token


class GatewayInput(RestInput):
    """The REST channel with the gateway's shared secret required on every message."""

    @classmethod
    def name(cls) -> str:
        return "rest"  # the same URL and input_channel as Rasa's own REST channel

    def __init__(self, token: str | None = None) -> None:
        self.token = token or channel_token(load_settings())

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> GatewayInput:
        return cls((credentials or {}).get("token"))

    def allowed(self, request: Request) -> bool:
        sent = request.headers.get(CHANNEL_TOKEN_HEADER, "")
        return hmac.compare_digest(sent.encode(), self.token.encode())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = super().blueprint(on_new_message)

        @webhook.middleware("request")
        async def require_token(request: Request) -> HTTPResponse | None:
            if request.method == "GET":
                return None  # the channel's health check says nothing
            if not self.allowed(request):
                return response.json({"error": "forbidden", "message": "only the gateway may talk to Rasa"}, 403)
            return None

        return webhook
