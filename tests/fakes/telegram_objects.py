"""Plain-dict builders for Bot API objects, and the parsing of PTB's request bodies.

Pure functions with no server state, so `telegram_api.FakeTelegram` stays about HTTP and scripting;
shapes follow https://core.telegram.org/bots/api and are checked by PTB's own `de_json` in the self-test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# Parameters the Bot API types as String. PTB sends every other value JSON-encoded in form data, and
# sends strings raw, so decoding `text="123"` as JSON would wrongly turn it into an int.
STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "file_id",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "action",
        "title",
        "performer",
        "description",
        "short_description",
        "name",
        "language_code",
        "emoji",
        "question",
        "business_connection_id",
        "message_effect_id",
    }
)

# What the Bot API delivers when `allowed_updates` is empty or was never set.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Telegram parses these server-side, so a real client never sends them as explicit entities.
_USERNAME = r"[A-Za-z][A-Za-z0-9_]{3,31}"
_COMMAND_RE = re.compile(rf"(?<![\w/])/[A-Za-z0-9_]{{1,32}}(?:@{_USERNAME})?(?!\w)")
_MENTION_RE = re.compile(rf"(?<![\w@])@{_USERNAME}(?!\w)")


@dataclass(frozen=True)
class UploadedFile:
    """A file the bot uploaded in a multipart request (sendVoice, sendDocument, ...)."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class StoredFile:
    """A file the fake can serve: `file_size` may claim more than `len(data)` to test size limits."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_size: int

    def as_file(self) -> dict[str, Any]:
        """The Bot API `File` object returned by getFile (the path is relative, as in the real API)."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }

    def as_reference(self) -> dict[str, Any]:
        """The fields every file-like object (PhotoSize, Document, Voice...) starts with."""
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": self.file_size}


def utf16_len(text: str) -> int:
    """Entity offsets and lengths count UTF-16 code units, not Python characters."""
    return len(text.encode("utf-16-le")) // 2


def detect_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command and mention entities the Telegram server would attach to `text`."""
    found = [(m.start(), m.end(), "bot_command") for m in _COMMAND_RE.finditer(text)]
    found += [(m.start(), m.end(), "mention") for m in _MENTION_RE.finditer(text)]
    # A command's "@bot" suffix is part of the command, not a separate mention.
    found = [f for f in found if not any(o != f and o[0] <= f[0] < o[1] for o in found)]
    return [
        {"type": kind, "offset": utf16_len(text[:start]), "length": utf16_len(text[start:end])}
        for start, end, kind in sorted(found)
    ]


def user(user_id: int) -> dict[str, Any]:
    """A human user with predictable names derived from the id."""
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": f"User{user_id}",
        "username": f"user{user_id}",
        "language_code": "en",
    }


def bot_user(bot_id: int, username: str) -> dict[str, Any]:
    """The bot's own `User`, as getMe returns it (privacy mode on, like a fresh BotFather bot)."""
    return {
        "id": bot_id,
        "is_bot": True,
        "first_name": "Blipbot Test",
        "username": username,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def chat(chat_id: int, chat_type: str, sender: dict[str, Any]) -> dict[str, Any]:
    """A `Chat`: private chats carry the user's names, groups a title."""
    if chat_type == "private":
        return {
            "id": chat_id,
            "type": "private",
            "first_name": sender["first_name"],
            "username": sender.get("username"),
        }
    if chat_type in ("group", "supergroup", "channel"):
        return {"id": chat_id, "type": chat_type, "title": f"Test {chat_type} {chat_id}"}
    raise ValueError(f"chat_type must be private, group, supergroup or channel, not {chat_type!r}")


#: getChatMember statuses the fake answers, as the Bot API spells them ("creator" is the owner).
MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "restricted", "left", "kicked"})
_ADMIN_RIGHTS = (
    "can_be_edited", "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
    "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users",
    "can_post_stories", "can_edit_stories", "can_delete_stories",
)  # fmt: skip
_MEMBER_RIGHTS = (
    "can_change_info", "can_invite_users", "can_pin_messages", "can_send_messages", "can_send_polls",
    "can_send_other_messages", "can_add_web_page_previews", "can_manage_topics", "can_send_audios",
    "can_send_documents", "can_send_photos", "can_send_videos", "can_send_video_notes",
    "can_send_voice_notes", "can_edit_tag", "can_react_to_messages",
)  # fmt: skip


def chat_member(member: dict[str, Any], status: str) -> dict[str, Any]:
    """A `ChatMember` of each status with the fields the Bot API always sends for it."""
    if status not in MEMBER_STATUSES:
        raise ValueError(f"status must be one of {sorted(MEMBER_STATUSES)}, not {status!r}")
    found: dict[str, Any] = {"status": status, "user": member}
    if status in ("creator", "administrator"):
        found["is_anonymous"] = False
    if status == "administrator":
        found.update(dict.fromkeys(_ADMIN_RIGHTS, True), can_be_edited=False)
    if status == "restricted":
        found.update(dict.fromkeys(_MEMBER_RIGHTS, False), is_member=True, until_date=0)
    if status == "kicked":
        found["until_date"] = 0
    return found


def photo_sizes(large: StoredFile, small: list[StoredFile], width: int, height: int) -> list[dict[str, Any]]:
    """PhotoSize entries in increasing size, as Telegram sends them; the last is `large`."""
    sizes = []
    for file, side in zip(small, (90, 320, 800), strict=False):
        scale = side / max(width, height)
        sizes.append({**file.as_reference(), "width": round(width * scale), "height": round(height * scale)})
    sizes.append({**large.as_reference(), "width": width, "height": height})
    return sizes


def update_kind(update: dict[str, Any]) -> str:
    """The name of the one optional field an Update carries ("message", "callback_query", ...)."""
    return next(key for key in update if key != "update_id")


def decode_form_value(name: str, value: str) -> Any:
    """Undo PTB's encoding of a form field: JSON for everything except String parameters."""
    if name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # a chat_id like "@channel", a file_id or a URL


def error_body(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    """The Bot API's error envelope; `parameters` carries retry_after or migrate_to_chat_id."""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body
