"""Gateway and REST payloads shaped as Discord sends them (API v10), built from plain values."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import discord

APP_ID = 1_100_000_000_000_000_001
GUILD_ID = 1_100_000_000_000_000_002
CHANNEL_ID = 1_100_000_000_000_000_003
OTHER_CHANNEL_ID = 1_100_000_000_000_000_004
ALL_PERMISSIONS = str(discord.Permissions.all().value)
MEMBER_PERMISSIONS = str(discord.Permissions.general().value | discord.Permissions.text().value)
EPHEMERAL = 64


class Snowflakes:
    """Snowflakes whose timestamp is "now" on the harness clock, unique within a run."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def at(self, when: datetime) -> int:
        """Return a new snowflake created at ``when``."""
        return discord.utils.time_snowflake(when) + (next(self._counter) % (1 << 22))


def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    """A user object."""
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name.title(),
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def member(user_payload: dict[str, Any], *, admin: bool = False) -> dict[str, Any]:
    """A guild member object as interactions carry it (with resolved permissions)."""
    return {
        "user": user_payload,
        "nick": None,
        "roles": [],
        "joined_at": "2026-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "permissions": ALL_PERMISSIONS if admin else MEMBER_PERMISSIONS,
    }


def text_channel(channel_id: int, name: str = "general") -> dict[str, Any]:
    """A guild text channel."""
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(GUILD_ID),
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
    }


def dm_channel(channel_id: int, recipient: dict[str, Any]) -> dict[str, Any]:
    """A DM channel."""
    return {"id": str(channel_id), "type": 1, "recipients": [recipient], "last_message_id": None}


def guild(owner_id: int) -> dict[str, Any]:
    """A GUILD_CREATE payload with two text channels."""
    return {
        "id": str(GUILD_ID),
        "name": "Sticker Lovers",
        "icon": None,
        "owner_id": str(owner_id),
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "features": [],
        "roles": [
            {
                "id": str(GUILD_ID),
                "name": "@everyone",
                "permissions": MEMBER_PERMISSIONS,
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "emojis": [],
        "stickers": [],
        "channels": [text_channel(CHANNEL_ID), text_channel(OTHER_CHANNEL_ID, "art")],
        "threads": [],
        "members": [],
        "voice_states": [],
        "presences": [],
        "member_count": 4,
        "large": False,
        "unavailable": False,
        "joined_at": "2026-01-01T00:00:00+00:00",
    }


def attachment(attachment_id: int, filename: str, size: int) -> dict[str, Any]:
    """An attachment object of a stored message."""
    url = f"https://cdn.discordapp.com/attachments/0/{attachment_id}/{filename}"
    return {
        "id": str(attachment_id),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": "image/png" if filename.endswith(".png") else "application/json",
    }


def message(
    *,
    message_id: int,
    channel_id: int,
    author: dict[str, Any],
    content: str = "",
    timestamp: datetime,
    guild_id: int | None = None,
    author_member: dict[str, Any] | None = None,
    mentions: list[dict[str, Any]] | None = None,
    embeds: list[dict[str, Any]] | None = None,
    components: list[dict[str, Any]] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    flags: int = 0,
    application_id: int | None = None,
) -> dict[str, Any]:
    """A message object (MESSAGE_CREATE or a REST answer)."""
    data: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": timestamp.isoformat(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": mentions or [],
        "mention_roles": [],
        "attachments": attachments or [],
        "embeds": embeds or [],
        "components": components or [],
        "pinned": False,
        "type": 0,
        "flags": flags,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if author_member is not None:
        data["member"] = {k: v for k, v in author_member.items() if k != "user"}
    if application_id is not None:
        data["application_id"] = str(application_id)
        data["webhook_id"] = str(application_id)
    return data


def interaction(
    *,
    interaction_id: int,
    kind: int,
    data: dict[str, Any],
    invoker: dict[str, Any],
    channel: dict[str, Any],
    guild_id: int | None,
    admin: bool = False,
    message_payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload (2: application command, 3: component)."""
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(APP_ID),
        "type": kind,
        "data": data,
        "token": f"token-{interaction_id}",
        "version": 1,
        "channel_id": channel["id"],
        "channel": channel,
        "locale": "en-US",
        "app_permissions": ALL_PERMISSIONS,
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        payload["guild_locale"] = "en-US"
        payload["member"] = member(invoker, admin=admin)
        payload["context"] = 0
        payload["authorizing_integration_owners"] = {"0": str(guild_id)}
    else:
        payload["user"] = invoker
        payload["context"] = 1
        payload["authorizing_integration_owners"] = {"0": invoker["id"]}
    if message_payload is not None:
        payload["message"] = message_payload
    return payload
