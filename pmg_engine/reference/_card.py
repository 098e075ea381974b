"""The reference index's card: what it holds, where it comes from, under which terms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pmg_engine.reference._format import CARD_NAME


def write_card(folder: Path, meta: dict[str, Any]) -> Path:
    """Write ``README.md`` for the index described by ``meta`` (its ``index.json``)."""
    thumb = meta["thumbnail"]
    lines = [
        "# Reference index (reference-guided generation)",
        "",
        "The corpus renderings that reference-guided generation starts from (img2img, SDEdit): "
        "for a request, the item whose caption is nearest to the target keywords "
        "(all-MiniLM-L6-v2 similarity), in the user's preferred style when the index has it.",
        "",
        f"- {meta['items']} renderings of {meta['concepts']} concepts, "
        f"only from the corpus's `{meta['split']}` split (held-out renderings are never here).",
        f"- Thumbnails: {thumb['size']} px {thumb['mode']}, `{thumb['encoding']}`, packed in "
        "`thumbnails.npz` (`data`: the PNG files back to back, `offsets`: where each starts).",
        f"- Captions, styles and concept keys: `items.jsonl`; caption vectors "
        f"({meta['embedding']['model']}, {meta['embedding']['dim']} dims, fp16, unit length): "
        "`embeddings.npy`, one row per distinct caption.",
        "- Built by `build_reference_index` (`pmg_engine/reference/`) from the corpus of "
        "`pmg data build`; deterministic for a given corpus.",
        "",
        "## Sources and licences",
        "",
        "The thumbnails are adaptations (rasterised, cropped, scaled, colour-quantized) of the "
        "sets below; keep these notices with them (see also `THIRD_PARTY_NOTICES.md`).",
        "",
    ]
    for style, source in meta["sources"].items():
        lines += [
            f"- `{style}` ({meta['by_style'][style]} thumbnails): {source['package']}, "
            f"licence {source['licence']} ({source['url']}). {source['attribution']}",
        ]
    share_alike = [s for s, src in meta["sources"].items() if src["share_alike"]]
    if share_alike:
        lines += [
            "",
            f"The thumbnails of {', '.join(share_alike)} are under CC BY-SA 4.0 (share-alike): "
            "anything that redistributes them must offer them under the same licence.",
        ]
    if meta["excluded_styles"]:
        lines += [
            "",
            "## Left out",
            "",
            *(f"- `{style}`: {why}." for style, why in meta["excluded_styles"].items()),
            "",
            "OpenMoji's share-alike terms would extend to the repository that ships its "
            "thumbnails, so the default index does without them; a user who prefers an OpenMoji "
            "style gets the nearest item of any other style.",
        ]
    path = folder / CARD_NAME
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
