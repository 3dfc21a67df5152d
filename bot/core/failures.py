"""What the core does with a failure it did not expect: apologise to the user, log it with its chat."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.core import texts
from bot.core.types import ChatRef, Reply, ReplyKind
from storage import NotFoundError

log = logging.getLogger("bot.core.service")
P = ParamSpec("P")
R = TypeVar("R")


def failure_reply(error: Exception, action: str, chat: object = None) -> Reply:
    """The apology for `error` in a user action, logged (with its chat) unless it is expected."""
    if isinstance(error, NotFoundError):  # the photo or chat was deleted meanwhile (/forget, retention)
        return Reply(texts.PHOTO_GONE, ReplyKind.INFO)
    where = f"platform={chat.platform} chat={chat.chat_id}" if isinstance(chat, ChatRef) else ""
    if is_outage(error):  # the database is unreachable: expected, passing, and no bug of ours
        log.warning("%s failed %s: the store is unreachable (%s)", action, where, type(error).__name__)
        return Reply(texts.UNAVAILABLE, ReplyKind.ERROR)
    log.error("%s failed %s", action, where, exc_info=error)
    return Reply(texts.FAILED, ReplyKind.ERROR)


def is_outage(error: BaseException) -> bool:
    """Whether `error` says the store cannot be reached (as opposed to a bug or a bad request)."""
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
    # PoolTimeout: every connection is busy (a burst); the store is there, but not for this request.
    return isinstance(error, ConnectionError | TimeoutError | PoolTimeout)


def replies_on_failure(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | Reply]]:
    """Turn an unexpected failure of a user action into a short apology, logged with its chat.

    The promise of the core: nothing a user sends (or does at the same moment, such as /forget
    while a photo is being described) raises out of it.
    """

    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Reply:
        try:
            return await method(*args, **kwargs)
        except Exception as error:
            return failure_reply(error, method.__name__, args[1] if len(args) > 1 else None)

    return guarded
