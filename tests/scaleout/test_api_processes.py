"""`blipbot serve` as a real process: a front end over Redis Streams with a `blipbot worker` process,
PostgreSQL as the store, the official `replicate` client as the caller. Killed with SIGKILL mid-
prediction and started again, it finishes what it was asked; SIGTERM ends it cleanly."""

from __future__ import annotations

import asyncio
import socket

import replicate

from tests.fakes import photos
from tests.scaleout.processes import BlipbotProcess, Deployment, wait_until

TOKEN = "process-test-token-1234"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(deployment: Deployment, port: int, log_name: str) -> BlipbotProcess:
    return deployment.start(
        "serve", log_name, BLIPBOT_API__TOKENS=f'["{TOKEN}"]', BLIPBOT_API__PORT=str(port)
    )


async def listening(process: BlipbotProcess) -> None:
    try:
        await wait_until(lambda: "api listening on" in process.log, 180, "the API to listen")
    except TimeoutError:
        raise TimeoutError(f"blipbot serve did not start; its log:\n{process.log}") from None


async def test_serve_answers_the_replicate_client_and_finishes_a_prediction_after_a_kill(
    deployment: Deployment, processes: list[BlipbotProcess], tmp_path
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(photos.jpeg(seed=11))
    port = free_port()
    worker = deployment.start("worker", "worker")
    processes.append(worker)
    front = serve(deployment, port, "serve-1")
    processes.append(front)
    await worker.worker_id()
    await listening(front)
    client = replicate.Client(api_token=TOKEN, base_url=f"http://127.0.0.1:{port}")

    with photo.open("rb") as image:
        answer = await asyncio.to_thread(
            client.run, "blipbot/blip-2", input={"image": image, "question": "what?"}
        )
    assert isinstance(answer, str) and answer.strip()

    # Asked, then the front end dies before answering: the next start finishes the prediction.
    with photo.open("rb") as image:
        asked = await asyncio.to_thread(
            client.models.predictions.create, model="blipbot/blip-2", input={"image": image, "caption": True}
        )
    front.kill()
    again = serve(deployment, port, "serve-2")
    processes.append(again)
    await listening(again)
    await asyncio.to_thread(asked.wait)
    assert asked.status == "succeeded" and asked.output, again.log

    assert await again.terminate() == 0
    assert TOKEN not in front.log + again.log + worker.log
