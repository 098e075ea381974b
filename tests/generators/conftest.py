"""Tiny generators saved and loaded once per session (loading torch stacks is the slow part)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmg_engine.generators import DiffusersGenerator, GeneratorSpec, load_generator
from tests.generators import dummy


@pytest.fixture(scope="session")
def sd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SD 1.x pipeline saved in the diffusers layout."""
    return dummy.save_tiny_sd(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="session")
def sd_generator(sd_folder: Path) -> DiffusersGenerator:
    """The tiny SD pipeline loaded through ``load_generator``."""
    return load_generator(GeneratorSpec(model=str(sd_folder), device="cpu"))


@pytest.fixture(scope="session")
def own_generator(tmp_path_factory: pytest.TempPathFactory) -> DiffusersGenerator:
    """The tiny RGBA own-model layout loaded through ``load_generator``."""
    folder = dummy.save_tiny_own_model(tmp_path_factory.mktemp("tiny-own"))
    return load_generator(GeneratorSpec(model=str(folder), device="cpu"))


@pytest.fixture(scope="session")
def sdxl_generator(tmp_path_factory: pytest.TempPathFactory) -> DiffusersGenerator:
    """The tiny SDXL pipeline loaded through ``load_generator``."""
    folder = dummy.save_tiny_sdxl(tmp_path_factory.mktemp("tiny-sdxl"))
    return load_generator(GeneratorSpec(model=str(folder), device="cpu"))
