"""A burst of Discord interactions at a real `blipbot run`: each acknowledged in time and answered once,
busy refusals past the queue, bounded memory, a clean stop.

40 users each run /describe with a 1280x960 photo and then 4 /ask questions (200 interactions), with
room for 8 requests in the queue. On this 2-core machine the test takes 30 to 40 seconds, the last
reply coming 10 to 25 seconds after the burst; `python -m tests.scaleout.discord_burst` runs other sizes.
The acknowledgements are the tight part: an /ask waiting behind its user's /describe is acknowledged
after `bot.discord.inflight.PATIENCE_S`. At 1 s that came 1.7 to 2.9 s after dispatch under the burst
here, and once 68 of 200 came after Discord's 3 s (never answered); at 0.25 s the slowest is 1 to 1.8 s.
"""

from __future__ import annotations

from tests.fakes.discord_api import FakeDiscord
from tests.scaleout.discord_burst import DiscordBurstSize, run_discord_burst
from tests.scaleout.processes import BlipbotProcess, Deployment

SIZE = DiscordBurstSize(users=40, followups=4, queue_size=8)

#: Measured at this size: about 487 MB before the burst, then peaks (VmHWM) of 926 to 971 MB over eleven
#: runs, with PostgreSQL and with SQLite, some beside CPU and disk hogs; 1.5 times the highest. Each user
#: in progress holds a 1280x960 photo (its decoded picture and the model's copy), so a change that holds
#: more per interaction (every waiting /ask's photo, another decoded copy) crosses it.
PEAK_RSS_BOUND_MB = 1450.0


async def test_a_burst_of_200_interactions_gets_one_reply_each_with_busy_refusals_past_the_queue(
    deployment: Deployment, processes: list[BlipbotProcess], fake_discord: FakeDiscord
) -> None:
    figures = await run_discord_burst(deployment, fake_discord, processes, SIZE)
    report = figures.report()
    print(f"\n{report}")  # shown by `pytest -s`; every assertion below repeats it
    assert figures.interactions == SIZE.interactions
    assert figures.unacknowledged == 0, report
    assert figures.acknowledged_twice == 0, report
    assert figures.missing == 0, report
    assert figures.duplicates == 0, report
    assert figures.replies == figures.interactions, report
    assert figures.asked_before_photo == 0, report
    assert figures.busy > 0, f"the queue of {SIZE.queue_size} never filled, so no backpressure:\n{report}"
    assert figures.peak_rss_mb < PEAK_RSS_BOUND_MB, report
    assert figures.exit_status == 0, report
