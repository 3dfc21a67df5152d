"""Reading incoming Telegram messages: who sent them, which image they carry, whether they address the bot.

Pure functions over python-telegram-bot objects, so the handlers stay about the conversation and
each rule here (which photo size, which documents count as images, what a mention is) has one home.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from telegram import Chat, Document, Message, MessageEntity, PhotoSize, Update, User

from bot.core.types import ChatRef

PLATFORM = "telegram"
IMAGE_MIME_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})

ImageFile = PhotoSize | Document


def chat_ref(chat: Chat, sender: User | Chat | None) -> ChatRef:
    """History is per chat; rate limits are per sender (a channel posting in a group is its own sender)."""
    return ChatRef(platform=PLATFORM, chat_id=str(chat.id), user_id=str((sender or chat).id))


def message_chat_ref(message: Message) -> ChatRef:
    return chat_ref(message.chat, message.from_user or message.sender_chat)


def update_message(update: Update) -> Message:
    """The update's message; the handlers that call this are registered for messages only."""
    message = update.effective_message
    if message is None:
        raise ValueError("update without a message")
    return message


def is_private(message: Message) -> bool:
    return message.chat.type == Chat.PRIVATE


def has_attachment(message: Message) -> bool:
    """A photo or a document: something the bot would download to look at."""
    return bool(message.photo) or message.document is not None


def image_file(message: Message) -> ImageFile | None:
    """The file to look at: the largest photo size, or a document that is a JPEG, PNG or WebP image."""
    if message.photo:
        return message.photo[-1]  # sizes come smallest first
    document = message.document
    if document is not None and is_image_document(document):
        return document
    return None


def is_image_document(document: Document) -> bool:
    if document.mime_type:
        return document.mime_type.lower() in IMAGE_MIME_TYPES
    return PurePosixPath(document.file_name or "").suffix.lower() in IMAGE_SUFFIXES


def mentions_bot(message: Message, username: str, bot_id: int) -> bool:
    """Whether the text or caption mentions the bot by @username (or by name, as a text mention)."""
    wanted = f"@{username}".lower()
    for entity, text in _entities(message).items():
        if entity.type == MessageEntity.MENTION and text.lower() == wanted:
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == bot_id:
            return True
    return False


def is_command(message: Message) -> bool:
    return any(entity.type == MessageEntity.BOT_COMMAND for entity in _entities(message))


def question_text(message: Message, username: str) -> str:
    """The text or caption with the bot's @username taken out: what the person asks."""
    text = message.text or message.caption or ""
    without = re.sub(rf"(?<!\w)@{re.escape(username)}(?!\w)", " ", text, flags=re.IGNORECASE)
    return " ".join(without.split())


def _entities(message: Message) -> dict[MessageEntity, str]:
    if message.text is not None:
        return message.parse_entities()
    if message.caption is not None:
        return message.parse_caption_entities()
    return {}
