"""Discord's HTTP side, replaced by a recorder that keeps the exact JSON and files sent.

Both ways discord.py talks to Discord go through here: ``HTTPClient.request`` (bot token:
channel messages, DMs, command sync, login) and ``AsyncWebhookAdapter.request`` (interaction
callbacks, follow-ups, edits of the original response). The recorder answers as Discord would,
including its refusals: a callback later than 3 s (10062), a second callback (40060), a webhook
call after the 15-minute token lifetime (50027), a channel closed to the bot (50013).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
from discord.http import Route

from tests.bot.harness import payloads as p

CALLBACK_DEADLINE = timedelta(seconds=3)
TOKEN_LIFETIME = timedelta(minutes=15)
LOADING = 128


class Clock:
    """The time discord.py sees (``discord.utils.utcnow``); tests move it forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        """Return the current time plus the offset."""
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        """Let ``delta`` pass."""
        self.offset += delta


@dataclass
class SentFile:
    """A file as it was uploaded."""

    filename: str
    data: bytes
    spoiler: bool


@dataclass
class Call:
    """One request discord.py made: route, JSON body, files, and Discord's answer."""

    method: str
    path: str
    url: str
    json: Any
    files: list[SentFile] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    response: Any = None
    token: str | None = None


@dataclass
class Token:
    """What the recorder knows about an interaction token."""

    interaction_id: int
    created_at: datetime
    channel_id: int
    component_message_id: int | None = None
    original_id: int | None = None
    acknowledged: bool = False


class _Response:
    """The bits of an aiohttp response that ``discord.HTTPException`` reads."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        self.headers: dict[str, str] = {}


def http_error(status: int, code: int, text: str) -> discord.HTTPException:
    """Return the exception discord.py raises for Discord's answer ``status`` / ``code``."""
    kind = {403: discord.Forbidden, 404: discord.NotFound}.get(status, discord.HTTPException)
    return kind(_Response(status, text), {"code": code, "message": text})  # type: ignore[arg-type]


class Recorder:
    """Keeps every call and a model of the messages Discord would hold."""

    def __init__(self, clock: Clock, snowflakes: p.Snowflakes, bot_user: dict[str, Any]) -> None:
        self.clock = clock
        self.snowflakes = snowflakes
        self.bot_user = bot_user
        self.calls: list[Call] = []
        self.unexpected: list[Call] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.files: dict[int, dict[str, SentFile]] = {}
        self.tokens: dict[str, Token] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.forbidden_channels: set[int] = set()
        self.dm_channels: dict[int, int] = {}
        self.revoked: set[str] = set()
        self.changed = asyncio.Event()
        # Called after each answered call: lets a test make time pass at a precise moment.
        self.hooks: list[Callable[[Call], None]] = []
        # Asked before each call is answered: an error returned here is Discord's answer.
        self.refusals: list[Callable[[Call], discord.HTTPException | None]] = []

    # -- what the harness tells the recorder ------------------------------------------------

    def register(self, payload: dict[str, Any]) -> None:
        """Remember an interaction token the harness is about to dispatch."""
        component = payload.get("message")
        self.tokens[payload["token"]] = Token(
            interaction_id=int(payload["id"]),
            created_at=discord.utils.snowflake_time(int(payload["id"])),
            channel_id=int(payload["channel_id"]),
            component_message_id=int(component["id"]) if component else None,
        )

    # -- queries for assertions -------------------------------------------------------------

    def original(self, token: str) -> dict[str, Any]:
        """Return the interaction's original response as Discord holds it now."""
        original_id = self.tokens[token].original_id
        assert original_id is not None, "the interaction was never answered"
        return self.messages[original_id]

    def callback(self, token: str) -> Call:
        """Return the interaction's callback (its first answer)."""
        found = [c for c in self.calls if c.token == token and c.path.endswith("/callback")]
        assert found, "the interaction got no callback"
        return found[0]

    def for_token(self, token: str) -> list[Call]:
        """Return every call made with an interaction's token."""
        return [c for c in self.calls if c.token == token]

    def followups(self, token: str) -> list[Call]:
        """Return the follow-up messages sent with an interaction's token."""
        return [c for c in self.for_token(token) if c.method == "POST" and "/webhooks/" in c.path]

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Return the messages Discord accepted in a channel from the bot token, oldest first."""
        path = f"/channels/{channel_id}/messages"
        return [
            c.response
            for c in self.calls
            if c.method == "POST" and c.path == path and c.status == 200
        ]

    def files_of(self, message: dict[str, Any]) -> dict[str, SentFile]:
        """Return the files attached to a stored message, by file name."""
        return self.files.get(int(message["id"]), {})

    # -- the two patched transports ---------------------------------------------------------

    async def http_request(
        self,
        route: Route,
        *,
        files: Any = None,
        form: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Stand in for ``HTTPClient.request``."""
        body = kwargs.get("json")
        if form:
            body = json.loads(next(f["value"] for f in form if f["name"] == "payload_json"))
        call = self._call(route, body, files, kwargs.get("params"))
        return self._answer(call, self._refused(call) or self._http(call, route))

    async def webhook_request(
        self,
        route: Route,
        session: Any = None,
        *,
        payload: Any = None,
        multipart: Any = None,
        files: Any = None,
        params: Any = None,
        **_: Any,
    ) -> Any:
        """Stand in for ``AsyncWebhookAdapter.request``."""
        body = payload
        if multipart:
            body = json.loads(
                next(part["value"] for part in multipart if part["name"] == "payload_json")
            )
        call = self._call(route, body, files, params)
        call.token = route.webhook_token
        return self._answer(call, self._refused(call) or self._webhook(call, route))

    def _call(self, route: Route, body: Any, files: Any, params: Any) -> Call:
        sent = []
        for file in files or []:
            file.reset()
            sent.append(SentFile(file.filename, file.fp.read(), file.spoiler))
        call = Call(route.method, route.url.removeprefix(Route.BASE), route.url, body, sent)
        call.params = dict(params or {})
        self.calls.append(call)
        return call

    def _refused(self, call: Call) -> discord.HTTPException | None:
        for refusal in list(self.refusals):
            error = refusal(call)
            if error is not None:
                return error
        return None

    def _answer(self, call: Call, outcome: Any) -> Any:
        self.changed.set()
        if isinstance(outcome, discord.HTTPException):
            call.status = outcome.status
            call.response = {"code": outcome.code, "message": outcome.text}
            raise outcome
        call.response = copy.deepcopy(outcome)
        for hook in list(self.hooks):
            hook(call)
        return outcome

    # -- Discord's behaviour ----------------------------------------------------------------

    def _http(self, call: Call, route: Route) -> Any:
        method, path = call.method, route.path
        if (method, path) == ("GET", "/users/@me"):
            return self.bot_user
        if (method, path) == ("GET", "/oauth2/applications/@me"):
            return self._app_info()
        if (method, path) == ("POST", "/channels/{channel_id}/messages"):
            channel_id = int(route.channel_id or 0)
            if channel_id in self.forbidden_channels:
                return http_error(403, 50013, "Missing Permissions")
            return self._store(call, channel_id=channel_id)
        if (method, path) == ("POST", "/channels/{channel_id}/typing"):
            return None
        if (method, path) == ("DELETE", "/channels/{channel_id}/messages/{message_id}"):
            self.messages.pop(int(call.path.rsplit("/", 1)[1]), None)
            return None
        if (method, path) == ("POST", "/users/@me/channels"):
            recipient_id = int(call.json["recipient_id"])
            channel_id = self.dm_channels.setdefault(
                recipient_id, self.snowflakes.at(self.clock.now())
            )
            recipient = self.users.get(recipient_id) or p.user(recipient_id, "someone")
            return p.dm_channel(channel_id, recipient)
        if method == "PUT" and path.startswith("/applications/{application_id}"):
            return [
                {
                    **command,
                    "id": str(self.snowflakes.at(self.clock.now())),
                    "application_id": str(p.APP_ID),
                    "version": "1",
                }
                for command in call.json
            ]
        self.unexpected.append(call)
        return http_error(404, 0, f"the recorder does not know {method} {path}")

    def _webhook(self, call: Call, route: Route) -> Any:
        token = self.tokens.get(route.webhook_token or "")
        if token is None:
            self.unexpected.append(call)
            return http_error(401, 50027, "Invalid Webhook Token")
        now = self.clock.now()
        if call.path.endswith("/callback"):
            if now - token.created_at > CALLBACK_DEADLINE:
                return http_error(404, 10062, "Unknown interaction")
            if token.acknowledged:
                return http_error(400, 40060, "Interaction has already been acknowledged.")
            token.acknowledged = True
            return self._callback(call, token)
        if now - token.created_at >= TOKEN_LIFETIME or route.webhook_token in self.revoked:
            return http_error(401, 50027, "Invalid Webhook Token")
        target = call.path.rsplit("/", 1)[1]
        if call.method == "POST":
            return self._store(call, channel_id=token.channel_id, from_app=True)
        message_id = token.original_id if target == "@original" else int(target)
        if message_id is None or message_id not in self.messages:
            return http_error(404, 10008, "Unknown Message")
        if call.method == "GET":
            return self.messages[message_id]
        if call.method == "DELETE":
            del self.messages[message_id]
            return None
        return self._edit(call, message_id)

    def _callback(self, call: Call, token: Token) -> dict[str, Any]:
        kind, data = call.json["type"], call.json.get("data") or {}
        resource: dict[str, Any] | None = None
        if kind in (4, 5):
            flags = data.get("flags", 0) | (LOADING if kind == 5 else 0)
            stored = self._store(call, channel_id=token.channel_id, from_app=True, flags=flags)
            token.original_id = int(stored["id"])
            resource = {"type": kind, "message": stored}
        elif kind in (6, 7):
            token.original_id = token.component_message_id
            if kind == 7 and token.original_id is not None:
                resource = {"type": kind, "message": self._edit(call, token.original_id, data)}
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(token.interaction_id),
                "type": 2,
                "response_message_id": str(token.original_id) if token.original_id else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(data.get("flags", 0) & p.EPHEMERAL),
            }
        }
        if resource is not None:
            answer["resource"] = resource
        return answer

    def _store(
        self,
        call: Call,
        *,
        channel_id: int,
        from_app: bool = False,
        flags: int | None = None,
    ) -> dict[str, Any]:
        body = call.json or {}
        if call.path.endswith("/callback"):
            body = body.get("data") or {}
        message_id = self.snowflakes.at(self.clock.now())
        stored = p.message(
            message_id=message_id,
            channel_id=channel_id,
            author=self.bot_user,
            content=body.get("content") or "",
            timestamp=self.clock.now(),
            embeds=body.get("embeds"),
            components=body.get("components"),
            flags=body.get("flags", 0) if flags is None else flags,
            application_id=p.APP_ID if from_app else None,
        )
        self._attach(stored, call)
        self.messages[message_id] = stored
        return stored

    def _edit(
        self, call: Call, message_id: int, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = call.json if body is None else body
        stored = self.messages[message_id]
        for key in ("content", "embeds", "components"):
            if key in body:
                stored[key] = (
                    body[key] if body[key] is not None else ([] if key != "content" else "")
                )
        stored["flags"] = stored.get("flags", 0) & ~LOADING
        stored["edited_timestamp"] = self.clock.now().isoformat()
        if "attachments" in body:
            self.files[message_id] = {}
            stored["attachments"] = []
            self._attach(stored, call)
        return stored

    def _attach(self, stored: dict[str, Any], call: Call) -> None:
        message_id = int(stored["id"])
        for sent in call.files:
            attachment_id = self.snowflakes.at(self.clock.now())
            stored["attachments"].append(p.attachment(attachment_id, sent.filename, len(sent.data)))
            self.files.setdefault(message_id, {})[sent.filename] = sent

    def _app_info(self) -> dict[str, Any]:
        return {
            "id": str(p.APP_ID),
            "name": "PMG",
            "icon": None,
            "description": "personalized stickers",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.bot_user,
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
        }
