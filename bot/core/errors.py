"""The one error type services raise for requests that cannot be done, so every interface reports them alike
(HTTP as JSON with a status, the WebSocket as an error frame, socket.io as a message)."""

from __future__ import annotations

from typing import ClassVar


class ServiceError(ValueError):
    """`code` is machine-readable, the message is for people; `status` is what an HTTP API answers with."""

    STATUS: ClassVar[dict[str, int]] = {
        "not_found": 404,
        "not_yours": 403,
        "conflict": 409,
        "duplicate": 409,
        "already_claimed": 409,
        "not_claimed": 409,
        "resolved": 409,
        "rate_limited": 429,
    }

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def status(self) -> int:
        return self.STATUS.get(self.code, 400)
