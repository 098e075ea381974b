"""Queue fixtures: tiny real models, migrated databases, the machine's Redis, worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import QueueSettings
from pmg_engine.generators import DiffusersGenerator
from pmg_engine.keywords import PreferenceKeywordExtractor, TargetKeywordExtractor
from pmg_engine.scoring.clip import ClipScorer
from pmg_engine.service import EngineModels, PMGService, ServiceConfig
from tests.generators.dummy import save_tiny_sd

REPO = Path(__file__).resolve().parents[2]
# DB 15 of the server CI starts (scripts/services.sh); every run also gets its own key prefix.
REDIS_URL = os.environ.get("PMG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run torch on one thread: on a busy 2-core machine two threads spin against each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- databases and services ----------------------------------------------------------------------


@pytest.fixture
def make_service(
    tiny_generator: DiffusersGenerator, tiny_scorer: ClipScorer, tmp_path: Path
) -> Any:
    """Build a service on ``sessions`` with the tiny models; keywords override the config."""

    def build(sessions: async_sessionmaker[AsyncSession], **config: Any) -> PMGService:
        models = EngineModels(
            preference=PreferenceKeywordExtractor(None, num_keywords=4),
            target=TargetKeywordExtractor(None),
            generator=tiny_generator,
            scorer=tiny_scorer,
        )
        settings = {"num_inference_steps": 2, "guidance_scale": 3.0, **config}
        return PMGService(
            sessions=sessions,
            models=models,
            config=ServiceConfig(outputs_dir=tmp_path / "outputs", **settings),
        )

    return build


def submitter_service(sessions: async_sessionmaker[AsyncSession], outputs_dir: Path) -> PMGService:
    """A bot-side service: it records requests; the models live in the worker."""
    models = EngineModels(
        preference=PreferenceKeywordExtractor(None), target=TargetKeywordExtractor(None)
    )
    return PMGService(
        sessions=sessions, models=models, config=ServiceConfig(outputs_dir=outputs_dir)
    )


def block_outputs(outputs_dir: Path, user_id: int) -> None:
    """Put a file where the user's output folder goes, so saving their result fails."""
    outputs_dir.mkdir(parents=True, exist_ok=True)
    (outputs_dir / str(user_id)).write_text("not a folder")


# -- Redis ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The machine's Redis; CI must have it, a developer without it skips these tests."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis at {REDIS_URL} is not reachable ({exc})"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must run the queue tests (scripts/services.sh)")
        pytest.skip(message)
    finally:
        client.close()
    return REDIS_URL


def new_namespace() -> str:
    """Return a key prefix no other test or run uses."""
    return f"pmgtest-{uuid.uuid4().hex[:10]}"


def drop_namespace(url: str, namespace: str) -> None:
    """Delete every Redis key of ``namespace``."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A Redis namespace for one test, deleted afterwards."""
    name = new_namespace()
    yield name
    drop_namespace(redis_url, name)


def queue_settings(redis_url: str, namespace: str, **overrides: Any) -> QueueSettings:
    """Queue settings for tests: this run's namespace, no retry pause."""
    values: dict[str, Any] = {
        "backend": "celery",
        "broker_url": redis_url,
        "namespace": namespace,
        "retry_backoff_s": 0.0,
        "heartbeat_s": 1.0,
        "max_attempts": 2,
        "job_timeout_s": 60.0,
        "visibility_timeout_s": 120.0,
        **overrides,
    }
    return QueueSettings(**values)


# -- worker processes ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def worker_sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Stable Diffusion folder for worker processes."""
    return save_tiny_sd(tmp_path_factory.mktemp("tiny-sd-worker"))


@dataclass
class WorkerProcess:
    """A real `pmg worker` subprocess; its output goes to a log file shown on failure."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)

    def start(self) -> WorkerProcess:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pmg_engine.cli.worker", "--loglevel", "info"],
            cwd=REPO,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait_ready(self, url: str, namespace: str, timeout: float = 90.0) -> str:
        """Wait for the worker's liveness key; return its worker id."""
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"worker exited early:\n{self.output()}")
                for key in client.scan_iter(match=f"{namespace}:workers:*"):
                    worker_id = key.decode().split(":workers:", 1)[1]
                    if f":{self.pid}:" in worker_id:
                        return worker_id
                time.sleep(0.2)
        finally:
            client.close()
        raise AssertionError(f"worker not ready after {timeout} s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acknowledgement, as when a machine dies."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM (Celery's warm shutdown), then SIGKILL if it hangs."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()

    def output(self) -> str:
        if not self.log_path.exists():
            return "(not started)"
        return self.log_path.read_text(errors="replace")[-6000:]


def worker_env(
    *,
    database_url: str,
    data_dir: Path,
    model_dir: Path,
    settings: QueueSettings,
    steps: int = 2,
    scorer_dir: Path | None = None,
) -> dict[str, str]:
    """The environment of a worker process: PMG_* settings only from the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMG_")}
    env.update(
        {
            "PMG_DATABASE__URL": database_url,
            "PMG_STORAGE__DATA_DIR": str(data_dir),
            "PMG_GENERATOR__MODEL": str(model_dir),
            "PMG_GENERATOR__DEVICE": "cpu",
            "PMG_GENERATOR__NUM_INFERENCE_STEPS": str(steps),
            "PMG_QUEUE__BACKEND": "celery",
            "PMG_QUEUE__BROKER_URL": settings.broker_url.get_secret_value(),
            "PMG_QUEUE__NAMESPACE": settings.namespace,
            "PMG_QUEUE__MAX_ATTEMPTS": str(settings.max_attempts),
            "PMG_QUEUE__RETRY_BACKOFF_S": str(settings.retry_backoff_s),
            "PMG_QUEUE__HEARTBEAT_S": str(settings.heartbeat_s),
            "PMG_QUEUE__JOB_TIMEOUT_S": str(settings.job_timeout_s),
            "PMG_QUEUE__VISIBILITY_TIMEOUT_S": str(settings.visibility_timeout_s),
            # See _one_torch_thread: the same reason, for the worker process.
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO),
        }
    )
    if scorer_dir is not None:
        env["PMG_GENERATOR__SCORER"] = str(scorer_dir)
    return env
