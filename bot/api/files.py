"""Replicate's files API: upload a photo once, then name it by its `urls.get` in any input.

The official client uploads a file object given as an input this way. Files are kept, like
chats' photos, for `storage.retention_days`, and only the token that uploaded one can use it.
"""

from __future__ import annotations

import json
import mimetypes
import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, Response, UploadFile

from bot.api.auth import CallerDep
from bot.api.render import file_out
from bot.api.schemas import ErrorOut, FileOut, FilePage
from bot.api.state import ApiState, StateDep
from storage import FileRecord

router = APIRouter(prefix="/v1/files", tags=["files"], responses={404: {"model": ErrorOut}})


@router.post(
    "",
    status_code=201,
    response_model=FileOut,
    summary="Upload a file",
    responses={413: {"model": ErrorOut, "description": "Larger than limits.max_image_bytes."}},
)
async def create_file(
    request: Request,
    state: StateDep,
    caller: CallerDep,
    content: Annotated[UploadFile, File(description="The file.")],
    metadata: Annotated[str | None, Form(description="A JSON object kept with the file.")] = None,
) -> FileOut:
    limit = state.images.max_bytes
    data = await content.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"The file is larger than {limit // (1024 * 1024)} MB.")
    details = _metadata(metadata)
    name = (content.filename or "file")[:255]
    content_type = content.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    stored = await state.service.store.files.create(
        uuid.uuid4().hex, data, name=name, content_type=content_type[:255], metadata=details,
        token_hash=caller.token_hash,
    )  # fmt: skip
    return _out(stored, request, state)


@router.get("", response_model=FilePage, summary="List your files, newest first")
async def list_files(request: Request, state: StateDep, caller: CallerDep) -> FilePage:
    stored = await state.service.store.files.list(token_hash=caller.token_hash)
    return FilePage(results=[_out(item, request, state) for item in stored])


@router.get("/{file_id}", response_model=FileOut, summary="Get a file's details")
async def get_file(file_id: str, request: Request, state: StateDep, caller: CallerDep) -> FileOut:
    stored = await state.service.store.files.get(file_id, token_hash=caller.token_hash)
    if stored is None:
        raise HTTPException(404, "There is no such file.")
    return _out(stored, request, state)


@router.get(
    "/{file_id}/download",
    summary="Download a file",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes."}},
)
async def download_file(file_id: str, state: StateDep, caller: CallerDep) -> Response:
    stored = await state.service.store.files.get(file_id, token_hash=caller.token_hash)
    data = await state.service.store.files.content(file_id, token_hash=caller.token_hash)
    if stored is None or data is None:
        raise HTTPException(404, "There is no such file.")
    return Response(data, media_type=stored.content_type, headers={"etag": f'"{stored.sha256}"'})


@router.delete("/{file_id}", status_code=204, response_class=Response, summary="Delete a file")
async def delete_file(file_id: str, state: StateDep, caller: CallerDep) -> Response:
    if not await state.service.store.files.delete(file_id, token_hash=caller.token_hash):
        raise HTTPException(404, "There is no such file.")
    return Response(status_code=204)


def _metadata(raw: str | None) -> dict[str, object]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise HTTPException(422, "metadata: must be a JSON object") from None
    if not isinstance(value, dict):
        raise HTTPException(422, "metadata: must be a JSON object")
    return value


def _out(stored: FileRecord, request: Request, state: ApiState) -> FileOut:
    expires = stored.created_at + timedelta(days=state.service.options.retention_days)
    return file_out(stored, state.base_url(request), expires)
