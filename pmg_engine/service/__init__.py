"""The PMG service: behaviour in, personalized stickers out (bot, local chat and worker)."""

from pmg_engine.service._render import NoGeneratorError
from pmg_engine.service._service import GenerationFailed, PMGService, result_of
from pmg_engine.service._types import (
    ChatTurn,
    EngineModels,
    GenerationRequest,
    GenerationResult,
    ProfileUpdate,
    Progress,
    ServiceConfig,
    local_user_id,
)
from pmg_engine.states import JobStatus, Kind

__all__ = [
    "ChatTurn",
    "EngineModels",
    "GenerationFailed",
    "GenerationRequest",
    "GenerationResult",
    "JobStatus",
    "Kind",
    "NoGeneratorError",
    "PMGService",
    "ProfileUpdate",
    "Progress",
    "ServiceConfig",
    "local_user_id",
    "result_of",
]
