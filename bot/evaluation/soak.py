"""The soak (`python -m bot soak`, `make soak`): the cluster of `python -m bot run --cluster` behind HAProxy,
hundreds of widget connections held open, an open-loop rate of turns (a turn starts on the clock, not when the
previous one ends, so a slow cluster meets a queue as it would in real life) and the faults of the fault tests
injected on a schedule. It prints sent / acknowledged / answered / lost / duplicated, the latency percentiles and
each process's memory at the start and the end. A bench, not a test: it fails (exit 1) only on a lost or
duplicated message, and its figures go to the README.

Lost and duplicated are counted in the database, not only by the clients: a message is lost when a turn the
client sent is not stored, or stored and never answered; duplicated when a client id is stored twice or a message
gets two answers (each question asked gets exactly one result payload)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.evaluation.faults import STARTUP_S, ClusterRun
from bot.evaluation.widget_client import Turn, WidgetClient

QUESTIONS = [
    "How many days before my work permit expires should we apply to extend it?",
    "I lost my work permit card yesterday, what should I do",
    "外籍员工离职了，公司要在多少天内注销他的工作许可？",
    "申请Z visa 需要什么材料?",
]
# A bot message carrying one of these ends a turn (the questions above always get exactly one).
RESULT_TYPES = {"guide_answer", "clarify", "checklist", "case_status", "handoff"}
DRAIN_S = 180  # after the last turn is sent, how long answers may still come (a Rasa server may be restarting)


@dataclass
class Accounting:
    """What became of every turn, counted from the clients and from the database."""

    sent: int = 0
    acknowledged: int = 0
    answered: int = 0  # seen answered by the client that sent it
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"sent {self.sent}  acknowledged {self.acknowledged}  answered {self.answered}  "
            f"lost {self.lost}  duplicated {self.duplicated}"
        )


def account(db: Any, clients: list[WidgetClient]) -> Accounting:
    """Compare what each client sent with what its conversation holds in the database."""
    from bot.conversations import store

    totals = Accounting()
    for client in clients:
        turns = list(client.turns.values())
        totals.sent += len(turns)
        totals.acknowledged += sum(t.seq is not None for t in turns)
        totals.answered += sum(t.answered_at is not None for t in turns)
        if client.conversation is None:
            totals.lost += len(turns)
            totals.problems.append(f"{client.name}: never welcomed, {len(turns)} turns lost")
            continue
        history = store.history(db, client.conversation, limit=100_000)
        users = [m for m in history if m.role == "user"]
        by_id: dict[str | None, int] = {}
        for message in users:
            by_id[message.client_id] = by_id.get(message.client_id, 0) + 1
        for turn in turns:
            stored = by_id.get(turn.client_id, 0)
            if stored == 0:
                totals.lost += 1
                totals.problems.append(f"{client.name}: {turn.client_id} never stored")
            elif stored > 1:
                totals.duplicated += stored - 1
                totals.problems.append(f"{client.name}: {turn.client_id} stored {stored} times")
        undelivered = [m.seq for m in users if not store.is_delivered(db, m.seq)]
        results = [m for m in history if ((m.payload or {}).get("custom") or {}).get("type") in RESULT_TYPES]
        if len(results) < len(users) or undelivered:
            missing = max(len(users) - len(results), len(undelivered))
            totals.lost += missing
            kinds = [((m.payload or {}).get("custom") or {}).get("type") for m in history if m.role == "bot"]
            totals.problems.append(
                f"{client.name}: {len(users)} messages, {len(results)} answers (bot payloads {kinds}), "
                f"undelivered {undelivered}"
            )
        elif len(results) > len(users):
            totals.duplicated += len(results) - len(users)
            totals.problems.append(f"{client.name}: {len(users)} messages, {len(results)} answers")
    return totals


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


FAULTS = ("gateway", "rasa", "actions", "redis", "database")


async def inject(cluster: ClusterRun, fault: str) -> str:
    """One fault; returns what was done (for the log). Waits only for signals, each bounded."""
    if fault == "gateway":
        victim = f"gateway-{random.randint(1, cluster.gateways)}"  # noqa: S311 - not a secret
        cluster.kill(victim)
        return f"kill -9 {victim}"
    if fault in ("rasa", "actions"):
        victim = random.choice(["rasa", "rasa-2"]) if fault == "rasa" else "actions"  # noqa: S311
        if cluster.states().get(victim, {}).get("state") != "up":
            return f"{victim} still restarting: skipped"
        cluster.kill(victim)
        return f"kill -9 {victim}"
    if fault == "redis":
        cluster.redis.stop()
        await asyncio.sleep(2)  # the outage itself: Redis stays down this long
        cluster.redis.start()
        return "Redis down 2 s, restarted"
    cluster.proxy.cut()
    await asyncio.sleep(4)  # the outage itself
    cluster.proxy.restore()
    return "database unreachable 4 s"


async def soak(args: argparse.Namespace, work_dir: Path) -> int:
    import aiohttp

    from bot.db import Database

    cluster = ClusterRun(work_dir, gateways=2)
    log: list[str] = []
    with cluster:
        took = await cluster.until(cluster.all_up, STARTUP_S, "every process up")
        print(f"cluster up in {took:.0f} s; opening {args.connections} widget connections", flush=True)
        memory_start = cluster.rss_kb()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            clients = [WidgetClient(cluster.ws_url, session, f"s{n}") for n in range(args.connections)]
            for client in clients:
                client.start()
            for client in clients:
                await client.until(lambda c=client: c.ws is not None, 120, "a first connection")
            print(f"{len(clients)} connections open; {args.rate:g} turns/s for {args.seconds:g} s", flush=True)
            began = time.monotonic()
            skipped = 0
            questions = itertools.cycle(QUESTIONS)
            faults = itertools.cycle(FAULTS)
            next_fault = began + args.fault_every if args.fault_every else float("inf")
            fault_tasks: list[asyncio.Task[str]] = []
            tick = 0
            while (now := time.monotonic()) - began < args.seconds:
                if now >= next_fault:
                    fault = next(faults)
                    fault_tasks.append(asyncio.create_task(inject(cluster, fault)))
                    log.append(f"{now - began:6.1f} s  {fault}")
                    next_fault += args.fault_every
                idle = [c for c in clients if not c.turns or all(t.answered_at for t in c.turns.values())]
                if idle:
                    await random.choice(idle).say(next(questions))  # noqa: S311
                else:
                    skipped += 1  # every conversation is waiting: the open loop is over capacity
                tick += 1
                await asyncio.sleep(max(0.0, began + tick / args.rate - time.monotonic()))
            for number, task in enumerate(fault_tasks):
                log[number] += f": {await task}"
            turns: list[Turn] = [t for c in clients for t in c.turns.values()]
            print(f"sent {len(turns)} turns; waiting up to {DRAIN_S} s for the last answers", flush=True)
            drain_until = time.monotonic() + DRAIN_S
            while any(t.answered_at is None for t in turns) and time.monotonic() < drain_until:
                await asyncio.sleep(0.5)
            memory_end = cluster.rss_kb()
            db = Database(cluster.direct_url)
            try:
                totals = await asyncio.to_thread(account, db, clients)
            finally:
                db.dispose()
            latencies = [t.latency_s for t in turns if t.latency_s is not None]
            reconnections = sum(max(0, c.connections - 1) for c in clients)
            for client in clients:
                await client.close()
    print("\nfaults injected:\n  " + "\n  ".join(log or ["none"]))
    print(f"\n{totals.line()}  (skipped ticks, every conversation busy: {skipped})")
    if latencies:
        print(f"latency send → first answer: p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
              f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, mean {statistics.mean(latencies) * 1000:.0f} ms")
    print(f"widget reconnections: {reconnections}")
    print("memory (RSS, MB)   start     end")
    for name in sorted(set(memory_start) | set(memory_end)):
        start, end = memory_start.get(name, 0) / 1024, memory_end.get(name, 0) / 1024
        print(f"  {name:<14} {start:8.0f} {end:8.0f}")
    for problem in totals.problems[:20]:
        print(f"  problem: {problem}")
    return 0 if totals.lost == 0 and totals.duplicated == 0 else 1


def main(args: argparse.Namespace) -> int:
    if args.work_dir:  # kept afterwards: every process's log is in <dir>/var/logs/
        Path(args.work_dir).mkdir(parents=True, exist_ok=True)
        return asyncio.run(soak(args, Path(args.work_dir)))
    with tempfile.TemporaryDirectory(prefix="etown-soak-") as work:
        return asyncio.run(soak(args, Path(work)))
