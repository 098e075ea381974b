"""Diffusion generators and their text encoders (DESIGN.md §5: Stable Diffusion family, own model).

Importing this package loads no model: diffusers and transformers are imported when a generator
or an encoder is loaded.
"""

from pmg_engine.generators.base import (
    GeneratorError,
    GeneratorSpec,
    ImageGenerator,
    ModelNotAvailableError,
    UnsupportedModelError,
    resolve_device,
    resolve_dtype,
)
from pmg_engine.generators.diffusers_backend import DiffusersGenerator, load_generator
from pmg_engine.generators.text_encoders import (
    BertTextEncoder,
    CLIPTextEncoder,
    EncodedText,
    SDXLTextEncoder,
    TextEncoder,
    minilm_path,
)

__all__ = [
    "BertTextEncoder",
    "CLIPTextEncoder",
    "DiffusersGenerator",
    "EncodedText",
    "GeneratorError",
    "GeneratorSpec",
    "ImageGenerator",
    "ModelNotAvailableError",
    "SDXLTextEncoder",
    "TextEncoder",
    "UnsupportedModelError",
    "load_generator",
    "minilm_path",
    "resolve_device",
    "resolve_dtype",
]
