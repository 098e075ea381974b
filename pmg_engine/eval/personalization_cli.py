"""``pmg eval personalization``: the paper-style table of personalization against accuracy."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from pmg_engine.corpus.manifest import DEFAULT_CORPUS_DIR
from pmg_engine.guidance import BUILTIN_GUIDANCE_SCALE

DEFAULT_OUT = Path("data/eval/personalization")
DOCS_OUT = Path("docs/samples")
QUICK_USERS = 24


@click.command("personalization")
@click.option("--generator", default="builtin", show_default=True, help="Generator folder.")
@click.option("--scorer", default="builtin", show_default=True, help="Mini scorer folder.")
@click.option(
    "--implicit",
    default="builtin",
    show_default=True,
    help="Trained soft-prompt module folder (pmg train implicit writes <out>/module).",
)
@click.option(
    "--llm",
    "llm_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="The module's causal LM folder [default: the prepared SmolLM2].",
)
@click.option(
    "--corpus",
    "corpus_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CORPUS_DIR,
    show_default=True,
)
@click.option(
    "--users",
    "users_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help='JSONL of users: {"user", "history": [lines], "target", "expect_styles": [styles]}.',
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Users to evaluate.")
@click.option(
    "--split",
    type=click.Choice(["test", "val"]),
    default="test",
    show_default=True,
    help="Held-out synthetic users: test for figures, val for choosing settings.",
)
@click.option("--quick", is_flag=True, help=f"{QUICK_USERS} users: minutes on a CPU.")
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True)
@click.option(
    "--guidance-scale",
    type=click.FloatRange(min=0),
    default=BUILTIN_GUIDANCE_SCALE,
    show_default=True,
    help="Classifier-free guidance (the default is the builtin pack's, chosen on pmg-val).",
)
@click.option("--weight", type=click.FloatRange(0, 1), default=2 / 3, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--sweep/--no-sweep", default=True, show_default=True, help="The 0 -> 1 plot.")
@click.option(
    "--keywords-llm/--no-keywords-llm",
    default=False,
    show_default=True,
    help="Preference keywords from the local LLM chain (slow) instead of its word fallback.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Folder for table.md, figures.json, figures.csv, sweep.png and grid.png.",
)
@click.option("--docs", is_flag=True, help="Also write the table and plot into docs/samples.")
@click.option("--threads", type=int, default=0, help="torch CPU threads (0: torch's default).")
@click.pass_context
def personalization_command(ctx: click.Context, /, **kw: Any) -> None:
    """Compare none, keywords, implicit (pooled, trained) and pmg on users of known taste."""
    from pmg_engine.eval._personalization_run import run

    started = time.perf_counter()
    report = run(ctx, **kw)
    data = report.to_json()
    data["seconds"] = round(time.perf_counter() - started, 1)
    if kw["as_json"]:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(report.markdown())
        for note in report.notes:
            click.echo(note)
        click.echo(f"{report.users} users; took {data['seconds']:.0f} s; files in {kw['out']}")
