"""The gateway's HTTP server: aiohttp's AppRunner and run_app, with one change: the security headers also reach
the responses aiohttp writes itself for requests it cannot parse (a bad request line, a bad or oversize header).

Those 400s never reach the application: the protocol layer (`RequestHandler.handle_error` in aiohttp 3.9's
web_protocol) builds them for a placeholder request that matched no route, so neither middlewares nor the
application's `on_response_prepare` signal see them, and aiohttp offers no setting for it (`handler_args` only
passes constructor arguments). The one place they can be reached is the protocol class itself, which the Server
(the protocol factory) instantiates; so the runner here builds its Server with a RequestHandler subclass."""

from __future__ import annotations

import asyncio
import weakref
from functools import partial
from typing import Any, Mapping

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_runner import GracefulExit
from aiohttp.web_server import Server

from bot.gateway.keys import SETTINGS
from bot.gateway.middleware import baseline_headers


class SecuredRequestHandler(RequestHandler):
    """aiohttp's protocol, whose own error responses carry the gateway's security headers."""

    __slots__ = ("_error_headers",)

    def __init__(self, manager: Server, *, error_headers: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._error_headers = dict(error_headers)

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        response = super().handle_error(request, status, exc, message)
        for name, value in self._error_headers.items():
            response.headers.setdefault(name, value)  # a routed request's own hook may have said more already
        return response


class SecuredServer(Server):
    """The protocol factory: the same Server, making SecuredRequestHandler connections."""

    def __init__(self, handler: Any, *, error_headers: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.error_headers = dict(error_headers)

    def __call__(self) -> RequestHandler:
        return SecuredRequestHandler(self, loop=self._loop, error_headers=self.error_headers, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """AppRunner whose server is a SecuredServer with everything the application set up for its own."""

    async def _make_server(self) -> Server:
        plain = await super()._make_server()  # startup, freeze, the handler arguments aiohttp derives
        return SecuredServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            error_headers=baseline_headers(self.app[SETTINGS], None),
            **plain._kwargs,
        )


async def start(
    app: web.Application, host: str, port: int, *, shutdown_timeout: float, handle_signals: bool = False
) -> GatewayRunner:
    """Set the application up and listen on host:port (port 0: any free one; see `runner.addresses`)."""
    runner = GatewayRunner(app, handle_signals=handle_signals, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def _wait_for_tasks(started: weakref.WeakSet[asyncio.Task[Any]], timeout: float) -> None:
    """At shutdown, give the tasks started while serving (handlers, deliveries to Rasa) up to `timeout` to end,
    as aiohttp's run_app does; the tasks that run forever were all started before serving began."""
    waiting = {asyncio.current_task()}

    async def pending() -> None:
        waiting.add(asyncio.current_task())  # wait_for runs this in a task of its own
        while tasks := asyncio.all_tasks() - set(started) - waiting:
            await asyncio.wait(tasks)

    try:
        await asyncio.wait_for(pending(), timeout)
    except asyncio.TimeoutError:
        pass


async def _serve(app: web.Application, host: str, port: int, shutdown_timeout: float) -> None:
    runner = await start(app, host, port, shutdown_timeout=shutdown_timeout, handle_signals=True)
    started: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet(asyncio.all_tasks())
    runner.shutdown_callback = partial(_wait_for_tasks, started, shutdown_timeout)
    try:
        await asyncio.Event().wait()  # until SIGINT or SIGTERM raises GracefulExit out of the loop
    finally:
        await runner.cleanup()


def run_app(app: web.Application, host: str, port: int, *, shutdown_timeout: float) -> None:
    """aiohttp's `web.run_app` for one TCP address, with the GatewayRunner (run_app builds its own AppRunner)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(app, host, port, shutdown_timeout))
    try:
        loop.run_until_complete(main)
    except (GracefulExit, KeyboardInterrupt):
        pass
    finally:
        # The server first (its cleanup still has the other tasks to wait for), then whatever is left.
        for tasks in ({main}, asyncio.all_tasks(loop)):
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
