"""The paper's soft-prompt module: frozen causal LLM + P-Tuning-v2 prefix + N multimodal tokens.

PAPER.md §3.1 and DESIGN.md §1 step 3. The history is written as an instruction prompt for the
LLM; N learnable *multimodal tokens* follow it where the answer would begin; a P-Tuning-v2
*prefix* gives every layer P learned keys and values; the final hidden states of the N tokens go
through a Linear into the generator's text-conditioning width. Only the prefix, the tokens and
the Linear train.

One deliberate difference from the reference code, chosen by measurement (model card of
``assets/implicit``): the prefix keys and values sit *after* the history's own keys in each
layer's cache, so the history tokens do not attend to them and only the multimodal tokens do.
The history's states then never depend on a trained parameter, so they are computed once per
history under ``no_grad`` (a ``DynamicCache``), and a training step runs only the N tokens
through the LLM: on two CPU cores that is about 40 times cheaper than backpropagating through
the whole prompt, which is what makes training here possible at all. The prefix still steers
every layer's attention of the tokens that become the embedding, which is its role in the
paper ("bias correction" of the frozen LLM).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from pmg_engine.implicit._probe import StyleGuess, StyleProbe

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "soft_prompt.safetensors"

SYSTEM_PROMPT = "You describe what a user of a sticker bot likes to see."
INSTRUCTION = "Here is what the user said and did, oldest first:"
QUESTION = "Describe the look of the stickers this user likes."
# Real words seed the learned parts, so training starts from states the LLM knows.
TOKEN_INIT_WORDS = ("style", "look", "colours", "drawing")
PREFIX_INIT_TEXT = "The stickers they like look like this"


@dataclass(frozen=True)
class SoftPromptConfig:
    """Shapes of the module and the LLM and text space it belongs to."""

    llm: str  # the LLM's name (its folder name or hub id), for the record
    hidden_size: int
    num_layers: int
    num_kv_heads: int
    head_dim: int
    text_width: int  # the generator's text-encoder width d_text
    text_space: str  # the generator text encoder's model_id (the embedding space)
    num_prefix_tokens: int = 4  # P
    num_tokens: int = 4  # N
    max_history_tokens: int = 160
    max_lines: int = 24
    # Rescale every output token to this norm (None: as mapped). Real text tokens of the
    # generator's encoder have norms near 9 (MiniLM); tokens far above that take over the
    # cross-attention, so the shipped module is calibrated to them (its model card).
    output_norm: float | None = None

    def __post_init__(self) -> None:
        if self.output_norm is not None and not self.output_norm > 0:
            raise ValueError(f"output_norm must be positive or None, got {self.output_norm!r}")
        for name in ("num_prefix_tokens", "num_tokens", "max_history_tokens", "max_lines"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")

    @classmethod
    def for_llm(
        cls, model: PreTrainedModel, *, llm: str, text_width: int, text_space: str, **extra: Any
    ) -> SoftPromptConfig:
        """Read the LLM's shapes from its config."""
        config: Any = model.config
        heads = int(config.num_attention_heads)
        head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
        return cls(
            llm=llm,
            hidden_size=int(config.hidden_size),
            num_layers=int(config.num_hidden_layers),
            num_kv_heads=int(getattr(config, "num_key_value_heads", None) or heads),
            head_dim=head_dim,
            text_width=text_width,
            text_space=text_space,
            **extra,
        )

    def check_llm(self, model: PreTrainedModel) -> None:
        """Raise ``ValueError`` when ``model`` is not shaped like the LLM this was trained on."""
        other = SoftPromptConfig.for_llm(
            model, llm=self.llm, text_width=self.text_width, text_space=self.text_space
        )
        for name in ("hidden_size", "num_layers", "num_kv_heads", "head_dim"):
            if getattr(other, name) != getattr(self, name):
                raise ValueError(
                    f"the soft-prompt module was trained on {self.llm!r} with {name} "
                    f"{getattr(self, name)}, but the loaded LLM has {getattr(other, name)}"
                )

    def to_json(self) -> dict[str, Any]:
        """Return the config as a JSON object."""
        return asdict(self)


class SoftPromptModule(nn.Module):
    """The trainable part: prefix ``[P, layers, 2, kv_heads, head_dim]``, tokens, mapping."""

    def __init__(self, config: SoftPromptConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.prefix = nn.Parameter(
            torch.zeros(c.num_prefix_tokens, c.num_layers, 2, c.num_kv_heads, c.head_dim)
        )
        self.tokens = nn.Parameter(torch.zeros(c.num_tokens, c.hidden_size))
        self.mapping = nn.Linear(c.hidden_size, c.text_width)
        # A near-zero mapping starts the soft tokens near the zero padding the generator was
        # trained with: training begins from "no personalization", not from noise.
        nn.init.normal_(self.mapping.weight, std=1e-3)
        nn.init.zeros_(self.mapping.bias)

    def prefix_cache(
        self, keys: Sequence[torch.Tensor], values: Sequence[torch.Tensor]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Append the prefix to each layer's history keys / values ``[B, kv, T, hd]``."""
        batch = keys[0].shape[0]
        dtype = keys[0].dtype
        layers = []
        for layer in range(self.config.num_layers):
            # [P, kv, hd] -> [B, kv, P, hd]
            k = self.prefix[:, layer, 0].transpose(0, 1).unsqueeze(0).expand(batch, -1, -1, -1)
            v = self.prefix[:, layer, 1].transpose(0, 1).unsqueeze(0).expand(batch, -1, -1, -1)
            layers.append(
                (
                    torch.cat([keys[layer], k.to(dtype)], dim=2),
                    torch.cat([values[layer], v.to(dtype)], dim=2),
                )
            )
        return layers


@dataclass(frozen=True, eq=False)
class HistoryState:
    """The frozen LLM's cache of one history prompt: per layer ``[kv, T, hd]`` keys and values."""

    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]

    @property
    def length(self) -> int:
        """Number of prompt tokens ``T``."""
        return int(self.keys[0].shape[1])

    def half(self) -> HistoryState:
        """Return an fp16 copy (half the memory of a training set's caches)."""
        return HistoryState(
            tuple(k.half() for k in self.keys), tuple(v.half() for v in self.values)
        )


class HistoryLLM:
    """The frozen causal LLM and its tokenizer: history lines to a prompt and its cache."""

    def __init__(
        self,
        *,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        max_history_tokens: int = 160,
        max_lines: int = 24,
    ) -> None:
        base: Any = getattr(model, "model", model)  # the decoder without its LM head
        self.model: Any = base.eval().requires_grad_(False)
        self.config: Any = model.config
        self.tokenizer = tokenizer
        self.max_history_tokens = max_history_tokens
        self.max_lines = max_lines

    @classmethod
    def from_pretrained(
        cls, folder: str | Path, *, device: torch.device | str = "cpu", **limits: int
    ) -> HistoryLLM:
        """Load a local causal LM folder (the prepared SmolLM2 by default), frozen, fp32."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(folder)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"no language model at {path}: run `pmg models prepare` (or point the "
                "implicit-embedding setting at a local transformers causal LM folder)"
            )
        model: Any = AutoModelForCausalLM.from_pretrained(
            str(path), local_files_only=True, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        return cls(model=model.to(device), tokenizer=tokenizer, **limits)

    @property
    def device(self) -> torch.device:
        """Where the LLM's weights live."""
        return torch.device(next(self.model.parameters()).device)

    def prompt_ids(self, lines: Sequence[str]) -> list[int]:
        """Return the token ids of the history prompt: the newest lines that fit the budget."""
        # 1. Validate: blank lines say nothing.
        texts = [" ".join(str(line).split()) for line in lines]
        texts = [t for t in texts if t][-self.max_lines :]
        if not texts:
            raise ValueError("cannot embed an empty history: pass at least one non-empty line")
        # 2. Newest lines first until the token budget is spent (the oldest are dropped).
        budget = self.max_history_tokens
        kept: list[str] = []
        for text in reversed(texts):
            cost = len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) + 3
            if kept and cost > budget:
                break
            kept.append(text if cost <= budget else self._clip(text, budget))
            budget -= cost
        numbered = "\n".join(f"{i}. {t}" for i, t in enumerate(reversed(kept), start=1))
        # 3. The instruction, framed as the LLM's own chat turns when it has a template.
        user = f"{INSTRUCTION}\n{numbered}\n{QUESTION}"
        if getattr(self.tokenizer, "chat_template", None):
            ids: Any = self.tokenizer.apply_chat_template(
                [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
                add_generation_prompt=True,
                tokenize=True,
            )
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return [int(i) for i in ids]
        text = f"{SYSTEM_PROMPT}\n### Human: {user}\n### Assistant:"
        return [int(i) for i in self.tokenizer(text)["input_ids"]]

    def _clip(self, text: str, budget: int) -> str:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"][: max(budget - 3, 1)]
        return str(self.tokenizer.decode(ids))

    @torch.no_grad()
    def history_state(self, lines: Sequence[str]) -> HistoryState:
        """Run the frozen LLM over the history prompt once and keep its cache."""
        ids = torch.tensor([self.prompt_ids(lines)], device=self.device)
        return self.history_state_of_ids(ids[0].tolist())

    @torch.no_grad()
    def init_module(self, module: SoftPromptModule) -> None:
        """Seed the prefix and the tokens with the LLM's own states of real words."""
        embed = self.model.get_input_embeddings()
        token_ids = [
            self.tokenizer(f" {w}", add_special_tokens=False)["input_ids"][0]
            for w in TOKEN_INIT_WORDS
        ]
        rows = [token_ids[i % len(token_ids)] for i in range(module.config.num_tokens)]
        module.tokens.copy_(embed(torch.tensor(rows, device=self.device)).float().cpu())
        ids = self.tokenizer(PREFIX_INIT_TEXT, add_special_tokens=False)["input_ids"]
        state = self.history_state_of_ids(ids)
        p = module.config.num_prefix_tokens
        for layer in range(module.config.num_layers):
            k = state.keys[layer][:, -p:].transpose(0, 1)  # [P, kv, hd]
            v = state.values[layer][:, -p:].transpose(0, 1)
            if k.shape[0] < p:  # a short seed text repeats
                k = k.repeat(p // k.shape[0] + 1, 1, 1)[:p]
                v = v.repeat(p // v.shape[0] + 1, 1, 1)[:p]
            module.prefix[:, layer, 0].copy_(k.float().cpu())
            module.prefix[:, layer, 1].copy_(v.float().cpu())

    @torch.no_grad()
    def history_state_of_ids(self, ids: Sequence[int]) -> HistoryState:
        """Return the cache of raw token ids (used to seed the prefix)."""
        out = self.model(input_ids=torch.tensor([list(ids)], device=self.device), use_cache=True)
        layers = _cache_of(out).layers
        return HistoryState(
            tuple(layer.keys[0] for layer in layers), tuple(layer.values[0] for layer in layers)
        )

    def soft_tokens(self, module: SoftPromptModule, states: Sequence[HistoryState]) -> torch.Tensor:
        """Return ``[B, N, d_text]`` soft tokens for a batch of histories (grad to ``module``)."""
        from transformers import DynamicCache

        if not states:
            raise ValueError("states must hold at least one history")
        device = self.device
        n = module.config.num_tokens
        p = module.config.num_prefix_tokens
        longest = max(s.length for s in states)
        # 1. Left-pad every history's cache to one length; padding is masked out.
        keys, values, masks = [], [], []
        for layer in range(module.config.num_layers):
            keys.append(torch.stack([_left_pad(s.keys[layer], longest) for s in states]))
            values.append(torch.stack([_left_pad(s.values[layer], longest) for s in states]))
        for s in states:
            masks.append([0] * (longest - s.length) + [1] * (s.length + p + n))
        dtype = torch.float32
        keys = [k.to(device=device, dtype=dtype) for k in keys]
        values = [v.to(device=device, dtype=dtype) for v in values]
        # 2. History keys, then the prefix, as the layers' past; then the N tokens themselves,
        #    at the positions right after each history (the prefix has no position of its own).
        cache = DynamicCache(ddp_cache_data=module.to(device).prefix_cache(keys, values))
        lengths = torch.tensor([s.length for s in states], device=device)
        positions = lengths.unsqueeze(1) + torch.arange(n, device=device).unsqueeze(0)
        batch = len(states)
        inputs = module.tokens.to(device).unsqueeze(0).expand(batch, -1, -1)
        out = self.model(
            inputs_embeds=inputs,
            attention_mask=torch.tensor(masks, device=device),
            position_ids=positions,
            use_cache=True,
            **{_cache_argument(): cache},
        )
        soft: torch.Tensor = module.mapping(out.last_hidden_state)
        if module.config.output_norm is not None:
            norms = soft.norm(dim=-1, keepdim=True).clamp(min=1e-6)
            soft = soft / norms * module.config.output_norm
        return soft


@functools.cache
def _cache_argument() -> str:
    # transformers renamed ``past_key_values`` to ``cache`` (5.x); accept either release.
    import inspect

    from transformers.models.llama.modeling_llama import LlamaModel

    names = inspect.signature(LlamaModel.forward).parameters
    return "cache" if "cache" in names else "past_key_values"


def _cache_of(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def _left_pad(tensor: torch.Tensor, length: int) -> torch.Tensor:
    missing = length - tensor.shape[1]
    if missing == 0:
        return tensor
    pad = tensor.new_zeros(tensor.shape[0], missing, tensor.shape[2])
    return torch.cat([pad, tensor], dim=1)


class SoftPromptEmbedder:
    """``ImplicitEmbedder`` over a trained ``SoftPromptModule`` and its frozen LLM."""

    # The module was trained on whole history windows: a profile update gives it the newest
    # window, not only the lines that are new since the last update.
    reads_full_history = True

    def __init__(
        self, *, module: SoftPromptModule, llm: HistoryLLM, probe: StyleProbe | None = None
    ) -> None:
        module.config.check_llm(llm.model)
        self.module = module.eval().requires_grad_(False)
        self.llm = llm
        self.probe = probe
        self.llm.max_history_tokens = module.config.max_history_tokens
        self.llm.max_lines = module.config.max_lines

    @classmethod
    def load(
        cls, folder: str | Path, *, llm_dir: str | Path, device: torch.device | str = "cpu"
    ) -> SoftPromptEmbedder:
        """Load the module from ``folder`` and its LLM from ``llm_dir``."""
        module = load_module(folder)
        llm = HistoryLLM.from_pretrained(llm_dir, device=device)
        return cls(module=module, llm=llm, probe=StyleProbe.load(Path(folder)))

    @property
    def num_tokens(self) -> int:
        return self.module.config.num_tokens

    @property
    def model_id(self) -> str:
        c = self.module.config
        return f"soft-prompt:{c.llm}:p{c.num_prefix_tokens}n{c.num_tokens}:{c.text_space}"

    @property
    def text_space(self) -> str:
        """The generator text space the tokens live in."""
        return self.module.config.text_space

    def embed(self, lines: Sequence[str]) -> torch.Tensor:
        """Return ``[num_tokens, text_width]`` float32 tokens for ``lines`` (oldest first)."""
        with torch.no_grad():
            state = self.llm.history_state(lines)
            soft = self.llm.soft_tokens(self.module, [state])
        return soft[0].float().cpu()

    def style_guess(self, tokens: torch.Tensor) -> StyleGuess | None:
        """Return the look these tokens say the user prefers, when the module has a probe."""
        if self.probe is None or tokens.shape != (self.num_tokens, self.module.config.text_width):
            return None
        return self.probe.guess(tokens)


def save_module(module: SoftPromptModule, folder: Path, *, half: bool = True) -> None:
    """Write ``config.json`` and the weights (fp16 by default: the shipped file is small)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to(dtype).contiguous().cpu() for k, v in module.state_dict().items()}
    save_file(tensors, str(folder / WEIGHTS_NAME))
    (folder / CONFIG_NAME).write_text(
        json.dumps(module.config.to_json(), indent=2) + "\n", encoding="utf-8"
    )


def load_module(folder: str | Path) -> SoftPromptModule:
    """Read a module written by ``save_module`` (weights back to fp32)."""
    from safetensors.torch import load_file

    path = Path(folder)
    config_file = path / CONFIG_NAME
    if not config_file.is_file() or not (path / WEIGHTS_NAME).is_file():
        raise FileNotFoundError(f"no trained soft-prompt module at {path}")
    config = SoftPromptConfig(**json.loads(config_file.read_text(encoding="utf-8")))
    module = SoftPromptModule(config)
    state = {k: v.float() for k, v in load_file(str(path / WEIGHTS_NAME)).items()}
    module.load_state_dict(state)
    return module
