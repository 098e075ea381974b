"""One picture request from Discord: admit, defer, queue, show progress, deliver (or post late).

Delivery is an outbox (DESIGN.md section 4): a finished job from Discord is owed to its user
until a send succeeds and the row records it. The deferred reply is edited when it can be;
any failure of that edit (an expired token, any HTTP error, a file that cannot be read) falls
back to a post in the channel or a DM, and the row notes why. At start, the bot delivers what
it still owes, whether it finished while the bot was down or is still pending.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import Refused, sentence
from bot.render import notice, progress_text, result_embed, taste_note
from bot.safety import Verdict
from pmg_engine.errors import PMGError
from pmg_engine.queue import JobCancelled, JobEvent, JobFailed

if TYPE_CHECKING:
    from bot.app import PMGBot
    from pmg_engine.queue.jobs import Owed
    from pmg_engine.service import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)
# Discord's answers when an interaction token is no longer valid (it lives 15 minutes).
TOKEN_GONE_CODES = frozenset({10015, 50027})
NO_GENERATOR = "I can't draw yet: no image generator is configured."
REFUSED_OUTPUT = "🚫 I drew it, but it did not pass the safety check, so I won't post it."


@dataclass
class Post:
    """A message to send or edit; files are made fresh for each attempt (they are single-use)."""

    content: str | None
    embed: discord.Embed | None = None
    files: Callable[[], list[discord.File]] = field(default=list)
    view: discord.ui.View | None = None
    # The generations this message delivers (none for a refusal that made no job).
    delivers: tuple[int, ...] = ()


def token_gone(error: discord.HTTPException) -> bool:
    """Return whether Discord refused a request because the interaction token expired."""
    return error.status == 401 or error.code in TOKEN_GONE_CODES


class JobRunner:
    """Runs picture requests for the generate cog, its buttons and the chat's sticker offer."""

    def __init__(self, bot: PMGBot, *, result_view: Callable[[int], discord.ui.View]) -> None:
        self.bot = bot
        self.deps = bot.deps
        self.result_view = result_view

    # -- the request flow ------------------------------------------------------------------------

    async def admit(self, request: GenerationRequest) -> tuple[GenerationRequest, int]:
        """Validate a request before deferring, so that every refusal is ephemeral."""
        if not self.deps.can_draw:
            raise Refused(NO_GENERATOR)
        self.deps.blocklist.check_prompt(request.prompt)
        request = self.deps.service.validate(request)
        used = await self.deps.service.users.usage_today(user_id=request.user_id)
        return request, used

    async def request(self, interaction: discord.Interaction, request: GenerationRequest) -> None:
        """Answer ``/sticker``, ``/image``, 🔁 and the sticker offer: one picture, end to end."""
        request, used = await self.admit(request)
        with self.deps.limiter.slot(request.user_id, used_today=used):
            await interaction.response.defer(thinking=True)
            delivers: tuple[int, ...] = ()
            try:
                handle = await self.deps.queue.submit(request)
                delivers = (handle.generation_id,)
                event = JobEvent(handle.generation_id, "queued", position=handle.position)
                shown = progress_text(event)
                await self.show(interaction, shown)
                result = await self.follow(
                    interaction, handle.generation_id, shown=shown, ahead=handle.position
                )
            except PMGError as error:
                await self.post(
                    interaction,
                    Post(f"⚠️ {sentence(str(error))}", delivers=delivers),
                    channel_id=request.channel_id,
                    user_id=request.user_id,
                )
                return
            show_taste = await self.deps.service.users.shows_taste(
                user_id=request.user_id, in_dm=interaction.guild_id is None
            )
            verdict = await self.deps.safety.judge(result)
            post = self.result_post(result, verdict, request.user_id, show_taste=show_taste)
            await self.post(
                interaction, post, channel_id=request.channel_id, user_id=request.user_id
            )
            if not show_taste and verdict.action != "refuse":
                await self.tell_taste(interaction, result)
        await self.maybe_notice(interaction, request.user_id)

    async def tell_taste(self, interaction: discord.Interaction, result: GenerationResult) -> None:
        """Tell the owner alone (ephemerally) which of their tastes a public picture used."""
        note = taste_note(result)
        if note is None or interaction.is_expired():
            return
        try:
            await interaction.followup.send(note, ephemeral=True)
        except discord.HTTPException:
            log.info("could not tell %s their taste", interaction.user.id)

    async def follow(
        self,
        interaction: discord.Interaction | None,
        generation_id: int,
        *,
        shown: str | None = None,
        ahead: int = 0,
    ) -> GenerationResult:
        """Wait for the result, editing the message with the job's progress meanwhile.

        The wait is bounded by the queue's per-job timeout for this job and each one ahead.
        """
        waiter = asyncio.ensure_future(self.deps.queue.result(generation_id))
        progress = (
            asyncio.create_task(self._progress(interaction, generation_id, shown))
            if interaction is not None
            else None
        )
        try:
            async with asyncio.timeout(self.deps.job_timeout_s * (1 + max(ahead, 0))):
                return await waiter
        except TimeoutError:
            raise JobFailed("the picture took too long to make; please try again later") from None
        finally:
            waiter.cancel()
            if progress is not None:
                progress.cancel()
                (outcome,) = await asyncio.gather(progress, return_exceptions=True)
                if isinstance(outcome, Exception):
                    log.warning("progress updates of %s failed", generation_id, exc_info=outcome)

    async def _progress(
        self, interaction: discord.Interaction, generation_id: int, shown: str | None
    ) -> None:
        interval = self.deps.settings.progress_edit_interval_s
        loop = asyncio.get_running_loop()
        last = loop.time() if shown is not None else -float("inf")
        async for event in self.deps.queue.events(generation_id):
            text = progress_text(event)
            if event.final or text is None:
                return
            if text == shown or interaction.is_expired() or loop.time() - last < interval:
                continue
            last, shown = loop.time(), text
            await self.show(interaction, text)

    async def show(self, interaction: discord.Interaction, text: str | None) -> None:
        """Edit the deferred message to ``text``; progress is best effort."""
        if text is None or interaction.is_expired():
            return
        try:
            await interaction.edit_original_response(content=text)
        except discord.HTTPException as error:
            log.debug("progress edit failed: %s", error)

    # -- delivery --------------------------------------------------------------------------------

    def result_post(
        self,
        result: GenerationResult,
        verdict: Verdict,
        requester_id: int,
        *,
        show_taste: bool = False,
    ) -> Post:
        """Return the message that shows a result, as the safety verdict and privacy allow."""
        if verdict.action == "refuse":
            return Post(REFUSED_OUTPUT, delivers=(result.generation_id,))
        spoiler = verdict.action == "spoiler"

        def files() -> list[discord.File]:
            if not result.output_path.is_file():
                raise JobFailed("the picture's file is missing; please draw it again")
            name = f"{result.kind}-{result.generation_id}.png"
            return [discord.File(result.output_path, filename=name, spoiler=spoiler)]

        return Post(
            f"⚠️ Behind a spoiler: {verdict.reason}." if spoiler else None,
            result_embed(result, requester_id=requester_id, show_taste=show_taste),
            files,
            self.result_view(result.generation_id),
            delivers=(result.generation_id,),
        )

    async def post(
        self,
        interaction: discord.Interaction | None,
        post: Post,
        *,
        channel_id: int | None,
        user_id: int,
    ) -> None:
        """Edit the interaction's message; if that fails in any way, post in the channel or DM."""
        if interaction is None or interaction.is_expired():
            why = "the interaction token expired"
        else:
            try:
                await interaction.edit_original_response(
                    content=post.content,
                    embed=post.embed,
                    attachments=post.files(),
                    view=post.view,
                )
            except discord.HTTPException as error:
                why = (
                    "the interaction token expired"
                    if token_gone(error)
                    else f"the edit failed: HTTP {error.status} (code {error.code})"
                )
                log.info("interaction %s: %s; posting the result late", interaction.id, why)
            except Exception as error:
                # A file that cannot be read, or anything else: the picture still goes out.
                why = f"the edit failed: {type(error).__name__}"
                log.warning("interaction %s: %s; posting late", interaction.id, why, exc_info=True)
            else:
                await self._record(post, delivered=True, note="edited the reply")
                return
        await self.send_late(post, channel_id=channel_id, user_id=user_id, why=why)

    async def send_late(
        self, post: Post, *, channel_id: int | None, user_id: int, why: str
    ) -> None:
        """Post late and record it; a failed post stays owed, for the next start to retry."""
        try:
            where = await self.post_late(post, channel_id=channel_id, user_id=user_id)
        except Exception as error:
            log.warning("could not deliver %s to %s", post.delivers, user_id, exc_info=True)
            note = f"{why}; the late post failed too: {type(error).__name__}"
            await self._record(post, delivered=False, note=note)
            return
        await self._record(post, delivered=True, note=f"{why}; posted late {where}")

    async def post_late(self, post: Post, *, channel_id: int | None, user_id: int) -> str:
        """Post in the request's channel, or by DM when the channel refuses; return where.

        A file that cannot be read is left out and the message says so, rather than the
        user hearing nothing.
        """
        content = f"<@{user_id}> {post.content or 'your picture is ready.'}"
        extra: dict[str, Any] = {}
        if post.embed is not None:
            extra["embed"] = post.embed
        if post.view is not None:
            extra["view"] = post.view
        try:
            for probe in post.files():
                probe.close()
        except (PMGError, OSError) as error:
            content = f"<@{user_id}> ⚠️ {sentence(str(error))}"
            post = Post(content, post.embed, list, post.view, post.delivers)
            missing = " without its file"
        else:
            missing = ""
        if channel_id is not None:
            channel = self.bot.get_partial_messageable(channel_id)
            mentions = discord.AllowedMentions(users=[discord.Object(id=user_id)])
            try:
                await channel.send(content, files=post.files(), allowed_mentions=mentions, **extra)
                return f"in the channel{missing}"
            except discord.HTTPException as error:
                log.info("cannot post in channel %s (%s); sending a DM", channel_id, error)
        dm = await self.bot.create_dm(discord.Object(id=user_id))
        await dm.send(content, files=post.files(), **extra)
        return f"by DM{missing}"

    async def _record(self, post: Post, *, delivered: bool, note: str) -> None:
        """Write how the post went onto the rows it delivers (best effort: it was sent)."""
        queue = self.deps.queue
        for generation_id in post.delivers:
            try:
                if delivered:
                    await queue.mark_delivered(generation_id, note=note)
                else:
                    await queue.note_delivery(generation_id, note=note)
            except Exception:
                # The user has it (or will get it at the next start); only the record is late.
                log.warning("could not record the delivery of %s", generation_id, exc_info=True)

    async def deliver_owed(self) -> None:
        """At start: resume pending jobs and deliver every result still owed, each once."""
        pending = await self.deps.queue.resume_pending()
        for owed in await self.deps.queue.owed():
            ahead = pending.index(owed.generation_id) if owed.generation_id in pending else 0
            self.bot.spawn(
                self.deliver_late(owed, ahead=ahead), name=f"deliver-late-{owed.generation_id}"
            )

    async def deliver_late(self, owed: Owed, *, ahead: int = 0) -> None:
        """Deliver a job this process did not answer: wait while it is pending, then post late."""
        try:
            result = await self.follow(None, owed.generation_id, ahead=ahead)
        except JobCancelled:
            return  # cancelled by its user or an admin: nothing is owed
        except PMGError as error:
            post = Post(
                f"⚠️ Your picture could not be made: {sentence(str(error))}",
                delivers=(owed.generation_id,),
            )
        else:
            show_taste = await self.deps.service.users.shows_taste(
                user_id=owed.user_id, in_dm=owed.guild_id is None
            )
            verdict = await self.deps.safety.judge(result)
            post = self.result_post(result, verdict, owed.user_id, show_taste=show_taste)
        await self.send_late(
            post, channel_id=owed.channel_id, user_id=owed.user_id, why="the bot restarted"
        )

    async def maybe_notice(self, interaction: discord.Interaction, user_id: int) -> None:
        """Send the privacy notice ephemerally the first time a user gets an answer."""
        users = self.deps.service.users
        if not await users.take_notice(user_id=user_id):
            return
        prefs = await users.prefs(user_id=user_id)
        try:
            await interaction.followup.send(notice(learning=prefs.learning_opt_in), ephemeral=True)
        except discord.HTTPException:
            log.info("could not send the notice to %s", user_id)
