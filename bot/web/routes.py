"""The page's routes: `GET /`, the plain form post `POST /`, and `POST /web/ask` for the script.

Both posts do the same action through the same core calls as the chat platforms (a chat of
platform "web" per browser session). The form post answers with the whole page, so the page
works without JavaScript; the script's post answers with NDJSON lines (first the place in line,
if others are ahead, then the answer), so the waiting is announced while it lasts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from bot.core import ChatRef, ChatService, Reply, ReplyKind
from bot.core.preferences import DETAILS
from bot.web.config import WebConfig
from bot.web.sessions import COOKIE, MAX_AGE_S, WebSession, WebSessions

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
PLATFORM = "web"
#: The quick checks a button asks for (no model: a code scan, the light, the colours).
CHECKS = ("scan", "light", "colour")
ACTIONS = ("send", "read", *CHECKS, "alt", "full", "reset", "forget")
#: What the page says while each action waits for the model.
WAITING = {
    "send": "Looking at your photo.",
    "read": "Reading the text in your photo.",
    "scan": "Looking for QR codes and barcodes in your photo.",
    "light": "Checking the light in your photo.",
    "colour": "Finding the main colours in your photo.",
    "alt": "Writing alt text for your photo.",
    "full": "Describing your photo in full.",
    "reset": "Starting over.",
    "forget": "Deleting your data.",
}
NOTHING_ASKED = "Please choose a photo, or type a question about the current one."
WRONG_CODE = "That access code is not right."
WELCOME = "Welcome. Choose a photo to begin."
#: Content-Security-Policy: this server's own script and style only, nothing from anywhere else.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class WebPage:
    """The page over one `ChatService`: renders it and carries out what its forms ask."""

    def __init__(self, service: ChatService, sessions: WebSessions, *, max_upload_bytes: int) -> None:
        self.service = service
        self.sessions = sessions
        self.max_upload_bytes = max_upload_bytes
        self.templates = Jinja2Templates(directory=HERE / "templates")

    async def render(self, request: Request, session: WebSession, reply: Reply | None = None) -> HTMLResponse:
        chat = _chat(session)
        if not session.unlocked:
            context: dict[str, Any] = {"csrf": self.sessions.csrf_token(session), "locked": True}
            return self._page(request, session, context, reply)
        prefs = await self.service.preferences(chat)
        context = {
            "csrf": self.sessions.csrf_token(session),
            "locked": False,
            "conversation": await self.service.conversation(chat),
            "detail": prefs.detail,
            "details": DETAILS,
            "voice": prefs.voice,
            "privacy": self.service.privacy().text,
        }
        return self._page(request, session, context, reply)

    def _page(
        self, request: Request, session: WebSession, context: dict[str, Any], reply: Reply | None
    ) -> HTMLResponse:
        context["reply"] = reply
        context["audio"] = _audio(reply)
        response = self.templates.TemplateResponse(request, "page.html", context, headers=SECURITY_HEADERS)
        self.keep(response, session)
        return response

    def keep(self, response: Response, session: WebSession) -> None:
        response.set_cookie(
            COOKIE, self.sessions.cookie(session), max_age=MAX_AGE_S, httponly=True, samesite="strict",
            secure=False,  # served over plain HTTP on 127.0.0.1 by default; a TLS proxy adds Secure
        )  # fmt: skip

    async def act(
        self, session: WebSession, action: str, photo: bytes | None, question: str, detail: str | None,
        voice: bool | None, on_queued: Any = None,
    ) -> Reply:  # fmt: skip
        """Carry out one form action; every outcome, a refusal included, is a Reply to show."""
        chat = _chat(session)
        await self._remember(chat, detail, voice)
        if action == "send" and photo is not None:
            return await self.service.describe_photo(
                chat, photo, question=question or None, on_queued=on_queued
            )
        if photo is not None:  # a new photo with another button: it becomes the current one first
            refused = await self.service.add_photo(chat, photo)
            if refused is not None:
                return refused
        if action == "send":
            if not question:
                return Reply(
                    "Please choose a photo, or type a question about the current one.", ReplyKind.INFO
                )
            return await self.service.ask(chat, question, on_queued=on_queued)
        if action == "read":
            return await self.service.read_text(chat)
        if action == "scan":
            return await self.service.scan(chat)
        if action == "light":
            return await self.service.light(chat)
        if action == "colour":
            return await self.service.colour(chat)
        if action == "alt":
            return await self.service.alt_text(chat, on_queued=on_queued)
        if action == "full":
            return await self.service.describe_again(chat, on_queued=on_queued)
        if action == "reset":
            return await self.service.reset(chat)
        return await self.service.forget(chat)

    async def _remember(self, chat: ChatRef, detail: str | None, voice: bool | None) -> None:
        prefs = await self.service.preferences(chat)
        if detail in DETAILS and detail != prefs.detail:
            await self.service.set_preference(chat, "detail", detail)
        if voice is not None and voice != prefs.voice:
            await self.service.set_preference(chat, "voice", "on" if voice else "off")


def _chat(session: WebSession) -> ChatRef:
    return ChatRef(PLATFORM, session.id, session.id)


def _audio(reply: Reply | None) -> list[str]:
    """The reply spoken, as data: URIs an <audio> element plays (no other request needed)."""
    if reply is None:
        return []
    return ["data:audio/ogg;base64," + base64.b64encode(note.ogg_opus).decode() for note in reply.voice]


class WebForm(BaseModel):
    """The fields both posts carry (the photo comes beside them, as a file)."""

    csrf: str = ""
    action: str = "send"
    question: str = Field(default="", max_length=2000)
    detail: str | None = None
    voice: str | None = None
    voice_shown: str | None = None  # present when the form showed the voice box (ticked or not)
    code: str | None = Field(default=None, max_length=200)


def page_of(request: Request) -> WebPage:
    return request.app.state.web_page


def session_of(request: Request) -> WebSession:
    return page_of(request).sessions.read(request.cookies.get(COOKIE))


PageDep = Annotated[WebPage, Depends(page_of)]
SessionDep = Annotated[WebSession, Depends(session_of)]
router = APIRouter(include_in_schema=False)


async def read_photo(page: WebPage, photo: UploadFile | None) -> bytes | None:
    """The uploaded bytes (at most one past the limit, which the core then refuses), or None."""
    if photo is None or not photo.filename:
        return None
    data = await photo.read(page.max_upload_bytes + 1)
    return data or None


@router.get("/", response_class=HTMLResponse)
async def show(request: Request, page: PageDep, session: SessionDep) -> HTMLResponse:
    return await page.render(request, session)


@router.post("/", response_class=HTMLResponse)
async def post_form(
    request: Request,
    page: PageDep,
    session: SessionDep,
    form: Annotated[WebForm, Form()],
    photo: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """The form post of a page without scripts: the page again, with the answer."""
    if form.action == "unlock" and page.sessions.csrf_ok(session, form.csrf):
        unlocked = page.sessions.unlock(session, form.code or "")
        if unlocked is None:
            return await page.render(request, session, Reply(WRONG_CODE, ReplyKind.ERROR))
        return await page.render(request, unlocked, Reply(WELCOME, ReplyKind.INFO))
    refusal = _refusal(page, session, form.csrf, form.action)
    if refusal is not None:
        return await page.render(request, session, refusal)
    voice_on = (form.voice == "on") if form.voice_shown else None  # an unticked box is not sent at all
    data = await read_photo(page, photo)
    reply = await page.act(session, form.action, data, form.question.strip(), form.detail, voice_on)
    return await page.render(request, session, reply)


@router.post("/web/ask")
async def post_script(
    page: PageDep,
    session: SessionDep,
    form: Annotated[WebForm, Form()],
    photo: Annotated[UploadFile | None, File()] = None,
) -> StreamingResponse:
    """The script's post: NDJSON lines, the place in line while waiting, then the answer."""
    action = form.action
    refusal = _refusal(page, session, form.csrf, action)
    data = await read_photo(page, photo) if refusal is None else None
    lines: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def on_queued(place: int) -> None:
        text = f"{WAITING[action]} You are number {place} in line."
        await lines.put({"event": "queued", "place": place, "text": text})

    async def work() -> None:
        try:
            reply = refusal or await page.act(
                session, action, data, form.question.strip(), form.detail, form.voice == "on", on_queued
            )
            said = [] if refusal else await page.service.conversation(_chat(session))
            await lines.put({
                "event": "answer", "text": reply.text, "kind": reply.kind.value, "audio": _audio(reply),
                "conversation": [{"question": e.question, "answer": e.answer} for e in said],
            })  # fmt: skip
        finally:
            await lines.put(None)

    async def stream() -> AsyncIterator[bytes]:
        task = asyncio.create_task(work())
        try:
            while (line := await lines.get()) is not None:
                yield (json.dumps(line) + "\n").encode()
        finally:
            await task

    response = StreamingResponse(stream(), media_type="application/x-ndjson", headers=SECURITY_HEADERS)
    page.keep(response, session)
    return response


def _refusal(page: WebPage, session: WebSession, csrf: str, action: str) -> Reply | None:
    """Why a post is not carried out (a stale page, a locked page, an unknown button), or None."""
    if not page.sessions.csrf_ok(session, csrf):
        return Reply("This page was out of date, so nothing was done. Please try again.", ReplyKind.ERROR)
    if not session.unlocked:
        return Reply("Please type the access code first.", ReplyKind.ERROR)
    if action not in ACTIONS and action != "unlock":
        return Reply("That button is not one this page knows. Please try again.", ReplyKind.ERROR)
    return None


def mount_page(app: FastAPI, config: WebConfig, service: ChatService, *, max_upload_bytes: int) -> WebPage:
    """Serve the page at `/` (and its script and style at `/static`) on `app`."""
    secret = (
        config.session_secret.get_secret_value().encode()
        if config.session_secret
        else secrets.token_bytes(32)
    )
    if config.session_secret is None:
        log.info("web.session_secret is not set: browser conversations last until the server restarts")
    code = config.access_code.get_secret_value() if config.access_code else None
    page = WebPage(service, WebSessions(secret, access_code=code), max_upload_bytes=max_upload_bytes)
    app.state.web_page = page
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="web-static")
    return page
