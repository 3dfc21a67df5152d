"""Platforms are found, not listed: every adapter module in bot/ with the two functions."""

from bot.config import Settings
from bot.runner import adapter_modules, configured_platforms


def test_every_platform_module_is_found():
    assert [module.__name__ for module in adapter_modules()] == ["bot.discord", "bot.telegram"]


def test_only_platforms_with_a_token_are_configured():
    assert configured_platforms(Settings()) == []
    assert configured_platforms(Settings(telegram={"token": "1:a"})) == ["telegram"]
    assert configured_platforms(Settings(telegram={"token": "1:a"}, discord={"token": "d"})) == [
        "discord",
        "telegram",
    ]
