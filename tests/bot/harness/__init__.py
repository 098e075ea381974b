"""The Discord test harness: a real ``PMGBot`` logged in against the recorder (DESIGN.md 6).

Interactions and messages are built from gateway payloads and dispatched through discord.py's
own ``ConnectionState.parse_*`` methods, so the real command tree, namespace, view store and
``DynamicItem`` matching run; only the HTTP side is replaced, in ``recorder.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from discord import app_commands

from bot.app import PMGBot
from pmg_engine.service import PMGService
from tests.bot.harness import payloads as p
from tests.bot.harness.recorder import Call, Clock, Recorder, SentFile, http_error

__all__ = [
    "Call",
    "Clock",
    "Dispatched",
    "Harness",
    "Person",
    "Recorder",
    "SentFile",
    "http_error",
    "p",
]


@dataclass(frozen=True)
class Person:
    """A Discord user the tests play."""

    id: int
    name: str
    admin: bool = False

    @property
    def payload(self) -> dict[str, Any]:
        """The user object."""
        return p.user(self.id, self.name)


@dataclass
class Dispatched:
    """A dispatched interaction: its token, to read back what Discord received."""

    harness: Harness
    payload: dict[str, Any]
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def token(self) -> str:
        """The interaction token."""
        return str(self.payload["token"])

    @property
    def id(self) -> int:
        """The interaction id."""
        return int(self.payload["id"])

    def callback(self) -> Call:
        """The first answer (type 4, 5, 6 or 7)."""
        return self.harness.recorder.callback(self.token)

    def original(self) -> dict[str, Any]:
        """The original response as Discord holds it now."""
        return self.harness.recorder.original(self.token)

    def followups(self) -> list[Call]:
        """The follow-up messages."""
        return self.harness.recorder.followups(self.token)

    def ephemeral_text(self) -> str:
        """The text of an ephemeral answer (the response itself, or the first follow-up)."""
        callback = self.callback()
        data = callback.json.get("data") or {}
        if callback.json["type"] == 4:
            assert data.get("flags", 0) & p.EPHEMERAL, "the answer is not ephemeral"
            return str(data.get("content", ""))
        assert callback.json["type"] == 5
        assert data.get("flags", 0) & p.EPHEMERAL, "the deferred answer is not ephemeral"
        followup = self.followups()[0].json
        return str(followup.get("content") or "")


class Harness:
    """Builds the bot, logs it in against the recorder, dispatches payloads to it."""

    def __init__(
        self,
        make_bot: Callable[[], Awaitable[PMGBot]],
        recorder: Recorder,
        clock: Clock,
        snowflakes: p.Snowflakes,
        service: PMGService,
    ) -> None:
        self._make_bot = make_bot
        self.service = service
        self.recorder = recorder
        self.clock = clock
        self.snowflakes = snowflakes
        self.bot: PMGBot | None = None

    @property
    def client(self) -> PMGBot:
        """The running bot."""
        assert self.bot is not None, "the harness is not started"
        return self.bot

    async def start(self) -> PMGBot:
        """Build the bot and log in (``setup_hook`` runs: extensions load, jobs resume)."""
        self.bot = await self._make_bot()
        await self.bot.login("test-token")
        self.bot._connection.parse_guild_create(p.guild(owner_id=1))  # GUILD_CREATE
        return self.bot

    async def stop(self) -> None:
        """Close the bot, then its queue (as the composition root does); rows stay."""
        if self.bot is not None:
            queue = self.bot.deps.queue
            await self.bot.close()
            await queue.close()
            self.bot = None

    async def restart(self) -> PMGBot:
        """Stop the process and start a new one on the same database and files."""
        await self.stop()
        return await self.start()

    async def eventually(self, check: Callable[[], bool]) -> None:
        """Wait (30 s at most) until ``check()`` holds after one of the bot's requests."""
        async with asyncio.timeout(30):
            while not check():
                self.recorder.changed.clear()
                await self.recorder.changed.wait()

    async def settle(self) -> None:
        """Wait for the bot's background work (late deliveries) to finish."""
        await self.client.wait_background()

    # -- dispatch ------------------------------------------------------------------------------

    async def _dispatch(self, parse: Callable[[], None], *, wait: bool) -> list[asyncio.Task[Any]]:
        before = asyncio.all_tasks()
        parse()
        tasks = list(asyncio.all_tasks() - before)
        if wait:
            await asyncio.gather(*tasks)
        return tasks

    def _where(self, person: Person, dm: bool) -> tuple[dict[str, Any], int | None]:
        if dm:
            channel_id = self.recorder.dm_channels.setdefault(
                person.id, self.snowflakes.at(self.clock.now())
            )
            return p.dm_channel(channel_id, person.payload), None
        return p.text_channel(p.CHANNEL_ID), p.GUILD_ID

    def _option_types(self, names: list[str]) -> dict[str, int]:
        command: Any = self.client.tree.get_command(names[0])
        for name in names[1:]:
            command = command.get_command(name)
        assert isinstance(command, app_commands.Command), f"no command {' '.join(names)}"
        return {param.display_name: param.type.value for param in command.parameters}

    async def slash(
        self,
        command: str,
        person: Person,
        options: dict[str, Any] | None = None,
        *,
        dm: bool = False,
        raw_options: list[dict[str, Any]] | None = None,
        resolved: dict[str, Any] | None = None,
        wait: bool = True,
    ) -> Dispatched:
        """Run ``/command`` (``"prefs weight"`` for a subcommand) as Discord would send it."""
        names = command.split()
        if raw_options is None:
            types = self._option_types(names)
            raw_options = [
                {"name": k, "type": types[k], "value": v} for k, v in (options or {}).items()
            ]
        for name in reversed(names[1:]):
            raw_options = [{"name": name, "type": 1, "options": raw_options}]
        channel, guild_id = self._where(person, dm)
        data: dict[str, Any] = {
            "id": str(self.snowflakes.at(self.clock.now())),
            "name": names[0],
            "type": 1,
            "options": raw_options,
        }
        if resolved:
            data["resolved"] = resolved
        payload = p.interaction(
            interaction_id=self.snowflakes.at(self.clock.now()),
            kind=2,
            data=data,
            invoker=person.payload,
            channel=channel,
            guild_id=guild_id,
            admin=person.admin,
        )
        return await self._interact(payload, wait=wait)

    async def draw(
        self,
        person: Person,
        prompt: str,
        *,
        command: str = "sticker",
        dm: bool = False,
        **options: Any,
    ) -> tuple[Dispatched, dict[str, Any]]:
        """Run ``/sticker`` (or ``/image``) to the end; return it and the message it left."""
        dispatched = await self.slash(command, person, {"prompt": prompt, **options}, dm=dm)
        return dispatched, dispatched.original()

    async def press(
        self,
        message: dict[str, Any],
        custom_id: str,
        person: Person,
        *,
        dm: bool = False,
        wait: bool = True,
    ) -> Dispatched:
        """Press the button ``custom_id`` on a message Discord holds."""
        buttons = [c for row in message["components"] for c in row["components"]]
        assert any(b.get("custom_id") == custom_id for b in buttons), f"no button {custom_id}"
        channel, guild_id = self._where(person, dm)
        payload = p.interaction(
            interaction_id=self.snowflakes.at(self.clock.now()),
            kind=3,
            data={"custom_id": custom_id, "component_type": 2},
            invoker=person.payload,
            channel=channel,
            guild_id=guild_id,
            admin=person.admin,
            message_payload=message,
        )
        return await self._interact(payload, wait=wait)

    async def _interact(self, payload: dict[str, Any], *, wait: bool) -> Dispatched:
        self.recorder.register(payload)
        state = self.client._connection
        tasks = await self._dispatch(
            lambda: state.parse_interaction_create(payload),  # type: ignore[arg-type]
            wait=wait,
        )
        return Dispatched(self, payload, tasks)

    async def say(
        self,
        content: str,
        person: Person,
        *,
        dm: bool = False,
        channel_id: int = p.CHANNEL_ID,
        mention_bot: bool = False,
        author_bot: bool = False,
    ) -> dict[str, Any]:
        """Post a message as ``person`` (MESSAGE_CREATE) and wait for the bot's handling."""
        bot_user = self.recorder.bot_user
        if mention_bot:
            content = f"<@{bot_user['id']}> {content}"
        author = p.user(person.id, person.name, bot=author_bot)
        if dm:
            channel_data, _ = self._where(person, dm=True)
            channel_id, guild_id = int(channel_data["id"]), None
        else:
            guild_id = p.GUILD_ID
        payload = p.message(
            message_id=self.snowflakes.at(self.clock.now()),
            channel_id=channel_id,
            author=author,
            content=content,
            timestamp=self.clock.now(),
            guild_id=guild_id,
            author_member=None if dm else p.member(author),
            mentions=[bot_user] if mention_bot else [],
        )
        state = self.client._connection
        await self._dispatch(lambda: state.parse_message_create(payload), wait=True)  # type: ignore[arg-type]
        return payload

    def replies_to(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """Return what the bot posted in answer to ``message`` (its replies)."""
        channel_id = int(message["channel_id"])
        return [
            c.json
            for c in self.recorder.calls
            if c.method == "POST"
            and c.path == f"/channels/{channel_id}/messages"
            and str((c.json.get("message_reference") or {}).get("message_id")) == message["id"]
        ]


def user_payloads(*people: Person) -> dict[int, dict[str, Any]]:
    """Map ids to user objects, for the recorder's DM answers."""
    return {person.id: person.payload for person in people}
