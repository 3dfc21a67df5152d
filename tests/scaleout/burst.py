"""A burst of Telegram updates at one real `blipbot run` process, and the figures it leaves behind.

Every chat sends a photo and then its follow-up questions, all enqueued on the fake Bot API before
the bot fetches any of them, so the bot meets the whole crowd at once. The process uses the
in-process queue with a small `inference.queue_size`: past it the bot must refuse at once with
`texts.BUSY` (backpressure) rather than pile requests up, and every update must still get exactly one
reply. What is measured: replies per update (a reply quotes its update; a place-in-line notice
counts only once it is edited into the answer), the process's peak resident memory (VmHWM), and the
seconds from the burst to the last reply.

`python -m tests.scaleout.burst [--chats 200 --followups 4 --queue-size 64]` builds a tiny random
BLIP-2 and a SQLite store in a temporary folder and prints the figures; `run_burst` is the same
for tests, on their own deployment. The platform-neutral pieces (counting replies, waiting for the
last one, memory, the scratch deployment) are shared with the Discord burst, `discord_burst`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from bot.core import texts
from inference.streams import StreamNames
from tests.fakes.telegram_api import FakeTelegram
from tests.scaleout.processes import BlipbotProcess, Deployment, wait_until

FIRST_CHAT = 70_000


def _shared_start(first: str, second: str) -> str:
    length = 0
    while length < min(len(first), len(second)) and first[length] == second[length]:
        length += 1
    return first[:length]


#: What every place-in-line notice starts with ("You are next in line", "You are number 5 in line"),
#: taken from the bot's own wording so a change to it cannot make notices count as answers.
NOTICE_PREFIX = _shared_start(texts.place_in_line(1), texts.place_in_line(5))
QUESTIONS = ("what colour is it?", "is there text on it?", "how many people are there?", "is it outside?")
POLL_S = 0.1
QUIET_S = 3.0  # after the last reply, for a duplicate to show up
Update = tuple[int, int]  # (chat id, message id) of one user message


@dataclass(frozen=True)
class BurstSize:
    chats: int = 200
    followups: int = 4
    queue_size: int = 64
    photo_side: int = 1280  # the long side; phones send about this much through Telegram

    @property
    def updates(self) -> int:
        return self.chats * (1 + self.followups)


@dataclass(frozen=True)
class ReplyCounts:
    """What a burst's final replies said, whatever the platform: the figures every burst reports.

    Each field means what the `BurstFigures` field of its name means, over requests of any kind.
    """

    replies: int
    busy: int
    need_photo: int
    unavailable: int
    failed: int
    duplicates: int
    missing: int
    duplicated: str

    @classmethod
    def of(cls, found: Mapping[Hashable, Sequence[str]]) -> ReplyCounts:
        """Count `found`: each request (an update, an interaction) with the final replies it got."""
        said = Counter(text for replies in found.values() for text in replies)
        twice = [
            f"{request}: {[text[:60] for text in replies]}"
            for request, replies in found.items()
            if len(replies) > 1
        ]
        return cls(
            replies=sum(len(replies) for replies in found.values()),
            busy=said[texts.BUSY],
            need_photo=said[texts.NEED_PHOTO],
            unavailable=said[texts.UNAVAILABLE],
            failed=said[texts.FAILED] + said[texts.TIMEOUT] + said[texts.STOPPING],
            duplicates=sum(max(0, len(replies) - 1) for replies in found.values()),
            missing=sum(1 for replies in found.values() if not replies),
            duplicated="; ".join(twice[:3]) or "none",
        )


@dataclass(frozen=True)
class BurstFigures:
    updates: int
    replies: int  # final replies, over all updates
    busy: int  # texts.BUSY: refused at once because the queue was full
    need_photo: int  # texts.NEED_PHOTO: a question that found no photo for its chat
    unavailable: int  # texts.UNAVAILABLE: the store failed
    failed: int  # texts.FAILED, TIMEOUT or STOPPING: the bot gave up on the update
    duplicates: int  # replies beyond the first, over all updates
    missing: int  # updates with no reply at all
    rss_before_mb: float  # the process's resident memory when the burst was sent
    peak_rss_mb: float  # VmHWM at the end: its highest resident memory over its whole life
    seconds_to_first_reply: float
    seconds_to_last_reply: float
    exit_status: int | None  # after SIGTERM once the burst is over; 0 is a clean stop
    log_errors: int  # ERROR lines in the bot's log
    bot_calls: str  # the Bot API calls the bot made (getUpdates aside), by method
    duplicated: str  # the first few updates replied to more than once, with what was said
    machine: str

    def report(self) -> str:
        return report(self)


def report(figures: Any) -> str:
    """A figures dataclass as `name: value` lines, in field order."""
    return "\n".join(f"{name.replace('_', ' ')}: {value}" for name, value in asdict(figures).items())


def machine() -> str:
    """The CPU model from /proc/cpuinfo and the core count, so figures can be compared."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def memory_mb(pid: int, field: str) -> float:
    """A /proc/<pid>/status memory line in MB: VmRSS (now) or VmHWM (the peak so far). Linux only."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)  # the kernel writes kB
    raise LookupError(f"no {field} in /proc/{pid}/status")


def photo(seed: int, side: int) -> bytes:
    """A distinct, smooth JPEG (so each is a new photo to the bot) of a phone photo's size, made fast."""
    width, height = side, side * 3 // 4
    rng = random.Random(seed)
    coarse = Image.frombytes("RGB", (16, 12), rng.randbytes(16 * 12 * 3))
    buffer = io.BytesIO()
    coarse.resize((width, height), Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def send_burst(tg: FakeTelegram, size: BurstSize) -> list[Update]:
    """Enqueue every update before the bot can fetch one: all photos, then each round of questions."""
    chats = [FIRST_CHAT + n for n in range(size.chats)]
    pictures = [photo(n, size.photo_side) for n in range(size.chats)]  # made before any is sent
    width, height = size.photo_side, size.photo_side * 3 // 4
    sent = [tg.send_photo(c, p, width=width, height=height) for c, p in zip(chats, pictures, strict=True)]
    for round_ in range(size.followups):
        sent += [tg.send_text(chat, QUESTIONS[round_ % len(QUESTIONS)]) for chat in chats]
    return [(message["chat"]["id"], message["message_id"]) for message in sent]


def replies_by_update(tg: FakeTelegram, updates: list[Update]) -> dict[Update, list[str]]:
    """The final replies to each update, as a person sees them.

    A sendMessage quoting the update is one reply, unless it is a place-in-line notice; each edit of a
    notice (found through the notice it edits, which quotes the update) is one reply. So a notice
    edited into its answer counts once, and a notice left standing beside an answer sent anew not at all.
    """
    found: dict[Update, list[str]] = {update: [] for update in updates}
    quoted: dict[tuple[int, int], int] = {}  # (chat, bot message id) -> the update it quotes
    for method, params in tg.calls:
        if method.lower() == "sendmessage":
            chat = int(params["chat_id"])
            update = (chat, int((params.get("reply_parameters") or {}).get("message_id") or 0))
            text = str(params.get("text", ""))
            if update in found and not text.startswith(NOTICE_PREFIX):
                found[update].append(text)
        elif method.lower() == "editmessagetext":
            chat, target = int(params["chat_id"]), int(params["message_id"])
            if (chat, target) not in quoted:
                message = tg.message(chat, target) or {}
                quoted[(chat, target)] = (message.get("reply_to_message") or {}).get("message_id", 0)
            if (chat, quoted[(chat, target)]) in found:
                found[(chat, quoted[(chat, target)])].append(str(params.get("text", "")))
    return found


async def stop(bot: BlipbotProcess, timeout_s: float = 60.0) -> int:
    """SIGTERM, and wait off the event loop: the fake server runs on this loop, and the bot still
    talks to it while it stops (Telegram's last getUpdates confirms the updates it fetched)."""
    if bot.process.poll() is None:
        bot.process.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(bot.process.wait, timeout_s)


@dataclass(frozen=True)
class Timing:
    seconds_to_first_reply: float
    seconds_to_last_reply: float


async def wait_for_replies(
    replied: Callable[[], int], total: int, process: subprocess.Popen[bytes], started: float,
    timeout_s: float,
) -> Timing:  # fmt: skip
    """Poll `replied()` (requests with a reply so far) until it reaches `total`, the timeout passes or the
    process ends; then wait QUIET_S more, for a duplicate to show up. Seconds count from `started`."""
    first_reply = last_reply = started
    count = 0
    while time.monotonic() - started < timeout_s and process.poll() is None:
        now_replied = replied()
        if now_replied != count:
            last_reply = time.monotonic()
            first_reply = first_reply if count else last_reply
            count = now_replied
        if count == total:
            break
        await asyncio.sleep(POLL_S)
    await asyncio.sleep(QUIET_S)
    return Timing(round(first_reply - started, 1), round(last_reply - started, 1))


def log_errors(bot: BlipbotProcess) -> int:
    """ERROR lines in the bot's log."""
    return sum(1 for line in bot.log.splitlines() if " ERROR " in line)


async def run_burst(
    deployment: Deployment, tg: FakeTelegram, processes: list[BlipbotProcess], size: BurstSize,
    *, timeout_s: float = 900.0,
) -> BurstFigures:  # fmt: skip
    """Start `blipbot run` on the fake, send the burst, wait for every reply (or the timeout), measure.

    The process goes into `processes` at once, so the caller's cleanup kills it whatever happens here.
    """
    bot = deployment.start(
        "run",
        "burst-frontend",
        BLIPBOT_QUEUE__URL="",  # the in-process worker: its queue_size is the backpressure under test
        BLIPBOT_INFERENCE__QUEUE_SIZE=str(size.queue_size),
        BLIPBOT_LIMITS__PHOTOS_PER_MINUTE="1000000",  # no rate limit: busy replies come from the queue only
        BLIPBOT_TELEGRAM__TOKEN=tg.token,
        BLIPBOT_TELEGRAM__BASE_URL=tg.base_url,
        BLIPBOT_TELEGRAM__BASE_FILE_URL=tg.base_file_url,
    )
    processes.append(bot)
    pid = bot.process.pid
    await tg.wait_for("setMyCommands", timeout=180)  # the model is loaded before Telegram starts
    # A long poll is answered only when updates come: wait for it to be asked, not answered.
    await wait_until(lambda: any(method == "getUpdates" for method, _ in tg.calls), 30, "a long poll")
    rss_before = memory_mb(pid, "VmRSS")

    updates = send_burst(tg, size)
    started = time.monotonic()
    timing = await wait_for_replies(
        lambda: sum(1 for said in replies_by_update(tg, updates).values() if said),
        len(updates),
        bot.process,
        started,
        timeout_s,
    )

    counts = ReplyCounts.of(replies_by_update(tg, updates))
    peak = memory_mb(pid, "VmHWM") if bot.process.poll() is None else float("nan")
    exit_status = await stop(bot)
    calls = Counter(method for method, _ in tg.calls if method != "getUpdates")
    return BurstFigures(
        updates=len(updates),
        **asdict(counts),
        rss_before_mb=rss_before,
        peak_rss_mb=peak,
        **asdict(timing),
        exit_status=exit_status,
        log_errors=log_errors(bot),
        bot_calls=", ".join(f"{method} {count}" for method, count in calls.most_common()),
        machine=machine(),
    )


@contextlib.asynccontextmanager
async def scratch_deployment(
    database_url: str | None, keep: bool, env: dict[str, str], log_name: str
) -> AsyncIterator[tuple[Deployment, list[BlipbotProcess]]]:
    """A burst's deployment outside pytest: a tiny random BLIP-2 and a SQLite file in a temporary
    folder, removed afterwards (unless `keep`) with every process started in it killed."""
    from inference.bench.random_model import save_blip2

    folder = tempfile.mkdtemp(prefix="blipbot-burst-")
    model_dir = await asyncio.to_thread(save_blip2, Path(folder) / "tiny-blip2", "tiny", "opt")
    url = database_url or f"sqlite+aiosqlite:///{folder}/blipbot.sqlite3"
    deployment = Deployment(url, "", StreamNames("burst"), model_dir, Path(folder), extra=env)
    processes: list[BlipbotProcess] = []
    try:
        yield deployment, processes
    finally:
        for process in processes:
            process.stop()
        if keep:
            print(f"bot log: {folder}/{log_name}.log")
        else:
            shutil.rmtree(folder, ignore_errors=True)


async def standalone(
    size: BurstSize, database_url: str | None, keep: bool, env: dict[str, str]
) -> BurstFigures:
    """The burst outside pytest, on a scratch deployment."""
    scratch = scratch_deployment(database_url, keep, env, "burst-frontend")
    async with scratch as (deployment, processes), FakeTelegram() as tg:
        return await run_burst(deployment, tg, processes, size)


def add_deployment_options(parser: argparse.ArgumentParser) -> None:
    """The command-line options of `scratch_deployment`, shared by the bursts' command lines."""
    parser.add_argument("--database-url", help="default: a SQLite file in the temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and its bot log")
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="more environment for the bot"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.scaleout.burst", description=(__doc__ or "")[:90])
    defaults = BurstSize()
    parser.add_argument("--chats", type=int, default=defaults.chats)
    parser.add_argument("--followups", type=int, default=defaults.followups)
    parser.add_argument("--queue-size", type=int, default=defaults.queue_size)
    parser.add_argument("--photo-side", type=int, default=defaults.photo_side)
    add_deployment_options(parser)
    args = parser.parse_args(argv)
    size = BurstSize(args.chats, args.followups, args.queue_size, args.photo_side)
    env = dict(item.split("=", 1) for item in args.env)
    print(asyncio.run(standalone(size, args.database_url, args.keep, env)).report())


if __name__ == "__main__":
    main()
