"""Emoji sets and styles of the corpus, and where each set keeps the artwork of a concept."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pmg_engine.corpus.captions import concept_key
from pmg_engine.corpus.packages import (
    FLUENT_COLOR,
    FLUENT_FLAT,
    FLUENT_HIGH_CONTRAST,
    OPENMOJI,
    TWEMOJI,
    NpmPackage,
    check_license,
    fetch_package,
    package_dir,
)
from pmg_engine.errors import PMGError

NOTO_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
# scripts/setup.sh runs this where it can (root and apt-get); DESIGN.md section 5 lists the
# registries a machine may reach, and Debian is one of them.
NOTO_INSTALL = "apt-get install -y fonts-noto-color-emoji"

SourceKind = Literal["svg-dir", "iconify", "font"]


@dataclass(frozen=True)
class SourceSet:
    """One style of the corpus: a folder of SVG files, an Iconify icon set or a colour font."""

    style: str
    kind: SourceKind
    package: NpmPackage | None = None
    subdir: str = ""
    # Iconify's full-colour Fluent set ships an empty chars.json; the flat set's applies.
    chars_package: NpmPackage | None = None
    font_path: Path | None = None
    # The command that makes a missing font available, named when a build stops without it.
    install_hint: str = ""


class MissingStyleError(PMGError):
    """A style of the corpus cannot be built on this machine; the message says how to fix it."""

    def __init__(self, style: str, message: str) -> None:
        super().__init__(message)
        self.style = style


@dataclass(frozen=True)
class Artwork:
    """The drawing of one concept in one style: SVG text, an SVG file, or a font glyph."""

    svg_path: str | None = None
    svg_text: str | None = None
    font_path: str | None = None
    glyph_text: str | None = None


@dataclass(frozen=True)
class ResolvedSet:
    """A fetched set: what it came from, its version key (for the render cache), its artwork."""

    source: SourceSet
    origin: str
    version: str
    artworks: dict[str, Artwork]


DEFAULT_SOURCE_SETS = (
    SourceSet(style="openmoji", kind="svg-dir", package=OPENMOJI, subdir="color/svg"),
    SourceSet(style="openmoji-black", kind="svg-dir", package=OPENMOJI, subdir="black/svg"),
    SourceSet(style="twemoji", kind="svg-dir", package=TWEMOJI, subdir=""),
    SourceSet(
        style="fluent-color", kind="iconify", package=FLUENT_COLOR, chars_package=FLUENT_FLAT
    ),
    SourceSet(style="fluent-flat", kind="iconify", package=FLUENT_FLAT),
    SourceSet(style="fluent-high-contrast", kind="iconify", package=FLUENT_HIGH_CONTRAST),
    SourceSet(style="noto", kind="font", font_path=NOTO_FONT, install_hint=NOTO_INSTALL),
)


def _allow_hint(style: str) -> str:
    return f"or pass --allow-missing-style {style} to build a corpus without it"


def check_font(source: SourceSet) -> Path | None:
    """Return the font file of a font set; raise ``MissingStyleError`` if it is not installed.

    Returns ``None`` for other kinds of sets. Cheap, so a build calls it before fetching
    hundreds of megabytes of packages.
    """
    if source.kind != "font":
        return None
    if source.font_path is not None and source.font_path.is_file():
        return source.font_path
    fix = f"`{source.install_hint}` as root installs it, " if source.install_hint else ""
    raise MissingStyleError(
        source.style,
        f"style {source.style} needs the font file {source.font_path}, which is not installed: "
        f"{fix}{_allow_hint(source.style)}.",
    )


def _unavailable(source: SourceSet, package: NpmPackage, cache_dir: Path) -> MissingStyleError:
    return MissingStyleError(
        source.style,
        f"style {source.style} needs the npm package {package.spec}, which could not be fetched "
        f"into {cache_dir} (the log above says why): check that `npm pack {package.spec}` "
        f"works, {_allow_hint(source.style)}.",
    )


def _svg_dir_artworks(folder: Path, wanted: set[str]) -> dict[str, Artwork]:
    artworks: dict[str, Artwork] = {}
    # Sorted so that, when two files name the same concept, the choice never changes.
    for path in sorted(folder.glob("*.svg")):
        key = concept_key(path.stem)
        if key in wanted and key not in artworks:
            artworks[key] = Artwork(svg_path=str(path))
    return artworks


def iconify_svg(icon_set: dict[str, Any], name: str) -> str | None:
    """Return a standalone SVG document for icon ``name`` of an Iconify JSON set, if drawable."""
    icons, aliases = icon_set.get("icons", {}), icon_set.get("aliases", {})
    flip = False
    if name in aliases:
        alias = aliases[name]
        if set(alias) - {"parent", "hFlip"}:
            return None
        flip, name = bool(alias.get("hFlip", False)), alias["parent"]
    if name not in icons:
        return None
    icon = icons[name]
    left, top = icon.get("left", icon_set.get("left", 0)), icon.get("top", icon_set.get("top", 0))
    width = icon.get("width", icon_set.get("width", 16))
    height = icon.get("height", icon_set.get("height", 16))
    body = icon["body"]
    if flip != bool(icon.get("hFlip", False)):
        body = f'<g transform="translate({2 * left + width} 0) scale(-1 1)">{body}</g>'
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'viewBox="{left} {top} {width} {height}">{body}</svg>'
    )


def _iconify_artworks(folder: Path, chars_folder: Path, wanted: set[str]) -> dict[str, Artwork]:
    icon_set = json.loads((folder / "icons.json").read_text(encoding="utf-8"))
    chars = json.loads((chars_folder / "chars.json").read_text(encoding="utf-8"))
    artworks: dict[str, Artwork] = {}
    for hexcode, name in sorted(chars.items()):
        key = concept_key(hexcode)
        if key not in wanted or key in artworks:
            continue
        svg = iconify_svg(icon_set, name)
        if svg is not None:
            artworks[key] = Artwork(svg_text=svg)
    return artworks


def _font_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def resolve_set(source: SourceSet, *, cache_dir: Path, glyphs: dict[str, str]) -> ResolvedSet:
    """Fetch ``source`` and return its artwork for the concepts in ``glyphs`` (key -> emoji).

    Raises ``MissingStyleError``, whose one sentence names the fix, when the set cannot be
    obtained; the build decides whether a missing style stops it.
    """
    wanted = set(glyphs)
    if source.kind == "font":
        font_path = check_font(source)
        if font_path is None:
            raise ValueError(f"source set {source.style!r} of kind font has no font file")
        font = str(font_path)
        artworks = {key: Artwork(font_path=font, glyph_text=glyphs[key]) for key in sorted(wanted)}
        digest = _font_digest(font_path)
        return ResolvedSet(source, f"{font_path.name}@{digest}", f"font-{digest}", artworks)
    if source.package is None:
        raise ValueError(f"source set {source.style!r} of kind {source.kind!r} needs a package")
    folder = fetch_package(source.package, cache_dir)
    if folder is None or not check_license(source.package, folder):
        raise _unavailable(source, source.package, cache_dir)
    if source.kind == "svg-dir":
        artworks = _svg_dir_artworks(folder / source.subdir, wanted)
    else:
        chars_folder = folder
        if source.chars_package is not None:
            chars_folder = package_dir(source.chars_package, cache_dir)
            if fetch_package(source.chars_package, cache_dir) is None:
                raise _unavailable(source, source.chars_package, cache_dir)
        artworks = _iconify_artworks(folder, chars_folder, wanted)
    return ResolvedSet(source, source.package.spec, source.package.folder_name, artworks)


def styles_of(sets: Iterable[SourceSet]) -> list[str]:
    """Return the style labels of ``sets``, refusing duplicates."""
    styles = [source.style for source in sets]
    if len(set(styles)) != len(styles):
        raise ValueError(f"sources has repeated style labels: {styles!r}")
    return styles
