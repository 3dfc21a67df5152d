"""A burst of Discord interactions at one real `blipbot run` process, and the figures it leaves behind.

Each user runs /describe with a photo attached and then /ask follow-ups, every INTERACTION_CREATE
dispatched on FakeDiscord's gateway back to back, so the bot meets the whole crowd at once. As in the
Telegram burst (`burst`, whose counting, waiting and memory code this shares), the process uses the
in-process queue with a small `inference.queue_size`: past it the bot must refuse at once with
`texts.BUSY`, and every interaction must still be acknowledged within Discord's 3 seconds (the fake
refuses a later callback, as Discord does) and get exactly one final reply (`replies_by_interaction`
says what counts as one). The process is the installed command line with one difference: discord.py's
REST base and default gateway are pointed at the fake before it starts (`LAUNCH`), as `patch_discord`
does for in-process tests, since the bot has no setting for them. So the memory measured is the bot's.

`python -m tests.scaleout.discord_burst [--users 40 --followups 4 --queue-size 8]` runs it on a
scratch deployment and prints the figures; `run_discord_burst` is the same for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from statistics import median

from bot.core import texts
from tests.fakes.discord_api import EPHEMERAL_FLAG, Call, FakeDiscord
from tests.scaleout.burst import (
    NOTICE_PREFIX,
    QUESTIONS,
    ReplyCounts,
    add_deployment_options,
    log_errors,
    machine,
    memory_mb,
    photo,
    report,
    scratch_deployment,
    stop,
    wait_for_replies,
)
from tests.scaleout.processes import BlipbotProcess, Deployment, wait_until

LOG_NAME = "discord-burst"
#: `python -c LAUNCH <REST base> <gateway> run`: discord.py's two Discord addresses set to the fake's,
#: then the command line (`bot.app.cli.main`) with the arguments after them.
LAUNCH = "; ".join(
    (
        "import sys, yarl",
        "from discord.gateway import DiscordWebSocket",
        "from discord.http import Route",
        "Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = sys.argv[1], yarl.URL(sys.argv[2])",
        "from bot.app.cli import main",
        "sys.exit(main(sys.argv[3:]))",
    )
)
#: What the bot answers when it gives up on a request; a /describe answered with none of these kept
#: its photo, so a question after it must not be told to send one.
REFUSALS = frozenset(
    (texts.BUSY, texts.FAILED, texts.TIMEOUT, texts.STOPPING, texts.UNAVAILABLE, texts.DOWNLOAD_FAILED)
)
#: A path's interaction ids, tokens, snowflakes and attachment names, so calls group by route.
PATH_PARAMETER = re.compile(r"/(?:\d+|[\w-]{40,}|[\w-]+\.jpg)(?=/|$)")


@dataclass(frozen=True)
class DiscordBurstSize:
    users: int = 40
    followups: int = 4
    queue_size: int = 8  # below `users`: each user's interactions take turns, so at most `users` queue
    photo_side: int = 1280

    @property
    def interactions(self) -> int:
        return self.users * (1 + self.followups)


@dataclass(frozen=True)
class Sent:
    """One interaction of the burst: its id and token, whose it was, and which command."""

    id: str
    token: str
    user: int
    command: str


@dataclass(frozen=True)
class DiscordBurstFigures:
    interactions: int
    replies: int  # final replies (see `replies_by_interaction`), over all interactions
    busy: int  # texts.BUSY: refused at once because the queue was full
    need_photo: int  # texts.NEED_PHOTO: an /ask that found no photo for its user
    unavailable: int  # texts.UNAVAILABLE: the store failed
    failed: int  # texts.FAILED, TIMEOUT or STOPPING: the bot gave up on the interaction
    duplicates: int  # replies beyond the first, over all interactions
    missing: int  # interactions with no reply at all
    unacknowledged: int  # no callback in Discord's 3 s: the user saw "The application did not respond"
    acknowledged_twice: int  # callbacks beyond the first (Discord refuses them)
    asked_before_photo: int  # NEED_PHOTO to a user whose /describe was answered: a question overtook it
    slowest_ack_s: float  # dispatch to first callback, the slowest; Discord allows 3 s
    acks: str  # dispatch to first callback by command (an /ask behind its /describe waits 1 s first)
    rss_before_mb: float  # the process's resident memory when the burst was sent
    peak_rss_mb: float  # VmHWM at the end: its highest resident memory over its whole life
    seconds_to_first_reply: float  # from the first dispatch
    seconds_to_last_reply: float  # or to the last interaction lost (3 s unacknowledged), if later
    exit_status: int | None  # after SIGTERM once the burst is over; 0 is a clean stop
    log_errors: int  # ERROR lines in the bot's log
    bot_calls: str  # the REST and CDN requests the bot made, by route
    duplicated: str  # the first few interactions replied to more than once, with what was said
    machine: str

    def report(self) -> str:
        return report(self)


def start_bot(deployment: Deployment, fake: FakeDiscord, size: DiscordBurstSize) -> BlipbotProcess:
    """`blipbot run` with Discord alone, on the in-process queue of `size.queue_size`."""
    log_path = deployment.workdir / f"{LOG_NAME}.log"
    env = deployment.env(
        BLIPBOT_QUEUE__URL="",  # the in-process worker: its queue_size is the backpressure under test
        BLIPBOT_INFERENCE__QUEUE_SIZE=str(size.queue_size),
        BLIPBOT_LIMITS__PHOTOS_PER_MINUTE="1000000",  # no rate limit: busy replies come from the queue only
        BLIPBOT_DISCORD__TOKEN=fake.token,
        BLIPBOT_DISCORD__STATE_DIR=str(deployment.workdir / "discord-state"),
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, fake.api_url, fake.gateway_url, "run"],
            cwd=deployment.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return BlipbotProcess(process, log_path)


def build_burst(fake: FakeDiscord, size: DiscordBurstSize) -> list[tuple[dict, Sent]]:
    """Every interaction's payload, made before the first is sent: all the /describe commands with
    their photos on the fake CDN, then each round of /ask."""
    users = [fake.user(f"burst{n}") for n in range(size.users)]
    side = size.photo_side
    pictures = [
        fake.add_attachment(photo(n, side), f"photo{n}.jpg", width=side, height=side * 3 // 4)
        for n in range(size.users)
    ]
    commands = [("describe", n, {"image": pictures[n]}) for n in range(size.users)]
    for round_ in range(size.followups):
        question = QUESTIONS[round_ % len(QUESTIONS)]
        commands += [("ask", n, {"question": question}) for n in range(size.users)]
    burst = []
    for name, n, options in commands:
        payload = fake.slash_command(name, options, user=users[n])
        burst.append((payload, Sent(payload["id"], payload["token"], n, name)))
    return burst


def replies_by_interaction(fake: FakeDiscord, sent: list[Sent]) -> dict[str, list[str]]:
    """The final replies to each interaction, as its user sees them.

    One is: the message of a type 4 callback (answered at once); a follow-up message (the public answer
    that resolves the "thinking" message, or the private notice sent after deleting it); or an edit of
    the original response into anything but a place-in-line notice (a private "thinking" resolved).
    A type 5 callback only acknowledges, a place-in-line edit only shows progress, and nothing sent
    for an interaction whose callback Discord refused counts, since Discord refused that too.
    """
    found: dict[str, list[str]] = {one.id: [] for one in sent}
    by_token = {one.token: one.id for one in sent}
    called: set[str] = set()
    for call in fake.calls:
        # "/interactions/<id>/<token>/callback", "/webhooks/<app>/<token>[/messages/@original]"
        parts = call.path.split("/")
        interaction = by_token.get(parts[3]) if len(parts) > 3 else None
        if interaction is None or call.method not in ("POST", "PATCH"):
            continue
        accepted = fake.interactions[interaction].acked
        if parts[1] == "interactions":
            first = interaction not in called
            called.add(interaction)
            if first and accepted and (call.json or {}).get("type") == 4:
                found[interaction].append(_content(call.json.get("data")))
        elif parts[1] == "webhooks" and accepted:
            if len(parts) == 4 and call.method == "POST":
                found[interaction].append(_content(call.json))
            elif parts[4:] == ["messages", "@original"] and "content" in (call.json or {}):
                edited = _content(call.json)
                found[interaction] += [] if edited.startswith(NOTICE_PREFIX) else [edited]
    return found


def _content(message: dict | None) -> str:
    content = str((message or {}).get("content") or "")
    return content or "[no text]"


def settled(fake: FakeDiscord, sent: list[Sent]) -> int:
    """Interactions replied to, or lost: not acknowledged by Discord's deadline, so nothing can reach them."""
    found, now = replies_by_interaction(fake, sent), time.monotonic()
    lost = {
        one.id
        for one in sent
        if not fake.interactions[one.id].acked and now > fake.interactions[one.id].deadline
    }
    return sum(1 for one in sent if found[one.id] or one.id in lost)


def callbacks_by_interaction(fake: FakeDiscord, sent: list[Sent]) -> Counter[str]:
    ids = {one.id for one in sent}
    return Counter(
        parts[2]
        for call in fake.calls
        if (parts := call.path.split("/"))[1:2] == ["interactions"] and len(parts) > 2 and parts[2] in ids
    )


def ack_seconds(fake: FakeDiscord, sent: list[Sent]) -> dict[str, list[float]]:
    """By command, the seconds from each interaction's dispatch to its first callback, sorted."""
    seconds: dict[str, list[float]] = {}
    for one in sent:
        pending = fake.interactions[one.id]
        if pending.called_at is not None:
            dispatched = pending.deadline - fake.ack_deadline_seconds
            seconds.setdefault(one.command, []).append(pending.called_at - dispatched)
    return {command: sorted(times) for command, times in seconds.items()}


def asked_before_photo(found: dict[str, list[str]], sent: list[Sent]) -> int:
    """/ask commands told to send a photo first by a user whose /describe had been answered."""
    answered = {
        one.user
        for one in sent
        if one.command == "describe" and found[one.id] and not REFUSALS.intersection(found[one.id])
    }
    return sum(
        1
        for one in sent
        if one.command == "ask" and one.user in answered and texts.NEED_PHOTO in found[one.id]
    )


def bot_calls(fake: FakeDiscord) -> str:
    """The bot's requests by route, and how many of them sent a message only its user sees."""
    routes = Counter(f"{call.method} {PATH_PARAMETER.sub('/{}', call.path)}" for call in fake.calls)
    listed = ", ".join(f"{route} {count}" for route, count in routes.most_common())
    return f"{listed}; {sum(1 for call in fake.calls if _private(call))} of them private"


def _private(call: Call) -> bool:
    body = call.json if isinstance(call.json, dict) else {}
    return bool((body.get("data") or body).get("flags", 0) & EPHEMERAL_FLAG)


async def run_discord_burst(
    deployment: Deployment, fake: FakeDiscord, processes: list[BlipbotProcess], size: DiscordBurstSize,
    *, timeout_s: float = 600.0,
) -> DiscordBurstFigures:  # fmt: skip
    """Start `blipbot run` on the fake, send the burst, wait for every reply (or the timeout), measure.

    The process goes into `processes` at once, so the caller's cleanup kills it whatever happens here.
    """
    bot = start_bot(deployment, fake, size)
    processes.append(bot)
    pid = bot.process.pid
    # The model is loaded before Discord starts; "connected" is logged once READY has been handled.
    await wait_until(
        lambda: "connected to Discord" in bot.log or bot.process.poll() is not None, 180, "a Discord session"
    )
    if bot.process.poll() is not None:
        raise RuntimeError(f"blipbot run exited with {bot.process.returncode}:\n{bot.log[-3000:]}")
    rss_before = memory_mb(pid, "VmRSS")

    burst = build_burst(fake, size)
    started = time.monotonic()
    for payload, _ in burst:  # back to back: each INTERACTION_CREATE right behind the last
        await fake.dispatch_interaction(payload)
    sent = [one for _, one in burst]
    timing = await wait_for_replies(lambda: settled(fake, sent), len(sent), bot.process, started, timeout_s)

    found = replies_by_interaction(fake, sent)
    callbacks = callbacks_by_interaction(fake, sent)
    acks = ack_seconds(fake, sent)
    peak = memory_mb(pid, "VmHWM") if bot.process.poll() is None else float("nan")
    exit_status = await stop(bot)
    return DiscordBurstFigures(
        interactions=len(sent),
        **asdict(ReplyCounts.of(found)),
        unacknowledged=sum(1 for one in sent if not fake.interactions[one.id].acked),
        acknowledged_twice=sum(max(0, count - 1) for count in callbacks.values()),
        asked_before_photo=asked_before_photo(found, sent),
        slowest_ack_s=round(max((times[-1] for times in acks.values()), default=float("nan")), 2),
        acks="; ".join(
            f"{command} median {median(times):.2f} s, slowest {times[-1]:.2f} s"
            for command, times in acks.items()
        ),
        rss_before_mb=rss_before,
        peak_rss_mb=peak,
        **asdict(timing),
        exit_status=exit_status,
        log_errors=log_errors(bot),
        bot_calls=bot_calls(fake),
        machine=machine(),
    )


async def standalone(
    size: DiscordBurstSize, database_url: str | None, keep: bool, env: dict[str, str]
) -> DiscordBurstFigures:
    """The burst outside pytest, on a scratch deployment (see `burst.scratch_deployment`)."""
    scratch = scratch_deployment(database_url, keep, env, LOG_NAME)
    async with scratch as (deployment, processes), FakeDiscord() as fake:
        return await run_discord_burst(deployment, fake, processes, size)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.scaleout.discord_burst", description=(__doc__ or "")[:90]
    )
    defaults = DiscordBurstSize()
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--followups", type=int, default=defaults.followups)
    parser.add_argument("--queue-size", type=int, default=defaults.queue_size)
    parser.add_argument("--photo-side", type=int, default=defaults.photo_side)
    add_deployment_options(parser)
    args = parser.parse_args(argv)
    size = DiscordBurstSize(args.users, args.followups, args.queue_size, args.photo_side)
    env = dict(item.split("=", 1) for item in args.env)
    print(asyncio.run(standalone(size, args.database_url, args.keep, env)).report())


if __name__ == "__main__":
    main()
