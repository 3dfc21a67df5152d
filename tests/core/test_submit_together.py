import asyncio

from bot.submit_together import DOOR, SubmitTogether, at_the_door, left_without_arriving


async def test_members_pass_the_door_together_in_arrival_order_and_only_the_first_reports():
    door = SubmitTogether(3)
    passed: list[tuple[str, bool]] = []

    async def member(name: str, delay: float, arrives: bool) -> None:
        DOOR.set(door)
        try:
            await asyncio.sleep(delay)
            if arrives:
                passed.append((name, await at_the_door()))
        finally:
            left_without_arriving(door)
            if not arrives:
                passed.append((name, False))

    await asyncio.gather(member("b", 0.02, True), member("a", 0.01, True), member("gone", 0.03, False))
    assert passed == [("gone", False), ("a", True), ("b", False)], "the door opened only when all were in"


async def test_outside_an_album_nobody_waits():
    assert await asyncio.wait_for(at_the_door(), 0.1) is True
