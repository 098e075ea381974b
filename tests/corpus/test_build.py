"""Building a tiny corpus end to end from fake npm packages written by the test (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmg_engine.corpus import build_corpus, load_manifest
from pmg_engine.corpus.build import CorpusSourceError
from pmg_engine.corpus.packages import EMOJIBASE, FLUENT_FLAT, OPENMOJI, NpmPackage, package_dir
from pmg_engine.corpus.sources import NOTO_INSTALL, SourceSet

SIZES = (16, 32)
RED_DISC = '<circle cx="36" cy="36" r="30" fill="#ff0000"/>'
YELLOW_FACE = '<circle cx="36" cy="36" r="28" fill="#ffdd00" stroke="#000" stroke-width="5"/>'
GREEN_BAR = '<rect x="10" y="30" width="52" height="12" fill="#22aa44"/>'
BLUE_SQUARE = '<rect x="6" y="6" width="60" height="60" fill="#2255ee"/>'
SOURCES = (
    SourceSet(style="openmoji", kind="svg-dir", package=OPENMOJI, subdir="color/svg"),
    SourceSet(style="fluent-flat", kind="iconify", package=FLUENT_FLAT),
)


def _package(cache: Path, package: NpmPackage) -> Path:
    folder = package_dir(package, cache)
    folder.mkdir(parents=True)
    meta = {"name": package.name, "version": package.version, "license": package.declared_license}
    (folder / "package.json").write_text(json.dumps(meta))
    return folder


def _svg(body: str) -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 72 72">{body}</svg>'


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """Fake emojibase, OpenMoji-like and Iconify-like packages, already "fetched"."""
    root = tmp_path / "cache"
    # 1. emojibase: five concepts, one skin variant, one component.
    base = _package(root, EMOJIBASE)
    (base / "en").mkdir()
    (base / "meta").mkdir()
    groups = {"groups": {"0": "smileys-emotion", "2": "component", "8": "symbols"}}
    groups["subgroups"] = {"0": "face-smiling", "1": "geometric"}
    (base / "meta" / "groups.json").write_text(json.dumps(groups))
    rows = [
        ("red circle", "1F534", ["circle", "geometric", "red"], 8, 1),
        ("grinning face", "1F600", ["face", "grin", "happy"], 0, 0),
        ("heavy minus sign", "2796", ["minus", "math"], 8, 1),
        ("blue square", "1F7E6", ["square", "blue"], 8, 1),
        ("red heart", "2764-FE0F", ["heart", "love"], 0, 0),
    ]
    data: list[dict[str, object]] = [
        {
            "label": label,
            "hexcode": hexcode,
            "emoji": hexcode,
            "tags": tags,
            "group": group,
            "subgroup": subgroup,
            "order": order,
        }
        for order, (label, hexcode, tags, group, subgroup) in enumerate(rows)
    ]
    data.append({"label": "light skin tone", "hexcode": "1F3FB", "emoji": "x", "group": 2})
    (base / "en" / "data.json").write_text(json.dumps(data))
    # 2. OpenMoji-like folder of SVG files, named with the set's own spelling.
    svgs = _package(root, OPENMOJI) / "color" / "svg"
    svgs.mkdir(parents=True)
    files = {"1F534": RED_DISC, "1F600": YELLOW_FACE, "2796": GREEN_BAR, "1F7E6": BLUE_SQUARE}
    files |= {"1F3FB": RED_DISC, "2764-FE0F": RED_DISC}
    for name, body in files.items():
        (svgs / f"{name}.svg").write_text(_svg(body))
    # 3. Iconify-like set with a codepoint map, missing one concept.
    icons = _package(root, FLUENT_FLAT)
    bodies = {"red-circle": RED_DISC, "grinning-face": YELLOW_FACE, "minus": GREEN_BAR}
    icon_set = {
        "prefix": "fake",
        "width": 72,
        "height": 72,
        "icons": {name: {"body": body} for name, body in bodies.items()},
    }
    (icons / "icons.json").write_text(json.dumps(icon_set))
    chars = {"1f534": "red-circle", "1f600": "grinning-face", "2796": "minus"}
    (icons / "chars.json").write_text(json.dumps(chars))
    return root


def test_renders_every_style_and_size(tmp_path: Path, cache: Path) -> None:
    """Each concept a set draws becomes one RGBA PNG per size, listed in the manifest."""
    summary = build_corpus(
        out_dir=tmp_path / "out", cache_dir=cache, sizes=SIZES, workers=1, sources=SOURCES
    )
    assert summary.by_style == {"fluent-flat": 3, "openmoji": 5}
    items = load_manifest(summary.manifest_path)
    assert len(items) == summary.items == 8
    for item in items:
        for size in SIZES:
            with Image.open(summary.manifest_path.parent / item.paths[size]) as image:
                assert (image.mode, image.size) == ("RGBA", (size, size))


def test_transparent_pixels_have_no_colour(tmp_path: Path, cache: Path) -> None:
    """Wherever alpha is 0 the RGB values are 0, so no arbitrary colour hides there."""
    summary = build_corpus(
        out_dir=tmp_path / "out", cache_dir=cache, sizes=SIZES, workers=1, sources=SOURCES
    )
    for item in load_manifest(summary.manifest_path):
        pixels = np.asarray(Image.open(summary.manifest_path.parent / item.paths[32]))
        clear = pixels[..., 3] == 0
        assert clear.any()
        assert not pixels[clear][:, :3].any()


def test_manifest_records_captions_words_and_groups(tmp_path: Path, cache: Path) -> None:
    """Items carry the emojibase caption and groups, the style and pixel-derived words."""
    summary = build_corpus(
        out_dir=tmp_path / "out", cache_dir=cache, sizes=SIZES, workers=1, sources=SOURCES
    )
    items = {item.id: item for item in load_manifest(summary.manifest_path)}
    red = items["openmoji/1F534"]
    assert red.caption == "red circle, circle, geometric, red"
    assert (red.group, red.subgroup, red.style, red.concept) == (
        "symbols",
        "geometric",
        "openmoji",
        "1F534",
    )
    assert red.visual_words[0] == "red"
    assert "outlined" in items["fluent-flat/1F600"].visual_words
    assert items["openmoji/2764"].hexcode == "2764-FE0F"
    assert red.styled_caption.startswith("red circle, circle, geometric, red, openmoji style, red")


def test_split_holds_out_one_style_per_training_concept(tmp_path: Path, cache: Path) -> None:
    """Training concepts drawn by both sets hold out exactly one of them; others never do."""
    summary = build_corpus(
        out_dir=tmp_path / "out", cache_dir=cache, sizes=SIZES, workers=1, sources=SOURCES
    )
    by_concept: dict[str, list[str]] = {}
    for item in load_manifest(summary.manifest_path):
        by_concept.setdefault(item.concept, []).append(item.split)
    for concept, splits in by_concept.items():
        if set(splits) <= {"train", "style-heldout"} and len(splits) == 2:
            assert sorted(splits) == ["style-heldout", "train"], concept
        elif len(splits) == 1:
            assert splits[0] != "style-heldout", concept


def test_manifest_is_byte_identical_across_builds(tmp_path: Path, cache: Path) -> None:
    """Two builds from the same inputs, one of them in a pool, write identical files."""
    first = build_corpus(
        out_dir=tmp_path / "a", cache_dir=cache, sizes=SIZES, workers=1, sources=SOURCES
    )
    second = build_corpus(
        out_dir=tmp_path / "b", cache_dir=cache, sizes=SIZES, workers=2, sources=SOURCES
    )
    assert first.manifest_path.read_bytes() == second.manifest_path.read_bytes()
    for name in ("summary.json", *[item.paths[32] for item in load_manifest(first.manifest_path)]):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_second_build_reuses_renders(tmp_path: Path, cache: Path) -> None:
    """A rebuild renders nothing again, keeps finished files and clears torn ones."""
    out = tmp_path / "out"
    first = build_corpus(out_dir=out, cache_dir=cache, sizes=SIZES, workers=1, sources=SOURCES)
    pngs = sorted(out.rglob("*.png"))
    stamps = [path.stat().st_mtime_ns for path in pngs]
    manifest = first.manifest_path.read_bytes()
    torn = pngs[0].parent / ".tmp-interrupted.png"
    torn.write_bytes(b"half a png")
    second = build_corpus(out_dir=out, cache_dir=cache, sizes=SIZES, workers=1, sources=SOURCES)
    assert (first.rendered, second.rendered, second.reused) == (8, 0, 8)
    assert [path.stat().st_mtime_ns for path in pngs] == stamps
    assert second.manifest_path.read_bytes() == manifest
    assert not torn.exists()
    assert {path.stat().st_mode & 0o777 for path in [*pngs, second.manifest_path]} == {0o644}


def test_limit_keeps_the_first_concepts(tmp_path: Path, cache: Path) -> None:
    """``limit`` keeps a prefix of emojibase order across every style."""
    summary = build_corpus(
        out_dir=tmp_path / "out", cache_dir=cache, sizes=SIZES, workers=1, limit=2, sources=SOURCES
    )
    assert {item.concept for item in load_manifest(summary.manifest_path)} == {"1F534", "1F600"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"sizes": ()}, "sizes"), ({"workers": 0}, "workers"), ({"limit": 0}, "limit")],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    """Bad sizes, workers or limit are refused before anything is fetched."""
    arguments: dict[str, object] = {"out_dir": tmp_path / "o", "cache_dir": tmp_path / "c"}
    with pytest.raises(ValueError, match=message):
        build_corpus(**(arguments | kwargs))  # type: ignore[arg-type]
    assert not (tmp_path / "c").exists()


def _missing_font(tmp_path: Path) -> SourceSet:
    return SourceSet(
        style="noto", kind="font", font_path=tmp_path / "absent.ttf", install_hint=NOTO_INSTALL
    )


def test_missing_style_stops_the_build_before_any_fetch(tmp_path: Path) -> None:
    """A style that cannot be built stops the build, naming it, before packages are fetched."""
    sources = (*SOURCES, _missing_font(tmp_path))
    with pytest.raises(CorpusSourceError, match="style noto needs the font file") as raised:
        build_corpus(out_dir=tmp_path / "o", cache_dir=tmp_path / "c", sources=sources)
    assert "apt-get install -y fonts-noto-color-emoji" in str(raised.value)
    assert not (tmp_path / "c").exists()
    assert not (tmp_path / "o").exists()


def test_allowed_missing_style_is_built_without_and_recorded(tmp_path: Path, cache: Path) -> None:
    """With ``allow_missing`` the other styles build and the summary names the missing one."""
    sources = (*SOURCES, _missing_font(tmp_path))
    summary = build_corpus(
        out_dir=tmp_path / "o",
        cache_dir=cache,
        sizes=SIZES,
        workers=1,
        sources=sources,
        allow_missing=("noto",),
    )
    assert summary.skipped_styles == ("noto",)
    assert summary.by_style == {"fluent-flat": 3, "openmoji": 5}
    recorded = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert recorded["skipped_styles"] == ["noto"]


def test_allow_missing_names_only_known_styles(tmp_path: Path, cache: Path) -> None:
    """Allowing a style the build does not have is refused, not ignored."""
    with pytest.raises(ValueError, match="notto"):
        build_corpus(
            out_dir=tmp_path / "o", cache_dir=cache, sources=SOURCES, allow_missing=["notto"]
        )


def test_cli_stops_on_a_missing_style_in_one_sentence(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pmg data build` without the font exits 1 with one line; the flag builds without it."""
    from click.testing import CliRunner

    from pmg_engine.corpus.cli import data_group

    defaults = build_corpus.__kwdefaults__
    monkeypatch.setitem(defaults, "sources", (*SOURCES, _missing_font(tmp_path)))
    arguments = ["build", "--out", str(tmp_path / "o"), "--cache", str(cache), "--size", "16"]
    stopped = CliRunner().invoke(data_group, arguments)
    assert stopped.exit_code == 1
    assert stopped.output.startswith("Error: style noto needs the font file")
    assert len(stopped.output.strip().splitlines()) == 1
    allowed = CliRunner().invoke(data_group, [*arguments, "--allow-missing-style", "noto"])
    assert allowed.exit_code == 0, allowed.output
    assert "built WITHOUT styles: noto" in allowed.output
