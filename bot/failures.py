"""What the core does with a failure it did not expect: apologise to the user, log it with its chat."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from bot import texts
from bot.types import ChatRef, Reply, ReplyKind
from storage import NotFoundError

log = logging.getLogger("bot.service")
P = ParamSpec("P")
R = TypeVar("R")


def replies_on_failure(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | Reply]]:
    """Turn an unexpected failure of a user action into a short apology, logged with its chat.

    The promise of the core: nothing a user sends (or does at the same moment, such as /forget
    while a photo is being described) raises out of it.
    """

    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Reply:
        try:
            return await method(*args, **kwargs)
        except NotFoundError:  # the photo or chat was deleted meanwhile (/forget, retention)
            return Reply(texts.PHOTO_GONE, ReplyKind.INFO)
        except Exception:
            chat = args[1] if len(args) > 1 else None
            where = f"platform={chat.platform} chat={chat.chat_id}" if isinstance(chat, ChatRef) else ""
            log.exception("%s failed %s", method.__name__, where)
            return Reply(texts.FAILED, ReplyKind.ERROR)

    return guarded
