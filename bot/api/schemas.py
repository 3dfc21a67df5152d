"""The wire format: Replicate's `/v1` objects and eachlabs' prediction shape, as pydantic models.

These models are the OpenAPI document clients and schemathesis read, so every field a client
relies on is declared here with its real type. `ModelInput` is the hosted BLIP-2's inputs plus
blipbot's; numbers and booleans sent as strings (`"temperature": "1"`, `"caption": "true"`) are
accepted, as pydantic's lax mode reads them, because eachlabs' clients send them that way.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from bot.core.predicting import DEFAULT_QUESTION

Status = Literal["starting", "processing", "succeeded", "failed", "canceled"]
WebhookEvent = Literal["start", "output", "logs", "completed"]


class ModelInput(BaseModel):
    """The model's inputs. Unknown names are refused, so a typo is never silently ignored."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(
        min_length=1,
        max_length=2048 * 1024 * 64,
        description="The photo: an http(s) URL, a data: URI, or the urls.get of a file from POST /v1/files.",
    )
    caption: bool = Field(default=False, description="Describe the photo instead of answering the question.")
    question: str = Field(
        default=DEFAULT_QUESTION, max_length=2000, description="The question about the photo."
    )
    context: str = Field(
        default="",
        max_length=8000,
        description="Earlier questions and answers, put before the question, e.g. "
        "'Question: what is it? Answer: a door.'",
    )
    use_nucleus_sampling: bool = Field(default=False, description="Sample instead of beam search.")
    temperature: float = Field(default=1.0, ge=0.5, le=1.0, description="Sampling temperature.")
    detail: Literal["brief", "normal", "full"] | None = Field(
        default=None,
        description="blipbot: a description at this level (normal adds people, place, objects, "
        "writing; full also reads the text) instead of the bare caption.",
    )
    read_text: bool = Field(default=False, description="blipbot: add the text read in the photo (OCR).")
    scan_codes: bool = Field(
        default=False, description="blipbot: say the QR codes and barcodes in the photo before the output."
    )
    light_hint: bool = Field(
        default=False,
        description="blipbot: say before the output when the photo is very dark, overexposed or blurred.",
    )
    colours: bool = Field(
        default=False, description="blipbot: add the main colours in the centre of the photo."
    )
    alt_text_chars: int | None = Field(
        default=None, ge=20, le=1000, description="blipbot: cut the output to this length, at a word."
    )


def _web_url(value: str | None) -> str | None:
    """An http(s) URL httpx can send to: printable ASCII, with a host."""
    if value is None:
        return None
    if not value.isascii() or not value.isprintable() or " " in value:
        raise ValueError("must be an http or https URL in printable ASCII (percent-encode the rest)")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, ValueError):
        raise ValueError("must be an http or https URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an http or https URL")
    return value


WebUrl = Annotated[str | None, Field(default=None, max_length=2048), AfterValidator(_web_url)]


class PredictionRequest(BaseModel):
    """POST /v1/models/{owner}/{name}/predictions: the input, and an optional webhook."""

    model_config = ConfigDict(extra="forbid")

    input: ModelInput
    webhook: WebUrl = None
    webhook_events_filter: list[WebhookEvent] | None = Field(default=None, max_length=4)
    stream: bool | None = None  # accepted for the client's sake; outputs are one short string


class VersionedPredictionRequest(PredictionRequest):
    """POST /v1/predictions: as above, with the model version (or `owner/name:version`)."""

    version: str = Field(min_length=1, max_length=300)


class PredictionUrls(BaseModel):
    get: str
    cancel: str


class PredictionMetrics(BaseModel):
    predict_time: float | None = None
    queue_time: float | None = None


class PredictionOut(BaseModel):
    """A prediction, as Replicate returns it."""

    id: str
    model: str
    version: str
    status: Status
    input: dict[str, Any]
    output: str | None
    error: str | None
    logs: str
    metrics: PredictionMetrics
    created_at: str
    started_at: str | None
    completed_at: str | None
    urls: PredictionUrls
    data_removed: bool = False
    source: Literal["api", "web"] = "api"


class PredictionPage(BaseModel):
    """GET /v1/predictions: newest first; `next` is the URL of the following page, if any."""

    previous: str | None
    next: str | None
    results: list[PredictionOut]


class VersionOut(BaseModel):
    """A model version: the client reads `openapi_schema` to know the inputs and output."""

    id: str
    created_at: str
    cog_version: str
    openapi_schema: dict[str, Any]


class ModelOut(BaseModel):
    url: str
    owner: str
    name: str
    description: str
    visibility: Literal["public", "private"]
    github_url: str | None
    paper_url: str | None
    license_url: str | None
    run_count: int
    cover_image_url: str | None
    default_example: dict[str, Any] | None
    latest_version: VersionOut


class VersionPage(BaseModel):
    previous: str | None
    next: str | None
    results: list[VersionOut]


class FileUrls(BaseModel):
    get: str


class FileOut(BaseModel):
    """An uploaded file, as Replicate's files API returns it."""

    id: str
    name: str
    content_type: str
    size: int
    etag: str
    checksums: dict[str, str]
    metadata: dict[str, Any]
    created_at: str
    expires_at: str | None
    urls: FileUrls


class FilePage(BaseModel):
    previous: str | None = None
    next: str | None = None
    results: list[FileOut]


class WebhookSecret(BaseModel):
    key: str = Field(description='The signing secret: "whsec_" + base64.')


class ErrorOut(BaseModel):
    """Every error: `detail` is one plain sentence, as Replicate's API errors carry."""

    title: str
    detail: str
    status: int


class EachlabsCreate(BaseModel):
    """eachlabs' POST /v1/prediction/ body."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(default="blip-2", max_length=255)
    version: str = Field(default="0.0.1", max_length=64)
    input: ModelInput
    webhook_url: WebUrl = None


class EachlabsCreated(BaseModel):
    status: Literal["success"]
    message: str
    predictionID: str


class EachlabsMetrics(BaseModel):
    predict_time: float | None = None


class EachlabsPrediction(BaseModel):
    """eachlabs' GET /v1/prediction/{id}: its status words differ from Replicate's."""

    id: str
    input: dict[str, Any]
    status: Literal["starting", "processing", "success", "failed", "cancelled"]
    output: str | None
    error: str | None
    logs: str
    metrics: EachlabsMetrics
    urls: PredictionUrls


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    model: str
    model_loaded: bool
    queue_depth: int
    store_reachable: bool
