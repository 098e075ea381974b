"""What one training step of the soft-prompt module costs, and why it is shaped the way it is.

Compares, on the prepared SmolLM2 and the shipped generator:
- the history cache (one frozen forward pass over a history prompt, done once per user);
- the module's step as trained: the N multimodal tokens alone through the LLM over the cached
  history + prefix, then the UNet (forward + backward, batch B);
- the alternative it replaces: backpropagating through the whole history prompt (prefix seen by
  every history token), batch B;
and each at 1 and 2 torch threads. Medians over the repeats; the machine is printed first.

    .venv/bin/python benchmarks/implicit_step.py [--batch 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._machine import machine, median_seconds
from pmg_engine.implicit import HistoryLLM, HistoryState, SoftPromptConfig, SoftPromptModule

HISTORY = [
    'User said: "i love the glossy 3d look with soft shading"',
    'User asked for a sticker of "cat face"',
    'User liked a sticker of "koala" with koala',
    'User said: "i\'m really into board games lately"',
    'User said: "just saw a cow today!! 🐄"',
    "User used the emoji cow",
    'User liked a sticker of "game die" with game die',
    'User said: "ok see you later"',
    'User asked for a sticker of "magic wand"',
    'User said: "shiny rounded stickers with gradients are so pretty"',
] * 2


def main() -> None:
    """Print the step figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", type=Path, default=Path("data/models/smollm2-135m-instruct"))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    llm = HistoryLLM.from_pretrained(args.llm, max_history_tokens=160)
    config = SoftPromptConfig.for_llm(llm.model, llm="smollm2", text_width=384, text_space="x")
    module = SoftPromptModule(config)
    llm.init_module(module)
    ids = llm.prompt_ids(HISTORY)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        print(machine())
        state = llm.history_state(HISTORY)
        cache = median_seconds(lambda: llm.history_state(HISTORY), args.repeats)

        def cached_step(state: HistoryState = state) -> None:
            soft = llm.soft_tokens(module, [state] * args.batch)
            soft.pow(2).mean().backward()  # type: ignore[no-untyped-call]

        def full_step() -> None:
            # The prefix in front of the prompt: every history token attends to it, so the
            # whole prompt has to be backpropagated (the reference implementation's shape).
            from transformers import DynamicCache

            empty = [
                (
                    torch.zeros(args.batch, config.num_kv_heads, 0, config.head_dim),
                    torch.zeros(args.batch, config.num_kv_heads, 0, config.head_dim),
                )
            ] * config.num_layers
            cache_layers = module.prefix_cache([k for k, _ in empty], [v for _, v in empty])
            embeds = llm.model.get_input_embeddings()(torch.tensor([ids] * args.batch))
            inputs = torch.cat([embeds, module.tokens.expand(args.batch, -1, -1)], dim=1)
            length = inputs.shape[1] + config.num_prefix_tokens
            out = llm.model(
                inputs_embeds=inputs,
                attention_mask=torch.ones(args.batch, length, dtype=torch.long),
                position_ids=torch.arange(inputs.shape[1]).expand(args.batch, -1),
                cache=DynamicCache(ddp_cache_data=cache_layers),
            )
            module.mapping(out.last_hidden_state[:, -config.num_tokens :]).pow(2).mean().backward()

        step = median_seconds(cached_step, args.repeats)
        full = median_seconds(full_step, max(1, args.repeats // 2))
        print(f"  history prompt: {len(ids)} tokens")
        print(f"  history cache (once per user)            {cache:8.3f} s")
        print(f"  step, cached history (batch {args.batch:3d})        {step:8.3f} s")
        print(f"  step, whole prompt backpropagated ({args.batch:3d})  {full:8.3f} s")
        print(f"  ratio                                     {full / step:8.1f} x")


if __name__ == "__main__":
    main()
