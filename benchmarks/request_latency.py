"""Request latency: a chat reply, and ``/sticker`` right after five chat turns, before and after.

Run from the repository root:

    .venv/bin/python benchmarks/request_latency.py [--rounds 5] [--before REF]

The embedded default as the bot runs it: the shipped generator and scorer, the local SmolLM2
chat model (prepare it with ``pmg models prepare``), SQLite, the in-process queue (its worker
thread and model thread) and, in the new code, the background profile refresher. One user
talks five turns, then asks for a sticker, ``--rounds`` times after one warm-up round (which
builds the first profile). Each mode runs in its own process, one after the other:

- ``inline``: this code with ``profile_updates="inline"`` (the old request path) and the
  chat reply at the model's own 96-token limit (its two-sentence stop still applies);
- ``before``: the code at git ref ``REF`` (exported with ``git archive``), as it was;
- ``after``: this code as shipped.

Prints the machine, then p50 and p95 of each latency per mode, side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TURNS = [
    "hi! I love cats and pastel colours",
    "my cat naps in the sun all day, it is so cute",
    "I also like dragons and old castles",
    "neon pixel art is so cool",
    "what should we draw today?",
]
PROMPTS = ["a cat drinking coffee", "a dragon reading a book", "a robot in the rain"]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q * 100) - 1]


async def _measure(mode: str, rounds: int, data_dir: Path) -> dict[str, Any]:
    """Run the rounds in this process against whichever code is on ``sys.path``."""
    import dataclasses

    from config import load_settings
    from pmg_engine.chat import ChatReplier
    from pmg_engine.db import migrate
    from pmg_engine.db.engine import create_engine, session_factory
    from pmg_engine.queue.inprocess import InProcessQueue
    from pmg_engine.runtime import build_models, service_config
    from pmg_engine.service import GenerationRequest, PMGService

    tmp = Path(tempfile.mkdtemp(prefix="pmg-latency-"))
    settings = load_settings(storage={"data_dir": str(data_dir)})
    url = f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}"
    await migrate.upgrade(url)
    loaded = await asyncio.to_thread(build_models, settings)
    if loaded.llm is None or loaded.models.generator is None:
        raise SystemExit(f"the embedded default is incomplete: {loaded.notes}")
    config = dataclasses.replace(service_config(settings), outputs_dir=tmp / "outputs")
    if mode == "inline":
        config = dataclasses.replace(config, profile_updates="inline")
    engine = create_engine(url)
    service = PMGService(sessions=session_factory(engine), models=loaded.models, config=config)
    refresher = getattr(service, "refresher", None)
    if refresher is not None and mode == "after":
        await refresher.start()
    if mode == "inline":
        replier = ChatReplier(loaded.llm, max_tokens=settings.llm.max_new_tokens)
    else:
        replier = ChatReplier(loaded.llm)
    queue = InProcessQueue(service, settings=settings.queue)
    await queue.start()
    chats: list[float] = []
    stickers: list[float] = []
    replies: list[str] = []
    try:
        for round_ in range(rounds + 1):
            for turn in TURNS:
                started = time.perf_counter()
                answer = await service.converse(
                    replier, user_id=1, user_name="bench", content=turn, source="local"
                )
                if round_:
                    chats.append(time.perf_counter() - started)
                    replies.append(answer.reply)
            request = GenerationRequest(
                user_id=1, prompt=PROMPTS[round_ % len(PROMPTS)], seed=round_
            )
            started = time.perf_counter()
            handle = await queue.submit(request)
            await queue.result(handle.generation_id)
            if round_:  # the warm-up round builds the first profile inline
                stickers.append(time.perf_counter() - started)
    finally:
        await queue.close()
        if refresher is not None and mode == "after":
            await refresher.close()
        await engine.dispose()
    return {"chat": chats, "sticker": stickers, "replies": replies[:3]}


def _run_mode(mode: str, rounds: int, data_dir: Path, code: Path) -> dict[str, Any]:
    """Run one mode in a fresh process with ``code`` first on the import path."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode]
    command += ["--rounds", str(rounds), "--data-dir", str(data_dir)]
    done = subprocess.run(command, env=env, cwd=code, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _export(ref: str, folder: Path) -> Path:
    """Write the tree of git ``ref`` into ``folder`` and return it."""
    archive = folder / "before.tar"
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), ref], check=True
    )
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "code", filter="data")
    return folder / "code"


def main() -> None:
    """Measure the modes and print p50 / p95 side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", metavar="REF", help="also measure the code at this git ref")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    if args.child:
        import torch

        torch.set_num_threads(min(2, os.cpu_count() or 1))
        result = asyncio.run(_measure(args.child, args.rounds, data_dir))
        print(json.dumps(result))
        return
    sys.path.insert(0, str(ROOT))
    from benchmarks._machine import machine

    print("machine:", machine())
    modes: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.before:
            modes[f"before ({args.before})"] = _run_mode(
                "before", args.rounds, data_dir, _export(args.before, Path(tmp))
            )
        modes["inline (old path, new code)"] = _run_mode("inline", args.rounds, data_dir, ROOT)
        modes["after"] = _run_mode("after", args.rounds, data_dir, ROOT)
    print("load after the run:", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    print(f"\n{args.rounds} rounds of 5 chat turns + 1 sticker (after one warm-up round)")
    print(f"  {'mode':<30} {'chat p50':>9} {'chat p95':>9} {'sticker p50':>12} {'p95':>7}")
    for name, result in modes.items():
        chat, sticker = result["chat"], result["sticker"]
        print(
            f"  {name:<30} {_quantile(chat, 0.5):>8.2f}s {_quantile(chat, 0.95):>8.2f}s "
            f"{_quantile(sticker, 0.5):>11.2f}s {_quantile(sticker, 0.95):>6.2f}s"
        )
    for name, result in modes.items():
        print(f"\n  {name} replies, first three:")
        for reply in result["replies"]:
            print(f"    {reply!r}")


if __name__ == "__main__":
    main()
