import asyncio

from bot.submit_together import DOOR, SubmitTogether, at_the_door, left_without_arriving


async def test_members_pass_the_door_together_in_album_order_and_only_the_first_reports():
    door = SubmitTogether(3)
    passed: list[tuple[str, bool]] = []

    async def member(index: int, name: str, delay: float, arrives: bool) -> None:
        DOOR.set((door, index))
        try:
            await asyncio.sleep(delay)
            if arrives:
                passed.append((name, await at_the_door()))
        finally:
            left_without_arriving(door)
            if not arrives:
                passed.append((name, False))

    # "b" is the album's first photo but reaches the door last: the door keeps the album's order.
    await asyncio.gather(
        member(0, "b", 0.02, True), member(1, "a", 0.01, True), member(2, "gone", 0.03, False)
    )
    assert passed == [("gone", False), ("b", True), ("a", False)], "the door opened only when all were in"


async def test_outside_an_album_nobody_waits():
    assert await asyncio.wait_for(at_the_door(), 0.1) is True
