"""Pinned registry packages of the emoji corpus, fetched with ``npm pack`` into a cache folder.

Only the package registries are reachable on our machines (DESIGN.md section 5), so every
set comes from npm or Debian. Versions and tarball digests are pinned so that a fresh machine
builds the same corpus; a digest mismatch is treated as a missing package, never trusted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

NPM_TIMEOUT_S = 600
# Where `pmg data build` keeps the fetched packages (gitignored), reused by every later build.
DEFAULT_CACHE_DIR = Path("data/cache/sources")


@dataclass(frozen=True)
class NpmPackage:
    """One npm package at one pinned version, with the licence its ``package.json`` declares."""

    name: str
    version: str
    integrity: str
    declared_license: str

    @property
    def spec(self) -> str:
        """Return ``name@version`` as npm takes it."""
        return f"{self.name}@{self.version}"

    @property
    def folder_name(self) -> str:
        """Return a file-system-safe folder name that keys the cache by version."""
        return self.spec.replace("/", "__")


OPENMOJI = NpmPackage(
    name="openmoji",
    version="17.0.0",
    integrity="sha512-EBnYrNGdcdw+OSXmENeNE1yBNRu6tOraTmoOyUbJkTmvT/+XETp8RZLSJFzD3lrPc5N9CzsyPnRTk0Vp4UaI9w==",
    declared_license="CC-BY-SA-4.0",
)
# The package.json says MIT for the repackaging; the graphics are Twemoji's, CC-BY 4.0.
TWEMOJI = NpmPackage(
    name="@twemoji/svg",
    version="15.0.0",
    integrity="sha512-ZSPef2B6nBaYnfgdTbAy4jgW95o7pi2xPGwGCU+WMTxo7J6B1lMPTWwSq/wTuiMq+N0khQ90CcvYp1wFoQpo/w==",
    declared_license="MIT",
)
# Iconify's packages are used for Fluent because they map codepoints to icons (chars.json)
# and name Microsoft as author; the `fluentui-emoji` npm package only has file names.
FLUENT_COLOR = NpmPackage(
    name="@iconify-json/fluent-emoji",
    version="1.2.7",
    integrity="sha512-D8G6bKAyIsyxP1rzZtIWr/gg/fO4Rg1+DyCWlfqKK4h8W+4Em/Y0P6QYgJUQTlUcagzJvSyg+9OBv4hz4Hc/QA==",
    declared_license="MIT",
)
FLUENT_FLAT = NpmPackage(
    name="@iconify-json/fluent-emoji-flat",
    version="1.2.6",
    integrity="sha512-RY47RgPb47fYUiyrA64sIOL0+UU02s29sXpNBbIQRBUlPlfNFTKUmZDERGuxDs/7yNGWqQYvuaSYM1M4fRXlUw==",
    declared_license="MIT",
)
FLUENT_HIGH_CONTRAST = NpmPackage(
    name="@iconify-json/fluent-emoji-high-contrast",
    version="1.2.6",
    integrity="sha512-esqhZPpkrF7sNX3NsLoh8KW64okEr/bzko7WNnFP+qTJGAqDPDYjp0925yxuivXy3HtVQB8xhIKu3+Nq1byX5w==",
    declared_license="MIT",
)
EMOJIBASE = NpmPackage(
    name="emojibase-data",
    version="17.0.0",
    integrity="sha512-Yvgb5AWoHViHV/gq1qr5ZAarcBip+B27/ZLRsUJkbgAEaLlZ/fof9g882LTpmEpyhBNEC0m2SEmItljHsTygjA==",
    declared_license="MIT",
)

ALL_PACKAGES = (OPENMOJI, TWEMOJI, FLUENT_COLOR, FLUENT_FLAT, FLUENT_HIGH_CONTRAST, EMOJIBASE)


def _integrity_of(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{algorithm}-{base64.b64encode(digest.digest()).decode('ascii')}"


def _npm_pack(package: NpmPackage, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not installed")
    done = subprocess.run(
        [npm, "pack", package.spec, "--json", "--pack-destination", str(dest)],
        check=True,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_S,
    )
    filename = json.loads(done.stdout)[0]["filename"]
    return dest / Path(filename).name


def package_dir(package: NpmPackage, cache_dir: Path) -> Path:
    """Return where ``package`` is (or would be) unpacked inside ``cache_dir``."""
    return cache_dir / package.folder_name / "package"


def fetch_package(package: NpmPackage, cache_dir: Path) -> Path | None:
    """Return the unpacked folder of ``package``, fetching it once; ``None`` when unobtainable.

    A folder with a ``package.json`` counts as fetched: unpacking happens in a temporary
    folder that is renamed into place only when complete.
    """
    # 1. Reuse an earlier fetch.
    target = package_dir(package, cache_dir)
    if (target / "package.json").is_file():
        return target
    # 2. Pack from the registry and check the pinned digest.
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".fetch-") as tmp:
        tmp_dir = Path(tmp)
        try:
            tarball = _npm_pack(package, tmp_dir)
        except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError) as error:
            logger.warning("skipping %s: npm pack failed (%s)", package.spec, error)
            return None
        algorithm = package.integrity.split("-", 1)[0]
        found = _integrity_of(tarball, algorithm)
        if found != package.integrity:
            logger.warning("skipping %s: tarball digest %s is not pinned", package.spec, found)
            return None
        # 3. Unpack; the "data" filter refuses links and paths that leave the folder.
        unpacked = tmp_dir / "unpacked"
        with tarfile.open(tarball, "r:gz") as archive:
            archive.extractall(unpacked, filter="data")
        if not (unpacked / "package" / "package.json").is_file():
            logger.warning("skipping %s: the tarball has no package/package.json", package.spec)
            return None
        # 4. Move into place atomically.
        target.parent.mkdir(parents=True, exist_ok=True)
        (unpacked / "package").rename(target)
    return target


def check_license(package: NpmPackage, folder: Path) -> bool:
    """Return whether the unpacked ``package.json`` still declares the licence we vetted."""
    declared = json.loads((folder / "package.json").read_text(encoding="utf-8")).get("license")
    if declared != package.declared_license:
        logger.warning(
            "skipping %s: package.json declares licence %r, expected %r",
            package.spec,
            declared,
            package.declared_license,
        )
        return False
    return True
