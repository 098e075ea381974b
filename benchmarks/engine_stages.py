"""Engine benchmark: request time by stage, and profile-update time versus history length.

Run from the repository root:  .venv/bin/python benchmarks/engine_stages.py [--repeats 5]

1. End-to-end requests through the real service on a tiny random Stable Diffusion pipeline
   (and on the shipped offline model when its weights are present), split into the stages the
   service records: profile, keywords, embeddings, generation, scoring, post-process.
2. Profile updates at 100 and 10,000 stored behaviours, ten of them new: the update reads only
   what is new, so the two figures should match.
Figures are medians over the repeats; the machine is printed first.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from benchmarks._machine import machine
from pmg_engine.db import migrate, repo
from pmg_engine.db.engine import create_engine, session_factory
from pmg_engine.generators import GeneratorSpec, load_generator
from pmg_engine.implicit import PooledEncoderEmbedder
from pmg_engine.keywords import PreferenceKeywordExtractor, TargetKeywordExtractor
from pmg_engine.runtime import BUILTIN_GENERATOR
from pmg_engine.service import (
    EngineModels,
    GenerationRequest,
    PMGService,
    ServiceConfig,
)

STAGES = ("profile", "keywords", "embeddings", "generation", "scoring", "postprocess")
WORDS = "cats pastel neon forest castle robot dragon coffee ocean pixel watercolor moon".split()


LLM: Any = None


async def _service(folder: Path, model: str, **config: Any) -> PMGService:
    url = f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}"
    await migrate.upgrade(url)
    generator = load_generator(GeneratorSpec(model=model, device="cpu"))
    models = EngineModels(
        preference=PreferenceKeywordExtractor(LLM),
        target=TargetKeywordExtractor(LLM),
        generator=generator,
        scorer=None,
        embedder=PooledEncoderEmbedder(generator.text_encoder),
    )
    cfg = ServiceConfig(outputs_dir=folder / "outputs", **config)
    return PMGService(sessions=session_factory(create_engine(url)), models=models, config=cfg)


async def bench_requests(name: str, model: str, repeats: int, steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        service = await _service(Path(tmp), model, num_inference_steps=steps)
        await service.record_message(user_id=1, user_name="bench", content="I love cats, neon")
        rows = []
        for i in range(repeats + 1):
            await service.record_message(user_id=1, user_name="bench", content=f"{WORDS[i % 12]}!")
            started = time.perf_counter()
            result = await service.generate(
                GenerationRequest(user_id=1, prompt="a cat drinking coffee", seed=i)
            )
            total = time.perf_counter() - started
            if i:  # the first request warms caches
                rows.append({**result.timings, "total": total})
    print(f"\n{name}: {steps} steps, {len(result.candidates)} candidates per request")
    print(f"  {'stage':<12} {'median s':>9}")
    for stage in (*STAGES, "total"):
        values = [r.get(stage, 0.0) for r in rows]
        print(f"  {stage:<12} {statistics.median(values):>9.4f}")


async def bench_profile_updates(repeats: int) -> None:
    print("\nprofile update with 10 new behaviours (median of", repeats, "runs)")
    print(f"  {'stored':>8} {'seconds':>9}")
    for stored in (100, 10_000):
        with tempfile.TemporaryDirectory() as tmp:
            model = str(Path(tmp) / "tiny-sd")
            from tests.generators.dummy import save_tiny_sd

            save_tiny_sd(Path(model))
            service = await _service(Path(tmp), model)
            async with service.sessions() as session, session.begin():
                await repo.upsert_user(session=session, user_id=1, name="bench")
                for i in range(stored):
                    await repo.add_behaviour(
                        session=session,
                        user_id=1,
                        kind="message",
                        text=f"User said: {WORDS[i % 12]}",
                    )
            await service.update_profile(user_id=1)
            times = []
            for r in range(repeats):
                async with service.sessions() as session, session.begin():
                    for i in range(10):
                        text = f"User said: {WORDS[(r + i) % 12]} again"
                        await repo.add_behaviour(
                            session=session, user_id=1, kind="message", text=text
                        )
                started = time.perf_counter()
                update = await service.update_profile(user_id=1)
                times.append(time.perf_counter() - started)
                assert update.new_behaviours == 10, update
        print(f"  {stored:>8} {statistics.median(times):>9.4f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument(
        "--llm", action="store_true", help="use the prepared local SmolLM2 for keywords"
    )
    args = parser.parse_args()
    print("machine:", machine())
    if args.llm:
        global LLM
        from pmg_engine.llm import LocalChatModel

        folder = Path("data/models/smollm2-135m-instruct")
        if not (folder / "config.json").is_file():
            raise SystemExit("run `pmg models prepare` first, or leave out --llm")
        LLM = LocalChatModel(model_path=str(folder), max_new_tokens=48)
    print("keyword model:", "local SmolLM2-135M" if LLM is not None else "none (fallback only)")
    from tests.generators.dummy import save_tiny_sd

    with tempfile.TemporaryDirectory() as tmp:
        tiny = save_tiny_sd(Path(tmp) / "tiny-sd")
        await bench_requests("tiny random SD pipeline", str(tiny), args.repeats, args.steps)
    if (BUILTIN_GENERATOR / "model_index.json").is_file():
        await bench_requests("offline default model", str(BUILTIN_GENERATOR), args.repeats, 25)
    else:
        print(f"\noffline default model: not present at {BUILTIN_GENERATOR}, skipped")
    await bench_profile_updates(args.repeats)


if __name__ == "__main__":
    asyncio.run(main())
