"""Rasa and the action server answer only their own callers, on the real stack: an intent sent straight to Rasa's
REST port is refused without the gateway's token, and the action server refuses calls without Rasa's token; all
three listen on 127.0.0.1. (The gateway's own turns passing through are every other end-to-end test.)"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from bot.rasa.endpoints import action_token, channel_headers

pytestmark = pytest.mark.slow


def post(url: str, body: dict, headers: dict[str, str] | None = None) -> tuple[int, object]:  # type: ignore[type-arg]
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback test servers
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_an_intent_sent_straight_to_rasa_is_refused(stack) -> None:  # type: ignore[no-untyped-def]
    url = stack.settings.rasa_url + "/webhooks/rest/webhook"
    injected = {"sender": "intruder", "message": '/human_handoff{"case_number": "WP2026000001"}'}
    status, body = post(url, injected)
    assert status == 403 and body["error"] == "forbidden"  # type: ignore[index]
    status, _ = post(url, injected, {"X-Etown-Channel-Token": "guessed"})
    assert status == 403
    # The control: the gateway's token gets an answer.
    status, replies = post(url, {"sender": "gateway-check", "message": "hello"}, channel_headers(stack.settings))
    assert status == 200 and isinstance(replies, list) and replies


def test_the_action_server_answers_only_rasa(stack) -> None:  # type: ignore[no-untyped-def]
    base = stack.settings.action_endpoint.rsplit("/webhook", 1)[0]
    call = {"next_action": "action_handoff", "sender_id": "intruder", "tracker": {"sender_id": "intruder"}}
    status, body = post(base + "/webhook", call)
    assert status == 403 and body["error"] == "forbidden"  # type: ignore[index]
    status, _ = post(base + "/webhook?token=guessed", call)
    assert status == 403
    with urllib.request.urlopen(base + "/health", timeout=10) as response:  # noqa: S310
        assert response.status == 200
    listed = base + "/actions?token=" + action_token(stack.settings)
    with urllib.request.urlopen(listed, timeout=10) as response:  # noqa: S310
        assert any(a["name"] == "action_handoff" for a in json.loads(response.read()))


def listening_addresses() -> dict[int, set[str]]:
    """Port → addresses listening on it, from /proc/net/tcp and tcp6 (state 0A is LISTEN)."""
    found: dict[int, set[str]] = {}
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            lines = open(table).read().splitlines()[1:]  # noqa: SIM115 - tiny proc files
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port = fields[1].split(":")
            if fields[3] != "0A":
                continue
            raw = bytes.fromhex(address)
            if size == 4:
                ip = ".".join(str(b) for b in raw[::-1])
            else:
                words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
                ip = str(ipaddress.IPv6Address(b"".join(words)))
            found.setdefault(int(port, 16), set()).add(ip)
    return found


def test_every_port_is_bound_to_loopback(stack) -> None:  # type: ignore[no-untyped-def]
    ports = {urlsplit(url).port for url in stack.settings.rasa_urls}
    ports |= {stack.settings.gateway_port, stack.settings.action_port}
    listening = listening_addresses()
    assert ports <= set(listening)
    assert set().union(*(listening[port] for port in ports)) == {"127.0.0.1"}
