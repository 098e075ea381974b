"""A worker whose Redis dies mid-job and comes back: against a redis-server this test owns."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pmg_engine.db import migrate
from pmg_engine.db.engine import create_engine, session_factory
from pmg_engine.queue import jobs
from pmg_engine.queue.celery_app import RedisKeys
from pmg_engine.queue.celery_queue import CeleryQueue
from pmg_engine.queue.worker import ConsumerWatch
from pmg_engine.service import GenerationRequest
from tests.queue.conftest import WorkerProcess, queue_settings, submitter_service, worker_env

WAIT_S = 120.0


def free_port() -> int:
    """Return a TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server process on its own port and folder, to kill and start again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or start again) the server and wait until it answers."""
        binary = shutil.which("redis-server")
        assert binary is not None
        # Append-only, fsync on every write: a killed server comes back with its queue.
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL the server, as when its machine dies."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, on a free port."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()


async def test_worker_survives_redis_restart_during_a_job(
    tmp_path: Path, redis_server: RedisServer, worker_sd_dir: Path
) -> None:
    """Redis killed while a job runs and started after it ends: the next job still runs."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"
    await migrate.upgrade(url)
    settings = queue_settings(redis_server.url, "pmgrestart")
    env = worker_env(
        database_url=url,
        data_dir=tmp_path / "data",
        model_dir=worker_sd_dir,
        settings=settings,
        steps=150,
    )
    engine = create_engine(url)
    sessions = session_factory(engine)
    service = submitter_service(sessions, tmp_path / "data" / "outputs")
    queue = CeleryQueue(service, settings=settings, reconcile_s=1.0)
    worker = WorkerProcess(env=env, log_path=tmp_path / "worker.log").start()
    await queue.start()
    try:
        worker_id = await asyncio.to_thread(worker.wait_ready, redis_server.url, "pmgrestart")
        first = await queue.submit(GenerationRequest(user_id=1, prompt="a cat", seed=1))
        second = await queue.submit(GenerationRequest(user_id=1, prompt="a dog", seed=2))
        async with asyncio.timeout(WAIT_S):
            async for event in queue.events(first.generation_id):
                if event.stage == "generating":
                    break
        redis_server.kill()
        # Without Redis the bot still learns from the row that the first job ended.
        await asyncio.wait_for(queue.result(first.generation_id), WAIT_S)
        # The acknowledgement of the first job failed; Redis comes back a little later.
        await asyncio.sleep(2)
        redis_server.start()
        result = await asyncio.wait_for(queue.result(second.generation_id), WAIT_S)
        assert result.output_path.is_file()
        row = await jobs.status_of(sessions=sessions, generation_id=second.generation_id)
        assert (row.status, row.attempts) == ("done", 1)
        assert worker.process is not None
        assert worker.process.poll() is None  # reconnected, not restarted
        # The loss was seen (where it hit depends on timing: the ack, or the consumer's poll).
        output = worker.output()
        assert "Couldn't ack" in output or "ConnectionError" in output
        # Its liveness comes back with its consumer.
        client = redis.Redis.from_url(redis_server.url)
        try:
            assert client.exists(RedisKeys("pmgrestart").worker(worker_id))
        finally:
            client.close()
    except BaseException:
        print("worker:\n", worker.output())  # noqa: T201 (pytest shows it beside the failure)
        raise
    finally:
        await queue.close()
        worker.stop()
        await engine.dispose()


def test_watch_reconnects_then_exits_when_the_queue_stays_untaken() -> None:
    """An idle worker beside waiting messages reconnects once, then asks to exit."""
    watch = ConsumerWatch(stall_s=5.0)
    assert watch.observe(idle=True, waiting=2, now=0.0) == "ok"
    assert watch.observe(idle=True, waiting=2, now=4.0) == "ok"
    assert watch.observe(idle=True, waiting=2, now=5.0) == "reconnect"
    assert watch.observe(idle=True, waiting=2, now=6.0) == "ok"
    assert watch.observe(idle=True, waiting=2, now=11.0) == "exit"


def test_watch_trusts_a_busy_worker_an_empty_queue_and_an_unreachable_redis() -> None:
    """Busy, nothing waiting, or Redis away: no verdict, and a taken job clears past stalls."""
    watch = ConsumerWatch(stall_s=5.0)
    watch.observe(idle=True, waiting=1, now=0.0)
    assert watch.observe(idle=True, waiting=1, now=5.0) == "reconnect"
    assert watch.observe(idle=False, waiting=3, now=6.0) == "ok"  # it took a job: consuming
    assert watch.observe(idle=True, waiting=None, now=20.0) == "ok"
    assert watch.observe(idle=True, waiting=0, now=30.0) == "ok"
    watch.observe(idle=True, waiting=1, now=31.0)
    assert watch.observe(idle=True, waiting=1, now=36.0) == "reconnect"
