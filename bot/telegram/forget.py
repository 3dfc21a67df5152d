"""/forget on Telegram: asked first, with buttons only the asker can press; in a group, for admins only.

A group has one history, everyone's photos and questions, so /forget there acts for every member:
only the group's admins (creator or administrator, by getChatMember) may ask for it or confirm it.
Both steps check, as the buttons may be pressed long after the question, by someone whose rights
have changed since. A private chat is the person's own and needs no check. An anonymous admin
posts as the group itself: Telegram allows only admins that, so it counts as an admin, and then
any admin may answer the buttons (the bot cannot tell which admin asked).
"""

from __future__ import annotations

import logging
import re

from telegram import (
    Bot,
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.core import texts
from bot.core.service import ChatService
from bot.telegram.messages import chat_ref, is_private, update_message
from bot.telegram.replies import reply_to, retrying, send_text

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE

#: The buttons' data: the choice and who may make it (a user id, or the group's id for any admin).
FORGET_PATTERN = re.compile(r"^forget:(yes|no):(-?\d+)$")
ADMIN_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})


async def is_group_admin(bot: Bot, chat_id: int, user_id: int) -> bool:
    """Whether the user is the group's creator or an administrator, as Telegram says right now."""
    try:
        member = await retrying(lambda: bot.get_chat_member(chat_id, user_id))
    except BadRequest as error:  # "user not found" and the like: not a member, so not an admin
        log.info("telegram: getChatMember refused in chat %s (%s)", chat_id, error.message)
        return False
    return member.status in ADMIN_STATUSES


def posted_as_group(message: Message) -> bool:
    """An anonymous admin's message: sent as the group itself, which only admins can do."""
    return message.sender_chat is not None and message.sender_chat.id == message.chat_id


class TelegramForget:
    """The /forget command and its Yes and No buttons."""

    def __init__(self, service: ChatService) -> None:
        self.service = service

    async def on_command(self, update: Update, context: Context) -> None:
        """Ask first: the buttons carry who may answer them, so nobody else can confirm."""
        message = update_message(update)
        if not await self._may_ask(context.bot, message):
            await reply_to(context.bot, message, texts.FORGET_ADMINS_ONLY)
            return
        user = message.from_user
        asker = user.id if user is not None and not posted_as_group(message) else message.chat_id
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(texts.FORGET_YES, callback_data=f"forget:yes:{asker}"),
                    InlineKeyboardButton(texts.FORGET_NO, callback_data=f"forget:no:{asker}"),
                ]
            ]
        )
        await send_text(
            context.bot, message.chat_id, texts.FORGET_CONFIRM, quote=message.message_id, keyboard=keyboard
        )

    async def on_answer(self, update: Update, context: Context) -> None:
        """A button: deletes on Yes from the asker, who must still be an admin in a group."""
        query = update.callback_query
        if query is None or query.message is None:
            return
        match = FORGET_PATTERN.match(query.data or "")
        if match is None:
            return
        choice, asker = match.groups()
        chat = query.message.chat
        refusal = await self._refusal(context.bot, chat, query.from_user, asker, choice)
        if refusal is not None:
            await _answer(query, refusal, alert=True)
            return
        await _answer(query)
        reply = await self.service.forget(chat_ref(chat, query.from_user)) if choice == "yes" else None
        text = reply.text if reply is not None else texts.FORGET_CANCELLED
        try:  # the question becomes the outcome, and its buttons go
            await retrying(lambda: query.edit_message_text(text))
        except TelegramError as error:
            log.info("could not edit the /forget question (%s); sending the outcome", type(error).__name__)
            await send_text(context.bot, chat.id, text)

    @staticmethod
    async def _may_ask(bot: Bot, message: Message) -> bool:
        if is_private(message) or posted_as_group(message):
            return True
        user = message.from_user
        return user is not None and await is_group_admin(bot, message.chat_id, user.id)

    @staticmethod
    async def _refusal(bot: Bot, chat: Chat, presser: User, asker: str, choice: str) -> str | None:
        """Why this person may not press this button now, or None if they may."""
        for_any_admin = asker == str(chat.id)  # asked by an anonymous admin
        if not for_any_admin and str(presser.id) != asker:
            return texts.FORGET_NOT_YOURS
        if chat.type == Chat.PRIVATE or (choice == "no" and not for_any_admin):
            return None
        return None if await is_group_admin(bot, chat.id, presser.id) else texts.FORGET_ADMINS_ONLY


async def _answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Stop the button's spinner; best effort, as the answer may come after Telegram stopped waiting.

    A button pressed while the chat's earlier messages are still being answered waits its turn,
    and Telegram refuses answers to a query after a while; the deletion must not fail for that.
    """
    try:
        await query.answer(text, show_alert=alert)
    except TelegramError as error:
        log.info("could not answer a button press (%s)", type(error).__name__)
