"""`make bench`: latency and throughput of a turn, full path against raw Rasa, measured side by side.

Paths measured in the same run, on the same trained model:
- full:      WebSocket → gateway (stores, forwards) → Rasa → action server → back over the WebSocket;
- rasa-rest: Rasa's REST channel of one of our Rasa servers directly (what a turn costs without the gateway);
- baseline:  a stock `rasa init` assistant (default pipeline and policies, in-memory tracker store, one process),
             trained once and cached in var/bench-baseline/ — the "raw Rasa" of DESIGN.md (skip with --no-baseline).
The gateway's per-conversation message limit is lifted for the run (it would refuse a closed loop's turns).
Printed: p50/p95/p99 per turn; turns/s with 1 and 20 concurrent conversations (the 20-conversation runs alternate
between the systems for --rounds rounds and report medians); latency around turns 5, 50 and 200 of one long
conversation; p50/p99 under a steady open-loop 5 turns/s; resident memory of each process.
It prints figures and ratios; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import aiohttp

from bot.core import payload
from bot.core.settings import PROJECT_ROOT, load_settings
from bot.evaluation.questions import load_questions
from bot.rasa.endpoints import channel_headers

BASELINE_DIR = PROJECT_ROOT / "var" / "bench-baseline"
TURN_TIMEOUT = 30.0
# Replies that start something longer than one turn (a form, a queue, a question back) would make the next
# benchmark turn answer that instead of a question; the bench keeps only questions that get a plain answer.
MULTI_TURN_REPLIES = {
    payload.FORM_QUESTION,
    payload.HANDOFF,
    payload.CLARIFY,
    payload.VERIFY_REQUEST,
    payload.VERIFY_LOCKED,
}


class TurnFailures:
    """Turns that got no complete answer within TURN_TIMEOUT; printed, never hidden."""

    count = 0


def questions() -> list[str]:
    pool = [q.text for q in load_questions(PROJECT_ROOT / "tests/eval/questions.yml") if q.covered]
    return pool[::5][:60] + ["hello", "你好", "thanks", "谢谢"]


async def one_turn_questions(rasa_url: str, texts: list[str], keep: int = 40) -> list[str]:
    """The texts whose reply, in a fresh conversation, is complete in one turn (asked over Rasa's REST channel)."""
    kept = []
    url = rasa_url.rstrip("/") + "/webhooks/rest/webhook"
    async with aiohttp.ClientSession(headers=channel_headers(load_settings())) as session:
        for text in texts:
            async with session.post(url, json={"sender": "probe-" + uuid.uuid4().hex, "message": text}) as response:
                replies = await response.json() if response.status == 200 else []
            kinds = {(r.get("custom") or {}).get("type") for r in replies if isinstance(r.get("custom"), dict)}
            if replies and not kinds & MULTI_TURN_REPLIES:
                kept.append(text)
    return kept[:keep]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def ms(values: list[float]) -> str:
    p50, p95, p99 = (percentile(values, p) * 1000 for p in (50, 95, 99))
    return f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  (n={len(values)})"


class RestConversation:
    """One conversation over Rasa's REST channel."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url.rstrip("/") + "/webhooks/rest/webhook"
        self.sender = "bench-" + uuid.uuid4().hex
        self.headers = channel_headers(load_settings())  # our Rasa's channel needs the gateway's token

    async def turn(self, text: str) -> None:
        try:
            timeout = aiohttp.ClientTimeout(total=TURN_TIMEOUT)
            payload = {"sender": self.sender, "message": text}
            async with self.session.post(self.url, json=payload, timeout=timeout, headers=self.headers) as response:
                response.raise_for_status()
                await response.read()
        except (asyncio.TimeoutError, aiohttp.ClientError):
            TurnFailures.count += 1
            self.sender = "bench-" + uuid.uuid4().hex

    async def close(self) -> None:
        return None


class SocketConversation:
    """One conversation over the gateway's WebSocket; a turn ends when the bot stops typing."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url.rstrip("/") + "/ws"
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.count = 0

    async def open(self) -> SocketConversation:
        self.ws = await self.session.ws_connect(self.url, max_msg_size=0)
        await self.ws.send_json({"type": "hello"})
        await self._until(lambda f: f["type"] == "welcome")
        return self

    async def _until(self, done: Callable[[dict[str, Any]], bool]) -> None:
        assert self.ws is not None
        while True:
            frame = json.loads((await self.ws.receive()).data)
            if done(frame):
                return

    async def turn(self, text: str) -> None:
        """One turn; on a timeout the failure is counted and the next turn starts a new conversation."""
        assert self.ws is not None
        self.count += 1
        await self.ws.send_json({"type": "message", "id": f"b{self.count}", "text": text})
        seen_bot = False

        refused = False

        def done(frame: dict[str, Any]) -> bool:
            nonlocal seen_bot, refused
            if frame["type"] == "message" and frame.get("role") == "bot":
                seen_bot = True
            refused = frame["type"] == "error"
            return refused or (seen_bot and frame["type"] == "typing" and not frame["active"])

        try:
            await asyncio.wait_for(self._until(done), TURN_TIMEOUT)
            if refused:
                TurnFailures.count += 1
        except asyncio.TimeoutError:
            TurnFailures.count += 1
            await self.close()
            await self.open()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


async def new_conversation(
    kind: str, session: aiohttp.ClientSession, url: str
) -> SocketConversation | RestConversation:
    if kind == "full":
        return await SocketConversation(session, url).open()
    return RestConversation(session, url)


async def sequential(kind: str, url: str, texts: list[str], turns: int) -> list[float]:
    async with aiohttp.ClientSession() as session:
        latencies = []
        for i in range(turns):
            conversation = await new_conversation(kind, session, url)
            start = time.perf_counter()
            await conversation.turn(texts[i % len(texts)])
            latencies.append(time.perf_counter() - start)
            await conversation.close()
        return latencies


async def closed_loop(kind: str, url: str, texts: list[str], users: int, seconds: float) -> tuple[float, list[float]]:
    """`users` conversations each sending the next turn as soon as the last is answered."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=users * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def user(n: int) -> None:
            conversation = await new_conversation(kind, session, url)
            i = n
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                await conversation.turn(texts[i % len(texts)])
                latencies.append(time.perf_counter() - start)
                i += 1
            await conversation.close()

        began = time.perf_counter()
        await asyncio.gather(*(user(n) for n in range(users)))
        elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, latencies


async def open_loop(kind: str, url: str, texts: list[str], rate: float, seconds: float) -> list[float]:
    """Turns start on a fixed schedule (`rate` per second) whatever the answers do, across 10 conversations."""
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        conversations = [await new_conversation(kind, session, url) for _ in range(10)]
        locks = [asyncio.Lock() for _ in conversations]
        tasks = []

        async def one(i: int, scheduled: float) -> None:
            async with locks[i % len(conversations)]:
                await conversations[i % len(conversations)].turn(texts[i % len(texts)])
            latencies.append(time.perf_counter() - scheduled)

        began = time.perf_counter()
        for i in range(int(rate * seconds)):
            scheduled = began + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            tasks.append(asyncio.create_task(one(i, scheduled)))
        await asyncio.gather(*tasks)
        for conversation in conversations:
            await conversation.close()
    return latencies


async def long_conversation(kind: str, url: str, texts: list[str], turns: int) -> dict[int, float]:
    """Median latency around turns 5, 50 and 200 (±5 turns) of one conversation."""
    async with aiohttp.ClientSession() as session:
        conversation = await new_conversation(kind, session, url)
        latencies = []
        for i in range(turns):
            start = time.perf_counter()
            await conversation.turn(texts[i % len(texts)])
            latencies.append(time.perf_counter() - start)
        await conversation.close()
    marks = [m for m in (5, 50, 200) if m <= turns]
    return {m: statistics.median(latencies[max(0, m - 6) : m + 5]) for m in marks}


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    pids = [pid]
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        pids += [int(p) for p in out.split()]
    except OSError:
        pass
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def ensure_baseline() -> Path | None:
    """Train the stock `rasa init` assistant once; its model is cached across runs."""
    model = BASELINE_DIR / "models" / "baseline.tar.gz"
    if model.exists():
        return model
    rasa = str(Path(sys.executable).with_name("rasa"))
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    print("training the stock `rasa init` baseline once (cached in var/bench-baseline/)…", flush=True)
    BASELINE_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [rasa, "init", "--no-prompt", "--init-dir", str(BASELINE_DIR)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for old in (BASELINE_DIR / "models").glob("*.tar.gz"):
        old.unlink()
    subprocess.run(
        [rasa, "train", "--fixed-model-name", "baseline"],
        cwd=BASELINE_DIR,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return model if model.exists() else None


class Baseline:
    """The stock assistant served by `rasa run` on a free port (its own actions are never called)."""

    def __init__(self, model: Path) -> None:
        from bot.processes.stack import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
        self.log = tempfile.NamedTemporaryFile(prefix="baseline-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("rasa")),
                "run",
                "--model",
                str(model),
                "--interface",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=BASELINE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        from bot.processes.specs import healthy

        deadline = time.monotonic() + 180
        while not healthy(self.url + "/webhooks/rest/"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"baseline rasa did not start; see {self.log.name}")
            time.sleep(0.5)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log.close()


def main(args: argparse.Namespace) -> int:
    """Our stack and the baseline run at the same time (each idle while the other is measured), and the saturation
    runs alternate between them, so drift in the machine's speed hits both sides alike."""
    from bot.processes.stack import private_stack

    english = ["hello", "how are you", "I am happy", "great", "bye", "are you a bot?"]
    seconds = float(args.seconds)
    baseline_model = None if getattr(args, "no_baseline", False) else ensure_baseline()
    print(
        f"bench: {os.cpu_count()} cores, {seconds:.0f} s per throughput run, long conversation of {args.turns} turns\n"
    )
    # The per-conversation message limit protects the service from one client; the bench measures capacity instead.
    unlimited = {
        "MESSAGES_PER_MINUTE": "1000000",
        "FRAMES_PER_MINUTE": "1000000",
        "NEW_CONVERSATIONS_PER_HOUR": "1000000",
        "HANDOFFS_PER_HOUR": "1000000",
    }
    with (
        tempfile.TemporaryDirectory(prefix="etown-bench-") as var_dir,
        private_stack(Path(var_dir), unlimited) as stack,
        contextlib.ExitStack() as cleanup,
    ):
        settings = stack.settings
        paths = {"full": settings.public_url, "rasa-rest": settings.rasa_url}
        texts = asyncio.run(one_turn_questions(settings.rasa_url, questions()))
        print(f"{len(texts)} questions answered in one turn, used for every run")
        print(f"rasa servers: {len(settings.rasa_urls)}; rasa-rest goes to one of them directly\n")
        runs: dict[str, tuple[str, list[str]]] = {kind: (url, texts) for kind, url in paths.items()}
        if baseline_model is not None:
            baseline = Baseline(baseline_model)
            cleanup.callback(baseline.stop)
            runs["baseline"] = (baseline.url, english)

        async def warm() -> None:
            for kind, (url, run_texts) in runs.items():
                await sequential(kind, url, run_texts, 10)

        asyncio.run(warm())
        print("one turn at a time (fresh conversations)")
        single = {kind: asyncio.run(sequential(kind, url, t, 100)) for kind, (url, t) in runs.items()}
        for kind, values in single.items():
            print(f"  {kind:<10} {ms(values)}")
        overhead = percentile(single["full"], 50) - percentile(single["rasa-rest"], 50)
        print(f"  gateway overhead at p50: {overhead * 1000:.1f} ms")

        print("\nsteady open-loop load, 5 turns/s (full path)")
        print(f"  full       {ms(asyncio.run(open_loop('full', paths['full'], texts, 5.0, seconds)))}")

        print("\nthroughput, one conversation (closed loop)")
        for kind, (url, run_texts) in runs.items():
            rate, latencies = asyncio.run(closed_loop(kind, url, run_texts, 1, seconds))
            print(f"  {kind:<10} {rate:6.1f} turns/s   {ms(latencies)}")

        print("\nsaturation: 20 conversations (closed loop), rounds alternating between the systems")
        rates: dict[str, list[float]] = {kind: [] for kind in runs}
        for round_number in range(1, args.rounds + 1):
            for kind, (url, run_texts) in runs.items():
                rate, latencies = asyncio.run(closed_loop(kind, url, run_texts, 20, seconds))
                rates[kind].append(rate)
                print(f"  round {round_number} {kind:<10} {rate:6.1f} turns/s   {ms(latencies)}")
        median_rate = {kind: statistics.median(values) for kind, values in rates.items()}
        print("  median     " + "   ".join(f"{kind} {rate:.1f} turns/s" for kind, rate in median_rate.items()))

        print(f"\none long conversation ({args.turns} turns), median latency around a turn")
        growth: dict[str, dict[int, float]] = {}
        for kind, (url, run_texts) in runs.items():
            growth[kind] = asyncio.run(long_conversation(kind, url, run_texts, args.turns))
            marks = "   ".join(f"turn {m:>3}: {v * 1000:6.1f} ms" for m, v in growth[kind].items())
            print(f"  {kind:<10} {marks}")
        for kind, by_turn in growth.items():
            if 5 in by_turn and args.turns in by_turn:
                print(f"  {kind:<10} turn {args.turns} / turn 5 = {by_turn[args.turns] / by_turn[5]:.2f}x")

        print(f"\nturns refused or not answered within {TURN_TIMEOUT:.0f} s: {TurnFailures.count}")
        print("\nresident memory")
        for child in stack.processes:
            if child.process:
                print(f"  {child.name:<10} {rss_mb(child.process.pid):7.0f} MB")
        if "baseline" in runs:
            print(f"  {'baseline':<10} {rss_mb(baseline.process.pid):7.0f} MB")
            print("\nratios (ours / baseline: stock `rasa init` assistant, one process, REST)")
            print(f"  saturation throughput, full path: {median_rate['full'] / median_rate['baseline']:.2f}x")
            p50_ratio = percentile(single["full"], 50) / percentile(single["baseline"], 50)
            print(f"  single-turn p50, full path:       {p50_ratio:.2f}x")
            if args.turns in growth["baseline"] and args.turns in growth["full"]:
                ours = growth["full"][args.turns] / growth["full"][5]
                theirs = growth["baseline"][args.turns] / growth["baseline"][5]
                print(f"  growth turn {args.turns}/turn 5: ours {ours:.2f}x, baseline {theirs:.2f}x")
    return 0
