"""⚖ compare: the same prompt and seed at weight 0 and at the user's weight, side by side."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from typing import TYPE_CHECKING

import discord

from bot.errors import sentence
from bot.exts.generate._jobs import JobRunner, Post
from bot.images import side_by_side
from bot.render import compare_embed
from pmg_engine.errors import PMGError
from pmg_engine.queue import JobHandle
from pmg_engine.service import GenerationRequest, Kind

if TYPE_CHECKING:
    from pmg_engine.service import GenerationView

ORDER = {"allow": 0, "spoiler": 1, "refuse": 2}


async def compare(
    runner: JobRunner, interaction: discord.Interaction, parent: GenerationView
) -> None:
    """Draw ``parent``'s prompt with its seed twice, without and with the presser's taste."""
    deps, user = runner.deps, interaction.user
    prefs = await deps.service.users.ensure(user_id=user.id, name=user.name)
    requests = [
        GenerationRequest(
            user_id=user.id,
            user_name=user.name,
            prompt=parent.prompt or None,
            kind=Kind(parent.kind),
            personalization_weight=weight,
            seed=parent.seed,
            parent_id=parent.generation_id,
            job_key=f"discord-{interaction.id}-{suffix}",
            channel_id=interaction.channel_id,
            guild_id=interaction.guild_id,
        )
        for suffix, weight in (("plain", 0.0), ("mine", prefs.personalization_weight))
    ]
    admitted = [await runner.admit(r) for r in requests]
    used = admitted[-1][1]
    with deps.limiter.slot(user.id, used_today=used, cost=len(requests)):
        await interaction.response.defer(thinking=True)
        handles: list[JobHandle] = []
        try:
            for r, _ in admitted:
                handles.append(await deps.queue.submit(r))
            await runner.show(interaction, "⚖️ Drawing both versions…")
            plain, mine = await asyncio.gather(
                *(runner.follow(None, h.generation_id, ahead=h.position) for h in handles)
            )
        except PMGError as error:
            await runner.post(
                interaction,
                Post(
                    f"⚠️ {sentence(str(error))}",
                    delivers=tuple(h.generation_id for h in handles),
                ),
                channel_id=interaction.channel_id,
                user_id=user.id,
            )
            return
        verdicts = [await deps.safety.judge(r) for r in (plain, mine)]
        worst = max(verdicts, key=lambda v: ORDER[v.action])
        show_taste = await deps.service.users.shows_taste(
            user_id=user.id, in_dm=interaction.guild_id is None
        )
        delivers = (plain.generation_id, mine.generation_id)
        if worst.action == "refuse":
            post = replace(runner.result_post(mine, worst, user.id), delivers=delivers)
        else:
            labels = ("weight 0", f"weight {mine.personalization_weight:.2f}")
            data = await asyncio.to_thread(
                side_by_side, plain.output_path, mine.output_path, labels=labels
            )
            spoiler = worst.action == "spoiler"
            name = f"compare-{plain.generation_id}-{mine.generation_id}.png"
            post = Post(
                f"⚠️ Behind a spoiler: {worst.reason}." if spoiler else None,
                compare_embed(plain, mine, show_taste=show_taste),
                lambda: [discord.File(io.BytesIO(data), filename=name, spoiler=spoiler)],
                delivers=delivers,
            )
        await runner.post(interaction, post, channel_id=interaction.channel_id, user_id=user.id)
        if not show_taste and worst.action != "refuse":
            await runner.tell_taste(interaction, mine)
