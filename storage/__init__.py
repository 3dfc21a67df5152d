"""Persistence for blipbot: chats, their photos, the answers given, and settings.

The rest of the app uses `Store` and the dataclasses it returns; models and migrations stay inside.
"""

from storage.files import FileRecord, FileStore
from storage.ledger import OwedReply, ReplyLedger
from storage.predictions import PredictionRecord, PredictionStatus, PredictionStore
from storage.records import Exchange, NotFoundError, StoredImage, TurnKind
from storage.store import Store

__all__ = [
    "Exchange",
    "FileRecord",
    "FileStore",
    "NotFoundError",
    "OwedReply",
    "PredictionRecord",
    "PredictionStatus",
    "PredictionStore",
    "ReplyLedger",
    "Store",
    "StoredImage",
    "TurnKind",
]
