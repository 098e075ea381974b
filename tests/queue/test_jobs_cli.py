"""`pmg-admin jobs` and `pmg worker` through the real command line on a migrated database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner, Result

from pmg_engine.cli.worker import jobs_group, worker
from pmg_engine.db import migrate, repo
from pmg_engine.db.engine import create_engine, session_factory
from pmg_engine.db.types import utcnow
from pmg_engine.queue.celery_app import RedisKeys


@dataclass
class Jobs:
    env: dict[str, str]
    ids: dict[str, int]


@pytest.fixture
async def jobs_db(tmp_path: Path) -> Jobs:
    """A migrated database with one job of each kind an admin looks for."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.sqlite3'}"
    await migrate.upgrade(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    long_ago = utcnow() - timedelta(hours=2)
    ids = {}
    try:
        async with sessions() as session, session.begin():
            await repo.upsert_user(session=session, user_id=5, name="eve")
            for name in ("failed", "old_queued", "new_queued", "old_running", "done"):
                row, _ = await repo.create_generation(
                    session=session,
                    job_key=name,
                    user_id=5,
                    prompt=name,
                    personalization_weight=0.5,
                    seed=1,
                )
                ids[name] = row.id
                if name == "failed":
                    row.status, row.attempts, row.error = "failed", 3, "RuntimeError: boom"
                elif name == "old_queued":
                    row.created_at = long_ago
                elif name == "old_running":
                    row.status, row.attempts, row.worker_id = "running", 1, "gpu-1:42:abc"
                    row.created_at = row.started_at = long_ago
                elif name == "done":
                    row.status, row.attempts, row.created_at = "done", 1, long_ago
    finally:
        await engine.dispose()
    env = {"PMG_DATABASE__URL": url, "PMG_STORAGE__DATA_DIR": str(tmp_path / "data")}
    return Jobs(env=env, ids=ids)


def run(jobs: Jobs, *args: str, **env: str) -> Result:
    return CliRunner().invoke(jobs_group, list(args), env={**jobs.env, **env})


def listed(result: Result) -> list[int]:
    assert result.exit_code == 0, result.output
    return sorted(row["generation_id"] for row in json.loads(result.stdout))


def test_jobs_lists_failed_and_stuck_jobs(jobs_db: Jobs) -> None:
    """By default the failed job and the queued / running ones older than the timeout show."""
    ids = jobs_db.ids
    assert listed(run(jobs_db, "--json")) == sorted(
        [ids["failed"], ids["old_queued"], ids["old_running"]]
    )
    assert listed(run(jobs_db, "--json", "--status", "failed")) == [ids["failed"]]
    everything_pending = listed(run(jobs_db, "--json", "--stuck-after", "0"))
    assert ids["new_queued"] in everything_pending
    assert ids["done"] not in everything_pending
    rows = json.loads(run(jobs_db, "--json", "--status", "failed").stdout)
    assert (rows[0]["attempts"], rows[0]["error"]) == (3, "RuntimeError: boom")
    table = run(jobs_db)
    assert table.exit_code == 0
    assert "boom" in table.stdout


def test_requeue_resets_a_failed_job(jobs_db: Jobs) -> None:
    """`jobs requeue ID` queues a failed job again with fresh attempts; a done job is refused."""
    result = run(jobs_db, "requeue", str(jobs_db.ids["failed"]), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["status"], report["attempts"], report["sent"]) == ("queued", 0, False)
    assert "when it next starts" in report["message"]
    assert jobs_db.ids["failed"] not in listed(run(jobs_db, "--json", "--status", "failed"))
    refused = run(jobs_db, "requeue", str(jobs_db.ids["done"]))
    assert refused.exit_code == 1
    assert "nothing to requeue" in refused.stderr
    assert "Traceback" not in refused.output


def test_requeue_sends_the_job_to_celery_workers(
    jobs_db: Jobs, redis_url: str, namespace: str
) -> None:
    """With the Celery backend, a requeued job is on Redis at once, under its fixed task id."""
    generation_id = jobs_db.ids["old_running"]
    result = run(
        jobs_db,
        "requeue",
        str(generation_id),
        "--json",
        PMG_QUEUE__BACKEND="celery",
        PMG_QUEUE__BROKER_URL=redis_url,
        PMG_QUEUE__NAMESPACE=namespace,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sent"] is True
    keys = RedisKeys(namespace)
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.zrank(keys.pending, str(generation_id)) == 0
        (message,) = client.lrange(f"{keys.celery_prefix}{namespace}", 0, -1)
    finally:
        client.close()
    headers = json.loads(message)["headers"]
    assert (headers["id"], headers["task"]) == (f"pmg-generation-{generation_id}", "pmg.generate")


def test_worker_without_a_generator_says_why(tmp_path: Path) -> None:
    """`pmg worker` with no generator weights exits 1 with one sentence naming the setting."""
    env = {
        "PMG_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "PMG_GENERATOR__MODEL": str(tmp_path / "no-such-model"),
    }
    result = CliRunner().invoke(worker, [], env=env)
    assert result.exit_code == 1
    assert "PMG_GENERATOR__MODEL" in result.stderr
    assert "Traceback" not in result.output


def test_requeue_with_the_broker_down_says_the_job_waits(jobs_db: Jobs) -> None:
    """Requeue while Redis is down: the row is queued, the command says it waits, exit 3."""
    generation_id = jobs_db.ids["old_running"]
    celery = {
        "PMG_QUEUE__BACKEND": "celery",
        "PMG_QUEUE__BROKER_URL": "redis://127.0.0.1:1/0",
        "PMG_QUEUE__NAMESPACE": "pmg-down",
    }
    result = run(jobs_db, "requeue", str(generation_id), **celery)
    assert result.exit_code == 3
    assert f"job {generation_id} waits" in result.stderr
    assert "Traceback" not in result.output
    as_json = run(jobs_db, "requeue", str(generation_id), "--json", **celery)
    assert as_json.exit_code == 3
    report = json.loads(as_json.stdout)
    assert (report["status"], report["sent"]) == ("queued", False)
