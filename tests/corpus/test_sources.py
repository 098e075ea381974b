"""Fetching pinned packages, reading Iconify sets, and the command line (all offline)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pmg_engine.corpus.cli import data_group
from pmg_engine.corpus.packages import NpmPackage, fetch_package
from pmg_engine.corpus.render import RenderJob, drop_degenerate_gradients, render_master, run_job
from pmg_engine.corpus.sources import (
    NOTO_FONT,
    NOTO_INSTALL,
    Artwork,
    MissingStyleError,
    SourceSet,
    iconify_svg,
    resolve_set,
)


def _tarball(path: Path) -> str:
    files = {"package/package.json": b'{"name": "fake", "license": "MIT"}', "package/a.svg": b"<"}
    with tarfile.open(path, "w:gz") as archive:
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """An ``npm`` on PATH whose ``pack`` copies a prepared tarball, as the registry would."""
    tgz = tmp_path / "fake-1.0.0.tgz"
    integrity = _tarball(tgz)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = pack ] || exit 1\n'
        f'{shutil.which("cp")} "{tgz}" "$5/" && echo \'[{{"filename": "fake-1.0.0.tgz"}}]\'\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return script, integrity


def test_fetch_unpacks_once_and_reuses(tmp_path: Path, fake_npm: tuple[Path, str]) -> None:
    """A verified tarball is unpacked into the cache; a second fetch needs no npm at all."""
    script, integrity = fake_npm
    package = NpmPackage(name="fake", version="1.0.0", integrity=integrity, declared_license="MIT")
    folder = fetch_package(package, tmp_path / "cache")
    assert folder is not None
    assert (folder / "a.svg").read_bytes() == b"<"
    script.unlink()
    assert fetch_package(package, tmp_path / "cache") == folder


def test_fetch_refuses_a_tarball_with_another_digest(
    tmp_path: Path, fake_npm: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A digest that differs from the pinned one leaves nothing in the cache."""
    package = NpmPackage(
        name="fake", version="1.0.0", integrity="sha512-AAAA", declared_license="MIT"
    )
    with caplog.at_level(logging.WARNING):
        assert fetch_package(package, tmp_path / "cache") is None
    assert "not pinned" in caplog.text
    assert not (tmp_path / "cache" / "fake@1.0.0").exists()


def test_unobtainable_set_names_its_style_package_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without npm a set cannot be resolved; the sentence names the style, package and fix."""
    monkeypatch.setenv("PATH", str(tmp_path))
    package = NpmPackage(name="gone", version="1.0.0", integrity="sha512-x", declared_license="MIT")
    source = SourceSet(style="gone-style", kind="svg-dir", package=package)
    with pytest.raises(MissingStyleError) as raised:
        resolve_set(source, cache_dir=tmp_path / "c", glyphs={"1F600": "x"})
    assert raised.value.style == "gone-style"
    assert "gone@1.0.0" in str(raised.value)
    assert "--allow-missing-style gone-style" in str(raised.value)


def test_missing_font_names_the_install_command(tmp_path: Path) -> None:
    """A font set whose file is not installed raises one sentence with the install command."""
    source = SourceSet(
        style="noto", kind="font", font_path=tmp_path / "none.ttf", install_hint=NOTO_INSTALL
    )
    with pytest.raises(MissingStyleError) as raised:
        resolve_set(source, cache_dir=tmp_path, glyphs={"1F600": "x"})
    message = str(raised.value)
    assert "none.ttf" in message
    assert "apt-get install -y fonts-noto-color-emoji" in message
    assert "--allow-missing-style noto" in message
    assert message.count(". ") == 0
    assert message.endswith(".")


def test_iconify_alias_is_flipped() -> None:
    """An Iconify alias with hFlip mirrors its parent's body inside the parent's viewBox."""
    icon_set = {
        "width": 32,
        "height": 32,
        "icons": {"left": {"body": "<path/>"}},
        "aliases": {
            "right": {"parent": "left", "hFlip": True},
            "odd": {"parent": "left", "rotate": 1},
        },
    }
    assert iconify_svg(icon_set, "left") == (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'viewBox="0 0 32 32"><path/></svg>'
    )
    right = iconify_svg(icon_set, "right")
    assert right is not None
    assert '<g transform="translate(32 0) scale(-1 1)"><path/></g>' in right
    assert iconify_svg(icon_set, "odd") is None
    assert iconify_svg(icon_set, "absent") is None


@pytest.mark.skipif(not NOTO_FONT.is_file(), reason="fonts-noto-color-emoji is not installed")
def test_noto_draws_sequences_and_refuses_unknown_ones() -> None:
    """Noto draws a ZWJ family as one colour glyph and returns nothing for unknown text."""
    family = Artwork(
        font_path=str(NOTO_FONT), glyph_text="\U0001f468\u200d\U0001f469\u200d\U0001f467"
    )
    image = render_master(family)
    assert image is not None
    assert image.width <= 1.5 * image.height
    assert len(np.unique(np.asarray(image.getchannel("R")))) > 10
    assert render_master(Artwork(font_path=str(NOTO_FONT), glyph_text="\U0010fffd")) is None


def test_cli_help_lists_the_build_options() -> None:
    """``pmg data build --help`` documents out, cache, limit and workers."""
    result = CliRunner().invoke(data_group, ["build", "--help"])
    assert result.exit_code == 0
    for option in ("--out", "--cache", "--limit", "--workers", "data/corpus", "data/cache/sources"):
        assert option in result.output
    assert "--allow-missing-style" in result.output


def test_importing_the_cli_loads_no_image_library() -> None:
    """The command module is cheap to import: no Pillow, numpy or cairo until a build runs."""
    code = (
        "import sys, pmg_engine.corpus.cli, pmg_engine.corpus;"
        "print(sorted(m for m in ('PIL', 'numpy', 'cairosvg', 'tqdm') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.replace("'", '"')) == []


def test_degenerate_gradient_paint_is_dropped() -> None:
    """A paint whose gradient is skewed by 90 degrees becomes none; others stay."""
    svg = (
        '<svg><defs><radialGradient id="bad" gradientTransform="translate(1 2)skewY(-90)"/>'
        '<linearGradient id="ok" gradientTransform="skewX(.04)"/></defs>'
        '<path fill="url(#bad)"/><path fill="url(#ok)"/></svg>'
    )
    fixed = drop_degenerate_gradients(svg)
    assert '<path fill="none"/><path fill="url(#ok)"/>' in fixed


def test_broken_svg_is_reported_not_raised(tmp_path: Path) -> None:
    """A drawing cairo cannot read comes back as missing with its error, writing nothing."""
    job = RenderJob(
        item_id="x/1F600",
        artwork=Artwork(svg_text="<svg xmlns='http://www.w3.org/2000/svg'><g></svg>"),
        outputs=((16, str(tmp_path / "16.png")),),
    )
    result = run_job(job)
    assert (result.status, result.item_id) == ("missing", "x/1F600")
    assert result.error
    assert not (tmp_path / "16.png").exists()


def test_cli_explains_a_missing_emojibase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without emojibase the build stops with one sentence naming the package, no traceback."""
    monkeypatch.setenv("PATH", str(tmp_path))
    arguments = ["build", "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c")]
    result = CliRunner().invoke(data_group, arguments)
    assert result.exit_code == 1
    assert "emojibase-data@17.0.0 could not be fetched" in result.output
