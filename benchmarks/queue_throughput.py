"""Queue benchmark: raw diffusers calls vs the service vs the in-process queue vs Celery + Redis.

Run from the repository root (Redis running, e.g. scripts/services.sh):

    .venv/bin/python benchmarks/queue_throughput.py [--requests 5] [--steps 8] [--threads 1]

The same requests (one prompt, ``batch`` images per request) go four ways, interleaved round by
round so that load from other processes hits every path alike:

1. ``raw``: ``StableDiffusionPipeline.__call__`` in a loop, ``batch`` images per call;
2. ``service``: ``PMGService.generate`` in this process, no queue (keywords, conditioning,
   the same batched pipeline call, post-processing, the row and the file);
3. ``inprocess``: the same requests through ``InProcessQueue`` (submit, await the result);
4. ``celery``: through ``CeleryQueue``, Redis and a real worker process (one per batch size,
   since the number of candidates per request is part of the worker's configuration).

Requests run one after another, so images/s is the throughput a single user sees and "added"
is the latency a path adds per request over the raw call. The model is a random-weight Stable
Diffusion pipeline (timings do not depend on weight values); ``--model`` takes any local
diffusers SD folder instead, e.g. the real SD 1.5 architecture on a GPU machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis
import torch

from benchmarks._machine import machine
from config import QueueSettings, load_settings
from pmg_engine.db import migrate
from pmg_engine.db.engine import create_engine, session_factory
from pmg_engine.generators import GeneratorSpec, load_generator
from pmg_engine.keywords import PreferenceKeywordExtractor, TargetKeywordExtractor
from pmg_engine.queue.celery_queue import CeleryQueue
from pmg_engine.queue.inprocess import InProcessQueue
from pmg_engine.service import EngineModels, GenerationRequest, Kind, PMGService, ServiceConfig

PATHS = ("raw", "service", "inprocess", "celery")
PROMPT = "a cat drinking coffee"
NEGATIVE = "lowres, blurry"
GUIDANCE = 5.0


def save_bench_model(folder: Path) -> Path:
    """A random SD pipeline: 1.4 M-parameter UNet on 32x32 latents, 64 px images."""
    from diffusers import StableDiffusionPipeline

    from tests.generators.dummy import (
        CLIP_HIDDEN,
        clip_tokenizer,
        ddim_scheduler,
        tiny_clip_text_encoder,
        tiny_unet,
        tiny_vae,
    )

    unet = tiny_unet(
        cross_attention_dim=CLIP_HIDDEN,
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    pipe = StableDiffusionPipeline(
        vae=tiny_vae(),
        text_encoder=tiny_clip_text_encoder(),
        tokenizer=clip_tokenizer(),
        unet=unet,
        scheduler=ddim_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return folder


def service_config(outputs_dir: Path, *, batch: int, steps: int) -> ServiceConfig:
    # One candidate per grid weight: ``batch`` images per request, in one pipeline call.
    return ServiceConfig(
        outputs_dir=outputs_dir,
        num_inference_steps=steps,
        guidance_scale=GUIDANCE,
        preference_grid=tuple(1.0 + 0.25 * i for i in range(batch)),
        negative_prompt=NEGATIVE,
        # No behaviours are recorded, so every path does the same work per request.
        learning_opt_in_default=False,
    )


def serve_worker(batch: int, steps: int) -> None:
    """Run a Celery worker whose requests hold ``batch`` candidates (the --worker mode)."""
    from pmg_engine.queue.worker import WorkerRuntime, serve

    settings = load_settings()
    config = service_config(settings.storage.outputs_dir, batch=batch, steps=steps)
    runtime = WorkerRuntime(settings, config=config)
    runtime.open()
    try:
        sys.exit(serve(runtime, loglevel="warning"))
    finally:
        runtime.close()


class Bench:
    """The four paths on one model, one database and one outputs folder."""

    def __init__(self, args: argparse.Namespace, folder: Path, model: Path) -> None:
        self.args = args
        self.folder = folder
        self.model = model
        self.url = f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}"
        self.namespace = f"pmgbench-{uuid.uuid4().hex[:8]}"
        self.queue_settings = QueueSettings(
            backend="celery",
            broker_url=args.redis,
            namespace=self.namespace,
            retry_backoff_s=0.0,
        )
        self.seed = 0

    async def open(self) -> None:
        from diffusers import StableDiffusionPipeline

        await migrate.upgrade(self.url)
        self.engine = create_engine(self.url)
        self.sessions = session_factory(self.engine)
        self.pipe = StableDiffusionPipeline.from_pretrained(str(self.model))
        self.pipe.set_progress_bar_config(disable=True)
        self.generator = load_generator(GeneratorSpec(model=str(self.model), device="cpu"))

    async def close(self) -> None:
        await self.engine.dispose()
        client = redis.Redis.from_url(self.args.redis)
        keys = list(client.scan_iter(match=f"{self.namespace}:*"))
        if keys:
            client.delete(*keys)
        client.close()

    def request(self) -> GenerationRequest:
        self.seed += 1
        return GenerationRequest(user_id=1, prompt=PROMPT, seed=self.seed, kind=Kind.IMAGE)

    def raw(self, batch: int) -> None:
        generators = [torch.Generator().manual_seed(self.seed + i) for i in range(batch)]
        self.seed += 1
        self.pipe(
            prompt=[PROMPT] * batch,
            negative_prompt=[NEGATIVE] * batch,
            num_inference_steps=self.args.steps,
            guidance_scale=GUIDANCE,
            generator=generators,
            output_type="pil",
        )

    def service(self, batch: int, *, with_generator: bool = True) -> PMGService:
        # Without a generator it is a bot's service: it records requests, a worker runs them.
        models = EngineModels(
            preference=PreferenceKeywordExtractor(None),
            target=TargetKeywordExtractor(None),
            generator=self.generator if with_generator else None,
        )
        return PMGService(
            sessions=self.sessions,
            models=models,
            config=service_config(
                self.folder / "data" / "outputs", batch=batch, steps=self.args.steps
            ),
        )

    def start_worker(self, batch: int) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PMG_")}
        env.update(
            {
                "PMG_DATABASE__URL": self.url,
                "PMG_STORAGE__DATA_DIR": str(self.folder / "data"),
                "PMG_GENERATOR__MODEL": str(self.model),
                "PMG_GENERATOR__DEVICE": "cpu",
                "PMG_QUEUE__BROKER_URL": self.args.redis,
                "PMG_QUEUE__NAMESPACE": self.namespace,
                "OMP_NUM_THREADS": str(self.args.threads),
            }
        )
        command = [
            sys.executable,
            __file__,
            "--worker",
            str(batch),
            "--steps",
            str(self.args.steps),
        ]
        log = (self.folder / f"worker-{batch}.log").open("wb")
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    async def run_batch(self, batch: int) -> dict[str, list[float]]:
        service = self.service(batch)
        inprocess = InProcessQueue(service)
        await inprocess.start()
        worker = self.start_worker(batch)
        celery = CeleryQueue(
            self.service(batch, with_generator=False), settings=self.queue_settings
        )
        await celery.start()

        async def through(queue: Any) -> None:
            handle = await queue.submit(self.request())
            await queue.result(handle.generation_id)

        runs: dict[str, Callable[[], Awaitable[None]]] = {
            "raw": lambda: asyncio.to_thread(self.raw, batch),
            "service": lambda: service.generate(self.request()),
            "inprocess": lambda: through(inprocess),
            "celery": lambda: through(celery),
        }
        latencies: dict[str, list[float]] = {path: [] for path in PATHS}
        try:
            # Warm-up (the first Celery request also waits for the worker to load).
            for path in PATHS:
                await asyncio.wait_for(runs[path](), timeout=300)
            for _ in range(self.args.requests):
                for path in PATHS:
                    began = time.perf_counter()
                    await runs[path]()
                    latencies[path].append(time.perf_counter() - began)
        finally:
            await celery.close()
            await inprocess.close()
            worker.terminate()
            worker.wait(30)
        return latencies


async def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    print("machine:", machine())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = Path(args.model) if args.model else save_bench_model(folder / "model")
        print(
            f"model: {args.model or 'random SD, 1.4 M-parameter UNet, 64 px'}; "
            f"{args.steps} steps, guidance {GUIDANCE}; {args.requests} requests per cell, "
            "one after another, after one warm-up each"
        )
        bench = Bench(args, folder, model)
        await bench.open()
        rows = []
        try:
            for batch in args.batches:
                latencies = await bench.run_batch(batch)
                raw_mean = statistics.fmean(latencies["raw"])
                for path in PATHS:
                    mean = statistics.fmean(latencies[path])
                    rows.append((batch, path, batch / mean, mean, mean - raw_mean, raw_mean / mean))
                print(f"  batch {batch} done", file=sys.stderr)
        finally:
            await bench.close()
    print(
        f"\n{'batch':>5} {'path':<10} {'img/s':>7} {'s/request':>10} {'added s':>8} {'vs raw':>7}"
    )
    for batch, path, rate, mean, added, ratio in rows:
        print(f"{batch:>5} {path:<10} {rate:>7.2f} {mean:>10.3f} {added:>+8.3f} {ratio:>6.0%}")
    by = {(b, p): rate for b, p, rate, *_ in rows}
    print("\nqueue overhead at batch 1 (throughput lost against the path below it):")
    for path, base in (("inprocess", "service"), ("celery", "service"), ("service", "raw")):
        lost = 1 - by[(1, path)] / by[(1, base)]
        print(f"  {path:<10} vs {base:<8} {lost:>6.1%}")
    for path in ("inprocess", "celery"):
        print(f"  {path:<10} vs raw      {1 - by[(1, path)] / by[(1, 'raw')]:>6.1%}")
    best = max(args.batches)
    print(
        f"\nbatching: raw {by[(best, 'raw')] / by[(1, 'raw')]:.2f}x images/s at batch {best} "
        "over batch 1"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5, help="timed requests per path and batch")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument(
        "--batches", type=lambda s: [int(b) for b in s.split(",")], default=[1, 2, 4, 8]
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    parser.add_argument("--model", default=None, help="a local diffusers SD folder")
    parser.add_argument(
        "--redis", default=os.environ.get("PMG_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        serve_worker(args.worker, args.steps)
    else:
        asyncio.run(main(args))
