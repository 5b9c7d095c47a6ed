"""Starts `rasa` (same arguments as the `rasa` command) with one speed fix for Rasa 3.6 installed first.

Rasa checks every action server response against a JSON schema with `jsonschema.validate`, which re-checks the
schema itself and builds a new validator on each call: ~15 ms of CPU per custom action, about a fifth of a turn.
`compile_action_response_validation` validates against the same schema with a validator built once, raising the same
`ValidationError` with the same hint, so behaviour is unchanged. `rasa run` without this still works, only slower.

And one robustness fix: when the action server cannot be reached (restarting after a crash) or answers with a
server error (an action's database briefly unreachable), stock Rasa logs the error, drops the action's events and
carries on, so the user gets a half-done turn (often no answer at all) and the
tracker keeps it. `wait_for_action_server` instead retries the call for a few seconds (a restart is usually that
quick), and if the server is still unreachable ends the turn without saving it and answers with one custom
payload, `{"type": "actions_unavailable"}`: the gateway keeps the message and sends it again later, so the turn
runs once, completely. (Only the gateway reads that payload; other channels would show nothing for it.)
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
import sys
from typing import Any

import aiohttp
from rasa.core.actions.action import RemoteAction
from rasa.core.processor import MessageProcessor
from rasa.shared.exceptions import RasaException

from bot.core import payload

log = logging.getLogger(__name__)
_ORIGINAL = RemoteAction._validate_action_result
# How long one turn waits, in all, for an unreachable action server: well under the gateway's 30 s request timeout,
# so the gateway never gives up on a turn that is still running.
ACTION_SERVER_WAIT_S = 10.0
ACTIONS_UNAVAILABLE = payload.ACTIONS_UNAVAILABLE
# Per turn (each request runs in its own task): when the wait began, and whether it ran out.
_TURN: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("etown_turn", default=None)


class ActionServerUnreachable(RasaException):
    """Ends a turn, unsaved, because the action server stayed unreachable."""


def compile_action_response_validation() -> None:
    """Replace RemoteAction's per-call schema compilation by a validator compiled once (idempotent)."""
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    def validate(self: RemoteAction, result: dict[str, Any]) -> bool:
        try:
            validator.validate(result)
        except ValidationError:
            # Same error path as Rasa's own method, so the message users see is identical.
            return _ORIGINAL(self, result)
        return True

    RemoteAction._validate_action_result = validate


def _unreachable(exc: BaseException) -> bool:
    """The action server could not run the action: unreachable (RemoteAction raises while handling the connection
    error, no `from`), or it answered with a server error, as it does when an action's own store (the database)
    is briefly unreachable. Stock Rasa would carry on without the action's events, so the user would get a turn
    with no answer that a resend could not repair (the tracker already holds the turn)."""
    from rasa.utils.endpoints import ClientResponseError

    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, aiohttp.ClientConnectionError):
        return True
    return isinstance(cause, ClientResponseError) and cause.status >= 500


def wait_for_action_server() -> None:
    """Retry unreachable action calls within a turn for ACTION_SERVER_WAIT_S; past it, end the turn unsaved
    (idempotent)."""
    if getattr(RemoteAction.run, "_etown_waits", False):
        return
    run_action_call = RemoteAction.run
    run_action_step = MessageProcessor._run_action
    handle_message = MessageProcessor.handle_message

    async def run(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
        turn = _TURN.get()
        delay = 0.25
        while True:
            try:
                return await run_action_call(self, *args, **kwargs)
            except RasaException as exc:
                if turn is None or not _unreachable(exc):
                    raise
                loop = asyncio.get_running_loop()
                turn.setdefault("deadline", loop.time() + ACTION_SERVER_WAIT_S)
                left = turn["deadline"] - loop.time()
                if left <= 0:
                    turn["unreachable"] = True
                    raise
                log.warning("action server could not run %s; trying again in %.2f s", self.name(), min(delay, left))
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, 2.0)

    step_signature = inspect.signature(run_action_step)

    async def _run_action(self: MessageProcessor, *args: Any, **kwargs: Any) -> Any:
        turn = _TURN.get()
        if turn is None or not turn.get("unreachable"):
            result = await run_action_step(self, *args, **kwargs)
        if turn is not None and turn.get("unreachable"):
            # Stop here: raising skips the rest of the turn and handle_message's save_tracker.
            called = step_signature.bind(self, *args, **kwargs).arguments
            await called["output_channel"].send_custom_json(called["tracker"].sender_id, {"type": ACTIONS_UNAVAILABLE})
            raise ActionServerUnreachable(f"action server unreachable for {ACTION_SERVER_WAIT_S:.0f} s; turn not saved")
        return result

    async def _handle_message(self: MessageProcessor, message: Any) -> Any:
        token = _TURN.set({})
        try:
            return await handle_message(self, message)
        finally:
            _TURN.reset(token)

    from rasa.core.agent import Agent

    agent_handle_message = Agent.handle_message

    async def agent_handle(self: Agent, message: Any) -> Any:
        """A turn that fails (the tracker store's database or the Redis lock store unreachable) would otherwise
        end in Rasa's REST channel as HTTP 200 with no messages, which the gateway takes for a turn that said
        nothing: the message would never be answered. Answer with the payload of a turn that did not complete
        instead; the gateway keeps the message and sends it again later (another Rasa server shares the stores)."""
        try:
            return await agent_handle_message(self, message)
        except ActionServerUnreachable:
            raise  # the payload is already sent
        except Exception:
            log.exception("turn of %s failed before it completed; the gateway will send it again", message.sender_id)
            await message.output_channel.send_custom_json(message.sender_id, {"type": ACTIONS_UNAVAILABLE})
            raise

    Agent.handle_message = agent_handle
    run._etown_waits = True  # type: ignore[attr-defined]
    RemoteAction.run = run
    MessageProcessor._run_action = _run_action
    MessageProcessor.handle_message = _handle_message


def main() -> None:
    compile_action_response_validation()
    wait_for_action_server()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    try:
        rasa_main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    # The server has stopped and closed its stores. Leave without tearing down the interpreter: a Rasa process
    # holds ~1 GB of objects (TensorFlow, the model), and collecting them one by one took 3-9 s after SIGTERM on
    # the shared 2-core machine, which only delays every stop and restart.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
