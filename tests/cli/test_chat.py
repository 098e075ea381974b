"""``pmg chat`` and ``pmg generate`` through the real command line with tiny real models."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from pmg_engine.cli import cli
from tests.generators.dummy import save_tiny_sd


@pytest.fixture(scope="module")
def tiny_sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Stable Diffusion folder."""
    return save_tiny_sd(tmp_path_factory.mktemp("tiny-sd-cli"))


@pytest.fixture
def env(
    tmp_path: Path,
    tiny_sd_dir: Path,
    tiny_clip_dir: Path,
    tiny_model_dir: Path,
) -> dict[str, str]:
    """Settings pointing the CLI at the tiny models and a fresh data folder."""
    return {
        "PMG_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "PMG_GENERATOR__MODEL": str(tiny_sd_dir),
        "PMG_GENERATOR__SCORER": str(tiny_clip_dir),
        "PMG_GENERATOR__DEVICE": "cpu",
        "PMG_GENERATOR__NUM_INFERENCE_STEPS": "2",
        "PMG_LLM__MODEL": str(tiny_model_dir),
        "PMG_LLM__MAX_NEW_TOKENS": "8",
    }


def test_chat_session_talk_sticker_keywords_rate(env: dict[str, str]) -> None:
    """A new user talks, asks for a sticker, sees the keywords and rates the result."""
    script = "\n".join(
        [
            "I love cats and pastel colours 🐱",
            "watercolor forests are so calming",
            "/weight 0.9",
            "/pin studio ghibli",
            "/sticker a cat drinking coffee",
            "/rate up",
            "/keywords",
            "/weight 7",
            "/nonsense",
            "/quit",
        ]
    )
    result = CliRunner().invoke(cli, ["chat", "--user", "ada"], input=script + "\n", env=env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Hi ada!" in out
    assert "/forget erases it" in out
    assert "your taste now counts 0.90" in out
    assert "drawn from: cat, drinking, coffee" in out
    taste = next(line for line in out.splitlines() if "your taste:" in line)
    assert "studio ghibli" in taste
    assert "pastel colours" in taste
    path = Path(next(line for line in out.splitlines() if "here you go" in line).split("→ ")[1])
    assert Image.open(io.BytesIO(path.read_bytes())).size == (320, 320)
    assert "thanks, noted!" in out
    assert "what I learned:" in out
    assert "between 0 and 1" in out  # /weight 7 is refused with a sentence
    assert "I don't know /nonsense" in out
    assert out.rstrip().endswith("bye!")
    assert "Traceback" not in result.output


def test_generate_one_shot_json(env: dict[str, str]) -> None:
    """`pmg generate --user NAME PROMPT --json` returns the file and keywords."""
    result = CliRunner().invoke(
        cli,
        ["generate", "--user", "demo", "a cat drinking coffee", "--json", "--seed", "5"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert Path(data["output_path"]).is_file()
    assert data["target_keywords"][0] == "cat"
    assert data["seed"] == 5


def test_generate_without_a_generator_is_one_sentence(env: dict[str, str], tmp_path: Path) -> None:
    """With no generator weights the command says how to configure one, exit status 1."""
    env = {**env, "PMG_GENERATOR__MODEL": str(tmp_path / "missing-model")}
    result = CliRunner().invoke(cli, ["generate", "--user", "demo", "a cat"], env=env)
    assert result.exit_code == 1
    assert "PMG_GENERATOR__MODEL" in result.stderr
    assert "Traceback" not in result.output
    assert not list((tmp_path / "data").rglob("*.png"))


def test_start_without_a_token_is_the_local_chat(env: dict[str, str]) -> None:
    """`pmg start` (the README's main job) opens the local chat when no token is configured."""
    result = CliRunner().invoke(cli, ["start"], input="/help\n/quit\n", env=env)
    assert result.exit_code == 0, result.output
    assert "Hi you!" in result.stdout
    assert "/sticker [what]" in result.stdout
    assert result.stdout.rstrip().endswith("bye!")
