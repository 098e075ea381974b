"""Job queues: the contract and its implementations."""

from pmg_engine.queue.base import (
    JobCancelled,
    JobEvent,
    JobFailed,
    JobHandle,
    JobQueue,
    QueueUnavailable,
)

__all__ = ["JobCancelled", "JobEvent", "JobFailed", "JobHandle", "JobQueue", "QueueUnavailable"]
