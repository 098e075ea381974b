"""Post-processing of generated images into Discord stickers and full-size image files.

DESIGN.md section 1, step 7: transparent background, die-cut outline, 320x320 PNG of at most
512 KB for a sticker; a bounded PNG for the full-size mode.
"""

from __future__ import annotations

from pmg_engine.stickers._modes import MIN_INPUT_SIDE
from pmg_engine.stickers._png import ImageTooLargeError
from pmg_engine.stickers._sticker import (
    FULL_IMAGE_MAX_BYTES,
    FULL_IMAGE_MAX_SIDE,
    STICKER_MAX_BYTES,
    STICKER_SIZE,
    StickerResult,
    make_full_image,
    make_sticker,
)

__all__ = [
    "FULL_IMAGE_MAX_BYTES",
    "FULL_IMAGE_MAX_SIDE",
    "MIN_INPUT_SIDE",
    "STICKER_MAX_BYTES",
    "STICKER_SIZE",
    "ImageTooLargeError",
    "StickerResult",
    "make_full_image",
    "make_sticker",
]
