"""Command line: `python -m bot <command>`. Each command delegates to the module that does the job."""

from __future__ import annotations

import argparse
import sys


def _guide_check(args: argparse.Namespace) -> int:
    from bot.checklists import ChecklistError
    from bot.guide.check import run_checks
    from bot.guide.loader import KNOWLEDGE_DIR, GuideError, load_guide

    root = args.knowledge or KNOWLEDGE_DIR
    try:
        guide = load_guide(root, partial=args.partial)
        report = run_checks(root, research=args.research, partial=args.partial)
    except (GuideError, ChecklistError) as exc:
        print(exc, file=sys.stderr)
        return 1
    for note in report.skipped:
        print(f"skipped: {note}")
    if report.problems:
        print(f"knowledge/ has {len(report.problems)} problem(s):", file=sys.stderr)
        for problem in report.problems:
            print(f"- {problem}", file=sys.stderr)
        return 1
    counts = {lang: sum(len(s.examples[lang]) for s in guide.sections.values()) for lang in ("en", "zh")}
    print(f"knowledge/ OK: {len(guide.sections)} sections, examples en={counts['en']} zh={counts['zh']}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from bot.core.settings import PROJECT_ROOT
    from bot.guide.loader import GuideError
    from bot.rasa.generate import stale_generated, write_generated

    try:
        if args.check:
            stale = stale_generated()
            if stale:
                names = ", ".join(str(p.relative_to(PROJECT_ROOT)) for p in stale)
                print(f"generated files are stale: {names}\nrun `make generate` and commit the result", file=sys.stderr)
                return 1
            print("generated files are up to date")
            return 0
        changed = write_generated()
    except GuideError as exc:
        print(exc, file=sys.stderr)
        return 1
    for path in changed:
        print(f"wrote {path.relative_to(PROJECT_ROOT)}")
    if not changed:
        print("generated files are up to date")
    return 0


def _train(args: argparse.Namespace) -> int:
    from bot.rasa.training import train

    return train(force=args.force)


def _migrate(args: argparse.Namespace) -> int:
    from bot.core.settings import load_settings
    from bot.db.migrate import upgrade

    settings = load_settings()
    if args.create_database:
        from bot.processes.cluster import ensure_database

        for url in dict.fromkeys((args.url or settings.database_url, settings.tracker_store_url)):
            ensure_database(url)
    upgrade(args.url or settings.database_url)
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.cluster:
        from bot.processes.cluster import run_cluster

        return run_cluster(gateways=args.gateways, env_file=args.env_file)
    from bot.core.settings import load_settings
    from bot.processes.supervisor import run

    return run(load_settings())


def _process(args: argparse.Namespace) -> int:
    from bot.core.settings import load_settings
    from bot.processes.specs import exec_role

    exec_role(load_settings(), args.role, args.port)
    return 1  # not reached: exec replaced this process


def _soak(args: argparse.Namespace) -> int:
    from bot.evaluation.soak import main as soak

    return soak(args)


def _gateway(args: argparse.Namespace) -> int:
    from bot.core.settings import load_settings
    from bot.gateway.app import run

    run(load_settings())
    return 0


def _eval(args: argparse.Namespace) -> int:
    from bot.evaluation.run import main as evaluate

    return evaluate(args.real_voice, args.questions, check=args.check_floors, raise_floors=args.raise_floors)


def _bench(args: argparse.Namespace) -> int:
    from bot.evaluation.bench import main as bench

    return bench(args)


def _rasa_checks(args: argparse.Namespace) -> int:
    from bot.evaluation.rasa_checks import main as rasa_checks

    return rasa_checks()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("guide-check", help="validate knowledge/")
    check.add_argument("--partial", action="store_true", help="skip checks that need every section")
    check.add_argument("--knowledge", help="knowledge folder to check (default: the project's)")
    check.add_argument("--research", help="research dossiers folder (default: shared/research beside the project)")
    check.set_defaults(func=_guide_check)
    generate = sub.add_parser("generate", help="build training data and patterns from knowledge/")
    generate.add_argument("--check", action="store_true", help="fail if committed generated files are stale")
    generate.set_defaults(func=_generate)
    train = sub.add_parser("train", help="train the model if its inputs changed")
    train.add_argument("--force", action="store_true")
    train.set_defaults(func=_train)
    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--url", help="database URL (default: DATABASE_URL)")
    migrate.add_argument("--create-database", action="store_true", help="create missing PostgreSQL databases first")
    migrate.set_defaults(func=_migrate)
    run = sub.add_parser("run", help="start rasa, actions and gateway")
    run.add_argument("--cluster", action="store_true", help="HAProxy, N gateways, two Rasa servers (deploy/)")
    run.add_argument("--gateways", type=int, default=2, help="gateways behind HAProxy (with --cluster)")
    run.add_argument("--env-file", help="defaults for the environment (with --cluster; deploy/etown.env.example)")
    run.set_defaults(func=_run)
    process = sub.add_parser("process", help="run one process in the foreground (what deploy/systemd starts)")
    process.add_argument("role", choices=["actions", "rasa", "gateway"])
    process.add_argument("--port", type=int, help="its port (default: from the environment)")
    process.set_defaults(func=_process)
    soak = sub.add_parser("soak", help="many widget connections through HAProxy, faults on a schedule")
    soak.add_argument("--connections", type=int, default=300, help="concurrent widget connections")
    soak.add_argument("--rate", type=float, default=4.0, help="turns per second, open loop")
    soak.add_argument("--seconds", type=float, default=180, help="how long turns are sent")
    soak.add_argument("--fault-every", type=float, default=25, help="seconds between injected faults (0: none)")
    soak.add_argument("--work-dir", help="keep the cluster's var/ and logs here (default: a temporary folder)")
    soak.set_defaults(func=_soak)
    sub.add_parser("gateway", help="start only the gateway").set_defaults(func=_gateway)
    evaluate = sub.add_parser("eval", help="answer-quality evaluation on held-out questions")
    evaluate.add_argument("--real-voice", default="tests/eval/real_voice.yml", help="real-voice set (printed first)")
    evaluate.add_argument("--questions", default="tests/eval/questions.yml", help="the synthetic regression set")
    evaluate.add_argument("--check-floors", action="store_true", help="exit 1 below a floor in tests/eval/floors.yml")
    evaluate.add_argument("--raise-floors", action="store_true", help="raise tests/eval/floors.yml to today's figures")
    evaluate.set_defaults(func=_eval)
    bench = sub.add_parser("bench", help="latency and throughput: full path vs raw Rasa REST")
    bench.add_argument("--turns", type=int, default=200, help="length of the long conversation")
    bench.add_argument("--seconds", type=float, default=20, help="duration of each throughput run")
    bench.add_argument("--rounds", type=int, default=3, help="alternating saturation rounds per system")
    bench.add_argument("--no-baseline", action="store_true", help="skip the stock `rasa init` baseline")
    bench.set_defaults(func=_bench)
    sub.add_parser("rasa-checks", help="rasa data validate and rasa test").set_defaults(func=_rasa_checks)
    from bot.cases.cli import add_parsers as add_case_parsers
    from bot.evaluation.abuse import add_parser as add_abuse_parser

    add_abuse_parser(sub)
    from bot.handoff.cli import add_parsers as add_staff_parsers

    add_case_parsers(sub)
    add_staff_parsers(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
