"""The Telegram adapter: python-telegram-bot's `Application` on the shared event loop, over the core.

`is_configured` and `build_adapter` are what the runner calls (`bot.app.runner.PLATFORMS`). `start`
drives PTB's manual lifecycle (initialize, start, then long polling or a webhook) so Telegram shares
the loop with the other platforms; `stop` stops fetching, lets answers in flight finish (the worker is still
running), then shuts down.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from telegram import BotCommand, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.core import texts
from bot.core.errors import ConfigError
from bot.core.service import ChatService
from bot.core.types import ChatRef, Reply
from bot.telegram.config import TelegramConfig
from bot.telegram.forget import FORGET_PATTERN, TelegramForget
from bot.telegram.handlers import TelegramHandlers
from bot.telegram.messages import is_command, is_private, mentions_bot
from bot.telegram.ordering import ChatOrder
from bot.telegram.replies import Responder, retrying, send_text

if TYPE_CHECKING:
    from bot.app.config import Settings

log = logging.getLogger(__name__)

#: The commands Telegram lists in its menu (setMyCommands), with their descriptions.
COMMANDS = (
    ("describe", "Describe the current photo again, in full detail"),
    ("read", "Read out the text in the photo"),
    ("scan", "Look for a QR code or barcode in the photo"),
    ("light", "How much light there is in the photo"),
    ("colour", "The main colours in the photo"),
    ("alt", "A short description to use as alt text"),
    ("detail", "How much I say about a new photo: brief, normal or full"),
    ("voice", "Also send my answers as voice messages: on or off"),
    ("codes", "Tell you about QR codes and barcodes in new photos: on or off"),
    ("lighthints", "Tell you when a photo is too dark, too bright or blurred: on or off"),
    ("colourcheck", "Answer what colour something is by measuring the photo: on or off"),
    ("language", "The language of the text I read, for example eng"),
    ("settings", "Show your settings"),
    ("reset", "Start over with no current photo"),
    ("forget", "Delete everything stored for this chat"),
    ("privacy", "What I store and for how long"),
    ("help", "How to use me"),
)

Context = ContextTypes.DEFAULT_TYPE
Callback = Callable[[Update, Context], Awaitable[None]]

POLL_TIMEOUT_SECONDS = 10  # how long one getUpdates long poll waits for news
STOP_GRACE_SECONDS = 10.0  # on top of the core's request timeout, for answers in flight at a stop
STOPPING_NOTICE_SECONDS = 3.0  # at most this long to tell a user their answer was cut off
MAX_LOGGED_TRACEBACK_CHARS = 4000
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
_ONLY_NEW = filters.UpdateType.MESSAGE  # edits and channel posts are not questions
_OTHER_MEDIA = (
    filters.VIDEO
    | filters.ANIMATION
    | filters.Sticker.ALL
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO_NOTE
)


def is_configured(settings: Settings) -> bool:
    """Whether Telegram is to run (telegram.token is set); checked before the model loads."""
    return settings.telegram.token is not None


def build_adapter(settings: Settings, service: ChatService) -> TelegramAdapter | None:
    """The Telegram adapter, or None when telegram.token is not configured."""
    config = settings.telegram
    if config.token is None:
        return None
    if config.mode == "webhook" and not config.webhook_url:
        raise ConfigError(
            "invalid config value for telegram.webhook_url: required when telegram.mode is webhook"
        )
    return TelegramAdapter(config, service)


def keep_http_logs_quiet() -> None:
    """httpx logs every request URL at INFO, and Bot API URLs contain the token."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


class TelegramAdapter:
    """One bot account; `start` returns once it receives messages, `stop` once it is shut down."""

    name = "telegram"

    def __init__(
        self,
        config: TelegramConfig,
        service: ChatService,
        *,
        poll_timeout_s: int = POLL_TIMEOUT_SECONDS,
        stop_grace_s: float | None = None,
    ) -> None:
        if config.token is None:
            raise ValueError("telegram.token is not set")
        self.config = config
        self.service = service
        self.handlers = TelegramHandlers(service, config)
        self.forget = TelegramForget(service)
        self.poll_timeout_s = poll_timeout_s
        # An answer in flight ends within the core's request timeout; wait that long, and a bit.
        self.stop_grace_s = (
            service.options.request_timeout_s + STOP_GRACE_SECONDS if stop_grace_s is None else stop_grace_s
        )
        self._token = config.token.get_secret_value()
        self._app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._cutting_off = False  # the stop's grace is over: updates still waiting are not started

    @property
    def application(self) -> Application[Any, Any, Any, Any, Any, Any] | None:
        """The running PTB Application (None unless started)."""
        return self._app

    async def start(self) -> None:
        keep_http_logs_quiet()
        self._cutting_off = False
        app = self._build_application()
        try:
            await app.initialize()  # getMe: a wrong token fails here, before anything is running
        except InvalidToken:
            raise ConfigError("invalid config value for telegram.token: Telegram rejected it") from None
        try:
            await self._set_commands(app)
            await app.start()
            if self.config.mode == "webhook":
                await self._start_webhook(app)
            else:
                await app.updater.start_polling(  # type: ignore[union-attr]
                    timeout=self.poll_timeout_s,
                    allowed_updates=ALLOWED_UPDATES,
                    error_callback=self._on_polling_error,
                )
        except BaseException:
            if app.running:
                await app.stop()
            await app.shutdown()
            raise
        self._app = app
        log.info("telegram: @%s receives updates by %s", app.bot.username, self.config.mode)

    async def stop(self) -> None:
        """Stop fetching; let handlers finish within the grace period, else cancel them (they say so)."""
        app, self._app = self._app, None
        if app is None:
            return
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        stopping = asyncio.create_task(app.stop())  # waits for every handler still running
        done, _ = await asyncio.wait({stopping}, timeout=self.stop_grace_s)
        if not done:
            log.warning(
                "telegram: %d answers still running after %.1f s; cancelling",
                len(self._in_flight),
                self.stop_grace_s,
            )
            self._cutting_off = True  # those waiting behind them in their chat are told, not started
            for task in list(self._in_flight):
                task.cancel()
        await stopping
        await app.shutdown()

    async def deliver_late(self, chat: ChatRef, reply: Reply, reply_to: str | None) -> None:
        """Send a reply owed from before a restart (no update to answer): quoting its photo if known."""
        if self._app is None:
            raise RuntimeError("telegram is not running")
        quote = int(reply_to) if reply_to is not None and reply_to.lstrip("-").isdigit() else None
        responder = Responder(self._app.bot, self.service, chat, chat_id=int(chat.chat_id), quote=quote)
        await responder.deliver(reply)

    # -- building --------------------------------------------------------------------------------

    def _build_application(self) -> Application[Any, Any, Any, Any, Any, Any]:
        builder = (
            ApplicationBuilder()
            .token(self._token)
            .base_url(self.config.base_url)
            .base_file_url(self.config.base_file_url)
            # Chats side by side, so one slow answer does not hold up everyone else's; each chat's
            # own updates one after another, so a question never overtakes its photo.
            .concurrent_updates(ChatOrder(self.handlers.albums))
            .rate_limiter(AIORateLimiter(max_retries=3))
        )
        app = builder.build()
        self._register(app)
        return app

    def _register(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        h, tracked = self.handlers, self._tracked
        app.add_handler(TypeHandler(Update, self._gate), group=-1)
        commands: list[tuple[list[str], Callback]] = [
            (["start", "help"], h.on_help),
            (["describe"], h.on_describe),
            (["read"], h.on_read),
            (["scan"], h.on_check("scan")),
            (["light"], h.on_check("light")),
            (["colour", "color"], h.on_check("colour")),
            (["alt"], h.on_alt),
            (["detail"], h.on_setting("detail")),
            (["voice"], h.on_setting("voice")),
            (["codes"], h.on_setting("codes")),
            (["lighthints"], h.on_setting("light_hints")),
            (["colourcheck", "colorcheck"], h.on_setting("colours")),
            (["language"], h.on_setting("ocr_language")),
            (["settings"], h.on_settings),
            (["reset"], h.on_reset),
            (["forget"], self.forget.on_command),
            (["privacy"], h.on_privacy),
        ]
        for names, callback in commands:
            app.add_handler(CommandHandler(names, tracked(callback), filters=_ONLY_NEW))
        app.add_handler(CallbackQueryHandler(tracked(self.forget.on_answer), pattern=FORGET_PATTERN))
        app.add_handler(
            MessageHandler(_ONLY_NEW & (filters.PHOTO | filters.Document.ALL), tracked(h.on_attachment))
        )
        app.add_handler(MessageHandler(_ONLY_NEW & filters.TEXT & ~filters.COMMAND, tracked(h.on_text)))
        private = _ONLY_NEW & filters.ChatType.PRIVATE
        app.add_handler(MessageHandler(private & filters.COMMAND, tracked(h.on_unknown_command)))
        app.add_handler(MessageHandler(private & _OTHER_MEDIA, tracked(h.on_other_media)))
        app.add_error_handler(self._on_error)

    async def _set_commands(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        commands = [BotCommand(name, description) for name, description in COMMANDS]
        try:
            await retrying(lambda: app.bot.set_my_commands(commands))
        except TelegramError as error:  # the menu is a convenience; the commands work without it
            log.warning("telegram: setMyCommands failed (%s)", type(error).__name__)

    async def _start_webhook(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        url = self.config.webhook_url or ""
        await app.updater.start_webhook(  # type: ignore[union-attr]
            listen=self.config.webhook_listen,
            port=self.config.webhook_port,
            url_path=urlsplit(url).path.lstrip("/"),
            webhook_url=url,
            secret_token=self._webhook_secret(),
            allowed_updates=ALLOWED_UPDATES,
        )

    def _webhook_secret(self) -> str:
        """telegram.webhook_secret, else a new one each start: setWebhook hands it to Telegram.

        PTB refuses requests without it (403), so nobody who merely finds the port can post updates
        that claim to come from any chat or user, past telegram.allowed_chats and the admin checks.
        """
        secret = self.config.webhook_secret
        return secret.get_secret_value() if secret is not None else secrets.token_urlsafe(32)

    # -- around every handler --------------------------------------------------------------------

    def _tracked(self, callback: Callback) -> Callback:
        """Run `callback` as an answer in flight: `stop` waits for it, and a cancelled one says so."""

        async def run(update: Update, context: Context) -> None:
            if self._cutting_off:  # it waited its turn through the whole grace period: too late now
                await self._tell(update, context, texts.STOPPING)
                return
            task = asyncio.current_task()
            if task is not None:
                self._in_flight.add(task)
            try:
                await callback(update, context)
            except asyncio.CancelledError:
                await self._tell(update, context, texts.STOPPING)
                raise
            finally:
                self._in_flight.discard(task)  # type: ignore[arg-type]

        return run

    async def _gate(self, update: object, context: Context) -> None:
        """Chats outside telegram.allowed_chats get a polite refusal (when they address the bot)."""
        allowed = self.config.allowed_chats
        if not allowed or not isinstance(update, Update) or update.effective_chat is None:
            return
        if update.effective_chat.id in allowed:
            return
        log.info("telegram: refused chat %s (not in telegram.allowed_chats)", update.effective_chat.id)
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(texts.NOT_ALLOWED)
            elif (message := update.effective_message) is not None and (
                is_private(message)
                or is_command(message)
                or mentions_bot(message, context.bot.username, context.bot.id)
            ):
                await send_text(context.bot, message.chat_id, texts.NOT_ALLOWED, quote=message.message_id)
        except TelegramError as error:
            log.warning("telegram: could not send a refusal (%s)", type(error).__name__)
        raise ApplicationHandlerStop

    async def _on_error(self, update: object, context: Context) -> None:
        """A handler raised: log it without secrets, tell the user, carry on with the next update."""
        error = context.error
        chat_id = update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
        trace = "".join(traceback.format_exception(error)) if error is not None else ""
        log.error(
            "telegram: update failed chat=%s error=%s\n%s",
            chat_id,
            type(error).__name__,
            trace.replace(self._token, "<token>")[-MAX_LOGGED_TRACEBACK_CHARS:],
        )
        if isinstance(update, Update):
            await self._tell(update, context, texts.FAILED)

    async def _tell(self, update: Update, context: Context, text: str) -> None:
        """Best effort, briefly: a notice about a failure must not fail or hang itself."""
        chat, message = update.effective_chat, update.effective_message
        if chat is None:
            return
        quote = message.message_id if message is not None else None
        try:
            await asyncio.wait_for(
                send_text(context.bot, chat.id, text, quote=quote), STOPPING_NOTICE_SECONDS
            )
        except (TelegramError, TimeoutError) as notice_error:
            log.warning("telegram: could not tell chat %s (%s)", chat.id, type(notice_error).__name__)

    @staticmethod
    def _on_polling_error(error: TelegramError) -> None:
        # PTB retries polling with backoff by itself; the message is left out as it may carry a URL.
        log.warning("telegram: polling failed (%s); retrying", type(error).__name__)
