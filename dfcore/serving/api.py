"""The HTTP API: post a video, get the verdict as JSON (``python -m dfcore serve``).

    POST /v1/analyze   multipart: file, and optionally frames (10-100), model, explain -> the `analyze --json` schema
                       (schema_version 2: verdict FAKE, UNCERTAIN, NO_SIGN or NO_FACE, two thresholds, "decision")
    GET  /v1/models    the offered models and their cards, and the withdrawn ones with their reason (`models --json`)
    GET  /v1/health    liveness and load; never needs the API key
    GET  /docs         the OpenAPI docs (/openapi.json)

A thin caller of :func:`dfcore.analyze_video`, like the dashboard's pages. Each
request streams its upload into a private temporary folder (refused with 413
while still arriving once it passes the limit, 408 when it arrives too slowly;
see :mod:`dfcore.serving.upload`) while holding one of its client's few upload
places (429 beyond them; :mod:`dfcore.serving.upload_gate`). Only once the body
has arrived does it ask for a place in the run queue (503 with ``Retry-After``
when the queue is full; see :mod:`dfcore.serving.analysis_gate`), so slow uploads
never hold the analyses' places. It is analysed with the dashboard's time
limit by a detector loaded once per model (:mod:`dfcore.serving.detector_cache`),
and stopped at its next deadline check if the client disconnects; its folder is
deleted whatever happens. A bad input is a 4xx with
``{"error": {"code", "message", "file"}}``, the message being the one the CLI
prints; anything else is a generic 500 whose details stay in the server's log.

It serves one process: the run slots and the loaded models are shared by
threads, so each model is in memory once.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from .. import __version__
from .analysis_gate import AnalysisGate
from ..analyze import SCHEMA_VERSION, analyze_video
from ..deadline import SERVER_TIME_LIMIT_S, cancelled_by
from .detector_cache import DetectorCache
from ..errors import (
    AnalysisCancelledError,
    AnalysisTimeoutError,
    DfcoreError,
    InputNotFoundError,
    ServerBusyError,
    TooManyPixelsError,
    TooManyUploadsError,
    UnknownModelError,
    UnsupportedFormatError,
    UploadError,
    UploadTimeoutError,
    UploadTooLargeError,
    VideoDecodeError,
    WeightsError,
    WithdrawnModelError,
)
from ..evaluation.evaluate import DEFAULT_FRAME_COUNTS
from ..decision import (
    EVIDENCE_NOT_PROOF,
    FAKE,
    NO_FACE,
    NO_SIGN,
    REASON_SENTENCES,
    UNCERTAIN,
    VERDICT_SENTENCES,
    VERDICTS,
)
from ..models.model_registry import describe_models, list_models, resolve_offered
from ..provenance import describe_input
from ..media.formats import SUPPORTED_EXTENSIONS
from ..media.video_io import MAX_PIXELS
from .upload import (
    MAX_UPLOAD_MB,
    MB,
    MEDIA_TYPES,
    MIN_UPLOAD_BYTES_PER_S,
    UPLOAD_GRACE_S,
    Upload,
    UploadLimits,
    check_content_length,
    receive_upload,
)
from .upload_gate import UploadGate

log = logging.getLogger(__name__)

API_KEY_ENV = "DFCORE_API_KEY"  # when set, every /v1 call but /v1/health needs "Authorization: Bearer <key>"
# The frame counts the model card measures: the range of the dashboard's slider.
MIN_FRAMES, MAX_FRAMES = min(DEFAULT_FRAME_COUNTS), max(DEFAULT_FRAME_COUNTS)
DEFAULT_FRAMES = 20  # as the CLI and the dashboard
FORM_FIELDS = frozenset({"frames", "model", "explain"})  # the options that may come with the file
TEMP_PREFIX = "dflens-api-"  # each request's private folder under $TMPDIR
# explain's accepted values, exactly as sent (the OpenAPI schema lists the same).
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
ECHO_CHARS = 20  # a refused option value is quoted up to this many characters
UPLOADS_PER_CLIENT = 8  # uploads one client address may have in progress at once
MAX_UPLOADS = 64  # uploads in progress at once from all clients

# Each refusal's HTTP status and error code; the first class the error is an instance of wins
# (subclasses before their parents).
ERROR_STATUS: list[tuple[type[DfcoreError], int, str]] = [
    (UploadTooLargeError, 413, "too_large"),
    (UploadTimeoutError, 408, "upload_timeout"),  # below the minimum rate: its bytes are deleted
    (UploadError, 400, "bad_request"),
    (WithdrawnModelError, 400, "withdrawn_model"),  # installed, but its card withdraws it: the message says why
    (UnknownModelError, 400, "unknown_model"),
    (InputNotFoundError, 400, "not_found"),
    (UnsupportedFormatError, 415, "unsupported_type"),
    (TooManyPixelsError, 422, "too_many_pixels"),  # a decompression bomb: refused from its header
    (VideoDecodeError, 422, "undecodable"),
    # Heavier than the limit allows: the same file would time out again, so not a 5xx to retry.
    (AnalysisTimeoutError, 422, "time_limit"),
    (TooManyUploadsError, 429, "too_many_uploads"),  # this client's upload places are all taken
    (ServerBusyError, 503, "busy"),
    # Nobody reads this answer (the client has gone); 499 as nginx logs it, for the server's log.
    (AnalysisCancelledError, 499, "cancelled"),
    (WeightsError, 503, "model_unavailable"),  # the server's installation, not the client's input
]
HTTP_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}
ERROR_DESCRIPTIONS = {  # what each refusal means, for the OpenAPI docs; the body is always ErrorBody
    400: "a malformed form, an unknown form part, a bad option, an unknown or withdrawn model, an overlong name",
    401: "the server has an API key and the request did not send it",
    408: "the upload arrived slower than the server's minimum rate (after a grace period); its bytes are deleted",
    413: "the upload is over the size limit (refused while still arriving)",
    415: "the file's name has no extension of an accepted type",
    422: "the file could not be decoded, declares more pixels than the budget, or took too long to analyse",
    429: "this client already has as many uploads in progress as it may; see Retry-After",
    503: "every run and queue place (or upload place) is taken, or no model is installed; see Retry-After",
}


@dataclass(frozen=True)
class ApiOptions:
    workers: int = 2  # analyses that run at the same time (threads of this one process)
    queue: int = 4  # requests admitted beyond those, waiting their turn; more are refused with 503
    max_upload_bytes: int = MAX_UPLOAD_MB * MB  # the upload limit (the dashboard's too)
    time_limit_s: float = SERVER_TIME_LIMIT_S  # each analysis's limit (the dashboard's too)
    retry_after_s: int = 5  # the Retry-After of a 503 or 429
    uploads_per_client: int = UPLOADS_PER_CLIENT  # uploads in progress at once from one address; more: 429
    max_uploads: int = MAX_UPLOADS  # uploads in progress at once in all; more: 503
    upload_grace_s: float = UPLOAD_GRACE_S  # seconds before an upload's minimum rate applies
    upload_min_bytes_per_s: float = MIN_UPLOAD_BYTES_PER_S  # slower on average after that: 408; 0: no minimum
    api_key: str | None = field(default=None, repr=False)  # None: no key needed; see api_key_from_env()
    device: str | None = None  # "cpu" or "cuda"; None picks CUDA when present
    threads: int | None = None  # torch CPU threads; None leaves torch's default


def api_key_from_env() -> str | None:
    """``$DFCORE_API_KEY``, or None when it is unset or empty."""
    return os.environ.get(API_KEY_ENV) or None


class ErrorDetail(BaseModel):
    code: str  # a stable name for the kind of error, e.g. "unsupported_type"
    message: str  # the sentence the CLI prints, naming the file and what to do
    file: str | None  # the uploaded file's name when the error is about it


class ErrorBody(BaseModel):
    error: ErrorDetail


@dataclass
class _Service:
    """What every request shares: the options, the gate and the loaded detectors."""

    options: ApiOptions
    gate: AnalysisGate
    uploads: UploadGate
    detectors: DetectorCache
    limits: UploadLimits
    # Worker threads for analyses: enough for every admitted request, apart from anyio's default pool.
    threads: anyio.CapacityLimiter


@dataclass(frozen=True)
class _AnalyzeParams:
    frames: int
    model: str | None
    explain: bool

    @classmethod
    def parse(cls, fields: dict[str, str]) -> _AnalyzeParams:
        """The form's options, checked.

        Raises:
            UploadError: a value out of range or not understood.
        """
        frames = fields.get("frames")
        if frames is None:
            n = DEFAULT_FRAMES
        else:
            # ASCII digits only: int() would also take "+20", "1_0" and other scripts' digits.
            if not re.fullmatch(r"[0-9]+", frames):
                raise UploadError(None, f"frames: not a whole number: {_echo(frames)}")
            n = int(frames) if len(frames) <= 6 else MAX_FRAMES + 1  # never convert (or echo) a huge number
            if not MIN_FRAMES <= n <= MAX_FRAMES:
                shown = frames if len(frames) <= ECHO_CHARS else frames[:ECHO_CHARS] + "..."
                raise UploadError(None, f"frames: must be between {MIN_FRAMES} and {MAX_FRAMES}, got {shown}")
        explain = fields.get("explain", "false")
        if explain not in TRUE_WORDS + FALSE_WORDS:  # as the schema says: these words, in lower case
            raise UploadError(None, f"explain: must be true or false ({', '.join(TRUE_WORDS)} / "
                                    f"{', '.join(FALSE_WORDS)}, in lower case), got {_echo(explain)}")
        model = fields.get("model")
        if model == "":
            raise UploadError(None, "model: empty", "Leave the field out for the default model.")
        return cls(n, model, explain in TRUE_WORDS)

    @classmethod
    def check_field(cls, name: str, value: str) -> None:
        """One option as soon as it has arrived (before the rest of the upload is read).

        Raises:
            UploadError: a value out of range or not understood.
            UnknownModelError, WithdrawnModelError: no such offered model.
        """
        cls.parse({name: value})
        if name == "model":
            resolve_offered(value)


def _echo(value: str) -> str:
    """A client's value quoted for a message: at most :data:`ECHO_CHARS` characters."""
    return repr(value[:ECHO_CHARS]) + ("..." if len(value) > ECHO_CHARS else "")


def create_app(options: ApiOptions | None = None) -> FastAPI:
    """The API as an ASGI app (serve it with uvicorn, or test it with a TestClient).

    Args:
        options: limits and settings; None: the defaults, with the key from ``$DFCORE_API_KEY``.
    """
    options = options or ApiOptions(api_key=api_key_from_env())
    service = _Service(
        options, AnalysisGate(options.workers, options.queue, options.retry_after_s),
        UploadGate(options.uploads_per_client, options.max_uploads, options.retry_after_s),
        DetectorCache(options.device, options.threads),
        UploadLimits(max_file_bytes=options.max_upload_bytes, fields=FORM_FIELDS, grace_s=options.upload_grace_s,
                     min_bytes_per_s=options.upload_min_bytes_per_s),
        anyio.CapacityLimiter(options.workers + options.queue),
    )
    app = FastAPI(title="Deepfake Lens API", version=__version__,
                  description=API_DESCRIPTION)
    app.state.service = service  # what tests (and an embedding app) can inspect: the gate, the loaded models
    app.state.retry_after_s = options.retry_after_s  # for the 503 handler
    bearer = HTTPBearer(auto_error=False, description=f"needed when the server has ${API_KEY_ENV} set")

    def require_key(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if options.api_key is None:
            return
        # Constant time: how much of a guess matched must not show in the response time.
        if creds is None or not hmac.compare_digest(creds.credentials.encode(), options.api_key.encode()):
            raise HTTPException(401, "a valid API key is required: send 'Authorization: Bearer <key>'",
                                headers={"WWW-Authenticate": "Bearer"})

    errors = {s: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[s]}
              for s in (400, 401, 408, 413, 415, 422, 429, 503)}

    @app.post("/v1/analyze", dependencies=[Depends(require_key)], openapi_extra=_analyze_form(_offered_names()),
              responses={200: {"description": f"the `python -m dfcore analyze --json` schema (schema_version "
                                              f"{SCHEMA_VERSION}); the verdict is one of {', '.join(VERDICTS)}",
                               "content": {"application/json": {"examples": _ANALYZE_EXAMPLES}}}, **errors})
    async def analyze(request: Request) -> JSONResponse:
        """Analyse one video or image; the answer is `python -m dfcore analyze --json`'s."""
        started = time.perf_counter()
        check_content_length(request.headers, service.limits)  # before anything else: nothing is read
        client = request.client.host if request.client else "unknown"
        with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:  # mode 0700, deleted also on errors
            # An upload place, not a run or queue place: a slow sender holds only its own client's places.
            with service.uploads.admit(client):
                try:
                    upload = await receive_upload(request.headers, request.stream(), Path(tmp), service.limits,
                                                  check_field=_AnalyzeParams.check_field)
                except ClientDisconnect:
                    raise UploadError(None, "the client went away before the upload ended") from None
            params = _AnalyzeParams.parse(upload.fields)
            resolve_offered(params.model)  # an unknown or withdrawn name is refused before it queues
            with service.gate.admit():  # the body is here: only now does it take a queue place
                result = await _analyze_while_connected(request, service, upload, params)
        log.info("analysed %d bytes, %d frames, %.2f s", upload.size, params.frames, time.perf_counter() - started)
        return JSONResponse(result)

    @app.get("/v1/models", dependencies=[Depends(require_key)],
             responses={401: errors[401], 503: errors[503]})
    def models() -> dict:
        """The models offered for analysis under "models", the default first, each with its model card; under
        "withdrawn" the models that are not offered, each with its reason and card (`models --json`)."""
        return _without_server_paths(describe_models())

    @app.get("/v1/health")
    def health() -> dict:
        """Liveness and load; open without the API key (it says nothing about any file)."""
        load = service.gate.load()
        return {"status": "ok", "version": __version__, "uploading": service.uploads.in_progress(),
                "running": load.running, "admitted": load.admitted,
                "max_running": load.max_running, "max_admitted": load.max_admitted,
                "models_loaded": service.detectors.loaded()}

    app.add_exception_handler(DfcoreError, _dfcore_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, options: ApiOptions | None = None) -> None:
    """Run the API with uvicorn until interrupted (one process; see :class:`ApiOptions` for its limits).

    Args:
        host: the address to listen on; the default answers this machine only.
        port: the TCP port.
        options: limits and settings; None: the defaults, with the key from ``$DFCORE_API_KEY``.
    """
    import uvicorn

    # This module's lines (refusals, sizes, timings: never a file's contents) beside uvicorn's own.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    uvicorn.run(create_app(options), host=host, port=port, log_level="info")


async def _analyze_while_connected(request: Request, service: _Service, upload: Upload,
                                   params: _AnalyzeParams) -> dict:
    """Analyse on a worker thread; a client that disconnects meanwhile cancels it at its next deadline check.

    Raises:
        DfcoreError: the analysis's own error, naming the client's file.
    """
    gone = threading.Event()
    error: DfcoreError | None = None
    result: dict = {}
    async with anyio.create_task_group() as watch:
        watch.start_soon(_watch_disconnect, request, gone)
        try:
            result = await anyio.to_thread.run_sync(partial(_analyze_upload, service, upload, params, gone),
                                                    limiter=service.threads)
        except DfcoreError as e:
            error = _about_upload(e, upload)
        watch.cancel_scope.cancel()
    if error is not None:
        raise error
    return result


async def _watch_disconnect(request: Request, gone: threading.Event) -> None:
    """Set ``gone`` when the client disconnects (the body has been read: the next message can only be that)."""
    message = await request.receive()
    if message.get("type") == "http.disconnect":
        gone.set()


def _analyze_upload(service: _Service, upload: Upload, params: _AnalyzeParams, gone: threading.Event) -> dict:
    """On a worker thread: wait for a run slot, then analyse the upload with the shared detector."""
    with service.gate.run_slot():
        with cancelled_by(gone):  # checked at every deadline check, from the first one on
            if gone.is_set():  # left while it waited for the slot: the slot goes to the next request at once
                raise AnalysisCancelledError(upload.path, "the client went away while the analysis waited")
            detector = service.detectors.get(params.model)
            # The client's own file name in the result, not the temporary copy's sanitised one.
            result = analyze_video(upload.path, params.frames, detector=detector, explain=params.explain,
                                   time_limit_s=service.options.time_limit_s,
                                   input_file=describe_input(upload.path, name=upload.name))
        return result.to_dict()


def _offered_names() -> list[str]:
    """The offered models' names for the docs; none when the installation cannot be read (then no list)."""
    try:
        return [m.name for m in list_models()]
    except DfcoreError:
        return []


def _without_server_paths(models: dict) -> dict:
    """``models --json`` with each weights file named by its base name: the server's folders stay its own."""
    def clean(entry: dict) -> dict:
        return {**entry, "file": Path(entry["file"]).name} if entry.get("file") else entry

    return {key: [clean(m) for m in value] if isinstance(value, list) else value for key, value in models.items()}


def _about_upload(e: DfcoreError, upload: Upload) -> DfcoreError:
    """The same error naming the client's file instead of the server's temporary copy."""
    if e.path != str(upload.path):
        return e
    # A decoder's own words may quote the path too.
    reason = e.reason.replace(str(upload.path), upload.name).replace(str(upload.path.parent), "")
    return type(e)(upload.name, reason, e.hint)


async def _dfcore_error(request: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, DfcoreError)
    status, code = next(((s, c) for cls, s, c in ERROR_STATUS if isinstance(e, cls)), (400, "bad_request"))
    if isinstance(e, WeightsError):  # its path is the server's, not the client's
        e = DfcoreError(None, e.reason, e.hint)
    headers = {"Retry-After": str(request.app.state.retry_after_s)} if status in (429, 503) else None
    log.info("%s %s refused: %d %s", request.method, request.url.path, status, code)
    return _error_response(status, code, e.message, e.path, headers)


async def _http_error(request: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, HTTPException)
    code = HTTP_CODES.get(e.status_code, f"http_{e.status_code}")
    return _error_response(e.status_code, code, str(e.detail), None, dict(e.headers or {}))


async def _internal_error(request: Request, e: Exception) -> JSONResponse:
    # The traceback stays here; the client learns only that it is not its fault.
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=e)
    return _error_response(500, "internal", "an unexpected error stopped the analysis; the server's log has "
                                            "the details", None)


def _error_response(status: int, code: str, message: str, file: str | None,
                    headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, file=file))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


API_DESCRIPTION = (
    "Post a video or image; get one of three verdicts with a calibrated fake score and the two thresholds behind "
    f"it. {FAKE}: {VERDICT_SENTENCES[FAKE]} {UNCERTAIN}: {VERDICT_SENTENCES[UNCERTAIN]} "
    f"{NO_SIGN}: {VERDICT_SENTENCES[NO_SIGN]} {NO_FACE}: {VERDICT_SENTENCES[NO_FACE]} "
    f"{EVIDENCE_NOT_PROOF}: the result's \"decision\" block says which thresholds applied, why a verdict is "
    "UNCERTAIN, and how rare the score is among the calibration set's real clips and fakes.")


def _example(verdict: str, p: float | None, reasons: list[str], real: float | None, fake: float | None,
             rarity: str | None) -> dict:
    """One illustrative response for the docs (the fields that carry the verdict; the rest as the schema says)."""
    return {"summary": verdict, "value": {
        "schema_version": SCHEMA_VERSION, "verdict": verdict, "fake_probability": p, "threshold": 0.7,
        "n_frames": 20, "n_frames_requested": 20, "n_frames_with_face": 0 if verdict == NO_FACE else 20,
        "decision": {"threshold": 0.7, "t_fake": 0.7, "t_no_sign": 0.3, "reasons": reasons,
                     "reason_sentences": [REASON_SENTENCES[r] for r in reasons],
                     "calibration_reals_at_or_above": real, "calibration_fakes_at_or_above": fake,
                     "rarity": rarity}}}


# Illustrations for the docs page, not measurements: the scores and shares are made-up round numbers.
_ANALYZE_EXAMPLES = {
    FAKE: _example(FAKE, 0.91, [], 0.01, 0.62, "1% of real videos in calibration score this high; 62% of fakes do."),
    UNCERTAIN: _example(UNCERTAIN, 0.5, ["between_thresholds"], 0.12, 0.8,
                        "12% of real videos in calibration score this high; 80% of fakes do."),
    NO_SIGN: _example(NO_SIGN, 0.08, [], 0.6, 0.97, "60% of real videos in calibration score this high; 97% of "
                                                    "fakes do."),
    NO_FACE: _example(NO_FACE, None, [], None, None, None),
}

def _analyze_form(offered: list[str]) -> dict:
    """The form of POST /v1/analyze for the OpenAPI docs: the endpoint reads its body itself, streaming, so
    FastAPI cannot infer it from parameters. It is as strict as the server: no other parts, explain's
    words, the offered models' names, and the file types (by the name's extension)."""
    model = {"type": "string", "description": "an offered model (GET /v1/models, its \"models\" list); "
                                              "left out: the default. A withdrawn or unknown one is refused (400)"}
    if offered:
        model["enum"] = offered
    types = ", ".join(sorted(e.lstrip(".") for e in SUPPORTED_EXTENSIONS))
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {
            "type": "object", "required": ["file"], "additionalProperties": False,
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": f"a video or image, at most {MAX_UPLOAD_MB} MB and {MAX_PIXELS / 1e6:g} "
                                        f"megapixels a frame; its name's extension says which ({types}), or "
                                        "for a name without one, the part's Content-Type; any other is "
                                        "refused (415)"},
                "frames": {"type": "integer", "minimum": MIN_FRAMES, "maximum": MAX_FRAMES,
                           "default": DEFAULT_FRAMES,
                           "description": "frames sampled evenly over the whole clip (ASCII digits)"},
                "model": model,
                "explain": {"type": "string", "enum": [*TRUE_WORDS, *FALSE_WORDS], "default": "false",
                            "description": "also compute the Grad-CAM maps (timed): true, 1, yes or on; "
                                           "false, 0, no or off"},
            },
        },
        # The file part's media types: what the accepted extensions hold.
        "encoding": {"file": {"contentType": ", ".join(sorted(set(MEDIA_TYPES.values())))}},
    }}}}
