from bot.core.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_allows_up_to_the_limit_per_key_then_refuses_until_the_window_passes():
    clock = FakeClock()
    limiter = RateLimiter(2, 60.0, clock=clock)
    assert limiter.allow("a") and limiter.allow("a")
    assert not limiter.allow("a")
    assert limiter.allow("b"), "another user has their own budget"
    clock.now += 30
    assert limiter.retry_after_s("a") == 30
    assert not limiter.allow("a")
    clock.now += 30
    assert limiter.allow("a")
    assert limiter.retry_after_s("b") == 0
