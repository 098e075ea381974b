"""Repository functions: small, keyword-only, one statement of intent each (STYLE.md 10).

They flush but never commit: the caller owns the transaction.
"""

from pmg_engine.db.repo._channels import (
    chat_enabled_channels,
    generations_since,
    set_channel_chat,
)
from pmg_engine.db.repo._checks import SNOWFLAKE_MAX
from pmg_engine.db.repo._history import (
    add_behaviour,
    add_message,
    behaviours_after,
    latest_behaviour_id,
    recent_messages,
)
from pmg_engine.db.repo._jobs import (
    create_generation,
    get_generation,
    record_feedback,
    user_generation_ids,
)
from pmg_engine.db.repo._profiles import (
    embedding_from_bytes,
    embedding_to_bytes,
    latest_profile,
    profile_history,
    save_profile,
)
from pmg_engine.db.repo._training import LikedExample, liked_examples
from pmg_engine.db.repo._users import (
    MAX_KEYWORD_CHARS,
    clear_keyword_rules,
    get_settings,
    get_user,
    list_keyword_rules,
    list_users,
    normalise_keyword,
    require_user,
    set_keyword_rule,
    set_learning_opt_in,
    set_personalization_weight,
    set_share_keywords,
    upsert_user,
)

__all__ = [
    "MAX_KEYWORD_CHARS",
    "SNOWFLAKE_MAX",
    "LikedExample",
    "add_behaviour",
    "add_message",
    "behaviours_after",
    "chat_enabled_channels",
    "clear_keyword_rules",
    "create_generation",
    "embedding_from_bytes",
    "embedding_to_bytes",
    "generations_since",
    "get_generation",
    "get_settings",
    "get_user",
    "latest_behaviour_id",
    "latest_profile",
    "liked_examples",
    "list_keyword_rules",
    "list_users",
    "normalise_keyword",
    "profile_history",
    "recent_messages",
    "record_feedback",
    "require_user",
    "save_profile",
    "set_channel_chat",
    "set_keyword_rule",
    "set_learning_opt_in",
    "set_personalization_weight",
    "set_share_keywords",
    "upsert_user",
    "user_generation_ids",
]
