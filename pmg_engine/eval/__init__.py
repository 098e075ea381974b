"""Evaluation of the offline model pack: ``pmg eval models`` on the fixed evaluation set.

``load_eval_set`` reads the committed, versioned set (held-out renderings, prompts, distractors,
seeds); ``run_identity`` names a run's set and corpus fingerprint; ``check_comparable`` refuses
to set figures of different sets, corpora or settings side by side. Later evaluations reuse
these. Importing this package loads no model: the command loads them when it runs.
"""

from pmg_engine.eval.cli import eval_group
from pmg_engine.eval.evalset import (
    EvalSet,
    RunIdentity,
    check_comparable,
    load_eval_set,
    run_identity,
)

__all__ = [
    "EvalSet",
    "RunIdentity",
    "check_comparable",
    "eval_group",
    "load_eval_set",
    "run_identity",
]
