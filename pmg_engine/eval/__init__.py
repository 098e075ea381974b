"""Evaluation of the offline model pack (issue 6): ``pmg eval models`` and its figures.

Importing this package loads no model: the command loads them when it runs.
"""

from pmg_engine.eval.cli import eval_group

__all__ = ["eval_group"]
