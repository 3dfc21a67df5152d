"""No secret in any log line, at DEBUG: `blipbot run` with Telegram, the API and the page, as a process.

Every secret the settings can hold is set (the bot token, API tokens, the webhook secret, the
page's access code and session secret, a database password), a whole session is run against
them (a photo on Telegram, a prediction with the token, a wrong token, the page unlocked), and
the process's whole output is searched for each.
"""

from __future__ import annotations

import base64
import socket

import httpx
from sqlalchemy.engine import make_url

from tests.fakes import photos
from tests.fakes.telegram_api import FakeTelegram
from tests.scaleout.processes import BlipbotProcess, Deployment, wait_until

API_TOKEN = "api-token-that-must-never-be-logged"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"webhook-secret-never-logged-1234").decode()
ACCESS_CODE = "access-code-never-logged"
SESSION_SECRET = "session-secret-never-logged"
DB_PASSWORD = "db-password-never-logged"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_a_whole_session_at_debug_level_logs_no_secret(
    deployment: Deployment, processes: list[BlipbotProcess], tg: FakeTelegram
) -> None:
    port = free_port()
    # PostgreSQL here trusts local connections, so the password is carried but never checked.
    database = (
        make_url(deployment.database_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    )
    bot = deployment.start(
        "run",
        "run-debug",
        BLIPBOT_QUEUE__URL="",  # the model in this process: every log line in one place
        BLIPBOT_STORAGE__URL=database,
        BLIPBOT_LOGGING__LEVEL="DEBUG",
        BLIPBOT_TELEGRAM__TOKEN=tg.token,
        BLIPBOT_TELEGRAM__BASE_URL=tg.base_url,
        BLIPBOT_TELEGRAM__BASE_FILE_URL=tg.base_file_url,
        BLIPBOT_API__ENABLED="true",
        BLIPBOT_API__PORT=str(port),
        BLIPBOT_API__TOKENS=f'["{API_TOKEN}"]',
        BLIPBOT_API__WEBHOOK_SECRET=WEBHOOK_SECRET,
        BLIPBOT_WEB__ACCESS_CODE=ACCESS_CODE,
        BLIPBOT_WEB__SESSION_SECRET=SESSION_SECRET,
    )
    processes.append(bot)
    try:
        await wait_until(lambda: "api listening on" in bot.log, 180, "the API to listen")
    except TimeoutError:
        raise TimeoutError(f"blipbot run did not start; its log:\n{bot.log}") from None
    tg.send_photo(7001, photos.jpeg(seed=2))
    await tg.wait_for("sendMessage", lambda p: int(p["chat_id"]) == 7001, timeout=60)
    image = "data:image/jpeg;base64," + base64.b64encode(photos.jpeg()).decode()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        made = await http.post(
            "/v1/models/blipbot/blip-2/predictions",
            json={"input": {"image": image, "caption": True}},
            headers={"Authorization": f"Bearer {API_TOKEN}", "Prefer": "wait"},
        )
        assert made.json()["status"] == "succeeded"
        wrong = await http.get("/v1/predictions", headers={"Authorization": f"Bearer {API_TOKEN}x"})
        assert wrong.status_code == 401 and API_TOKEN not in wrong.text
        page = (await http.get("/")).text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        unlocked = await http.post("/", data={"csrf": csrf, "action": "unlock", "code": ACCESS_CODE})
        assert 'id="photo"' in unlocked.text
    assert await bot.terminate() == 0
    output = bot.log
    assert "DEBUG" in output  # the level really was DEBUG
    for secret in (tg.token, API_TOKEN, WEBHOOK_SECRET, ACCESS_CODE, SESSION_SECRET, DB_PASSWORD):
        assert secret not in output, f"a secret is in the log:\n{output}"
