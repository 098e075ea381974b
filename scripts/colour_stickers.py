"""Draw the README's colour check: 320 px stickers of named colours, through ``pmg generate``.

Each prompt ("a red apple", "a green frog", "a yellow star" by default) is drawn as a sticker for
a fresh local user with no history (so no taste is mixed in), seed 0, with the configured
generator (the builtin pack unless ``PMG_GENERATOR__MODEL`` says otherwise), in a scratch data
folder. The stickers are set side by side on grey in ``--out``, and each one's dominant colours
(named from the pixels by the corpus's own rule) are printed with whether the asked colour is
among them. Exit status 1 when one is not.

    .venv/bin/python scripts/colour_stickers.py --out docs/samples/colour-stickers.png
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import numpy as np
from PIL import Image

from pmg_engine.corpus.visual import dominant_colours

DEFAULT_PROMPTS = ("a red apple", "a green frog", "a yellow star")
COLOUR_WORDS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "brown")


@click.command()
@click.option("--prompt", "prompts", multiple=True, help="A prompt naming one colour (repeat).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("data/eval/colour-stickers.png"),
    show_default=True,
)
def main(prompts: tuple[str, ...], seed: int, out: Path) -> None:
    """Draw each prompt as a sticker; print its dominant colours; save them side by side."""
    pmg = Path(sys.executable).with_name("pmg")
    stickers: list[Image.Image] = []
    failed = 0
    with tempfile.TemporaryDirectory(prefix="pmg-colour-") as scratch:
        # A scratch data folder: its own SQLite database, outputs and no earlier history.
        env = {**os.environ, "PMG_STORAGE__DATA_DIR": scratch}
        env.pop("PMG_DATABASE__URL", None)
        for prompt in prompts or DEFAULT_PROMPTS:
            asked = next((w for w in COLOUR_WORDS if w in prompt.lower().split()), None)
            args = [str(pmg), "generate", prompt, "--user", "colour-check", "--seed", str(seed)]
            done = subprocess.run(
                [*args, "--kind", "sticker", "--json"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise click.ClickException(f"pmg generate {prompt!r} failed: {done.stderr.strip()}")
            result = json.loads(done.stdout)
            # Absolute, or relative to this folder: the command ran here.
            with Image.open(Path(result["output_path"])) as image:
                sticker = image.convert("RGBA")
            colours = dominant_colours(np.asarray(sticker))
            ok = asked is None or asked in colours
            failed += not ok
            verdict = "yes" if ok else "NO"
            click.echo(
                f"{prompt!r}: {sticker.width} px, dominant colours {', '.join(colours) or '-'}; "
                f"{asked or 'no colour'} among them: {verdict}"
            )
            stickers.append(sticker)
    sheet = Image.new("RGBA", (sum(s.width for s in stickers), max(s.height for s in stickers)))
    sheet.paste((236, 236, 236, 255), (0, 0, *sheet.size))
    left = 0
    for sticker in stickers:
        sheet.alpha_composite(sticker, (left, 0))
        left += sticker.width
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.convert("RGB").save(out)
    click.echo(f"saved {out}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
