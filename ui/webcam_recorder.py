"""A small webcam recorder for the Webcam page: live preview, a record button, the clip back to Python.

The browser records with its own MediaRecorder (WebM, VP8/VP9 in Chromium)
and sends the finished clip as base64 in one trigger value: no media server,
no WebRTC connection and no STUN server are involved, so it works on a machine
without internet access. Built on Streamlit's custom components v2 (inline
JavaScript in the page, no iframe), so ``getUserMedia`` runs in the app's own
secure context (localhost or HTTPS).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import streamlit as st

import dfcore
from dfcore.media.video_writer import remux
from ui.common import temp_copy

MIN_SECONDS, MAX_SECONDS = 3, 10

_HTML = """
<div class="rec">
  <video class="live" autoplay muted playsinline></video>
  <div class="row">
    <button class="record" type="button" disabled>Record</button>
    <span class="status">Starting the camera…</span>
  </div>
</div>
"""

_CSS = """
.rec { font-family: var(--st-font, sans-serif); color: var(--st-text-color); }
.live { width: 100%; max-width: 480px; aspect-ratio: 4 / 3; background: #111; border-radius: 8px; display: block; }
.row { display: flex; align-items: center; gap: 1rem; margin-top: .5rem; }
/* A <button> does not inherit the page's font by itself: take the theme's, as Streamlit's buttons do. */
.record { background: var(--st-primary-color); color: white; border: none;
          border-radius: var(--st-button-radius, .5rem); padding: .45rem 1rem; font-family: inherit;
          font-size: var(--st-base-font-size, 1rem); font-weight: var(--st-base-font-weight, 400);
          line-height: 1.6; cursor: pointer; white-space: nowrap; }
.rec.failed { display: none; }
.record:disabled { opacity: .5; cursor: default; }
.status { font-size: .9rem; }
"""

# The function runs again whenever ``data`` changes (not on every rerun) and
# Streamlit calls the returned cleanup only on unmount, so the camera and any
# recording in progress live in a state object kept on the parent element.
_JS = """
export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  const state = parentElement.__dflens || (parentElement.__dflens = {});
  state.seconds = (data && data.seconds) || 5;
  const video = parentElement.querySelector(".live");
  const button = parentElement.querySelector(".record");
  const status = parentElement.querySelector(".status");
  if (!state.recording) button.textContent = `Record ${state.seconds} s`;
  if (state.started) return state.cleanup;
  state.started = true;

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const toBase64 = (blob) => new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });

  async function openCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      failCamera("the browser gives cameras only to pages served over HTTPS or from localhost");
      return;
    }
    try {
      state.stream = await navigator.mediaDevices.getUserMedia(
        { video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
      video.srcObject = state.stream;
      button.disabled = false;
      status.textContent = "Camera ready.";
    } catch (err) {
      failCamera(`${err.name}: ${err.message}`);
    }
  }

  // The page says it once, in words (see record_clip): the recorder, with no camera to show, steps aside.
  function fail(reason) {
    status.textContent = "The recording failed.";
    setTriggerValue("error", reason);
  }
  function failCamera(reason) {
    parentElement.querySelector(".rec").classList.add("failed");
    setTriggerValue("camera", reason);
  }

  async function record() {
    const seconds = state.seconds;
    const types = ["video/webm;codecs=vp9", "video/webm;codecs=vp8", "video/webm", "video/mp4"];
    const mimeType = types.find((t) => MediaRecorder.isTypeSupported(t)) || "";
    const chunks = [];
    const rec = new MediaRecorder(state.stream, mimeType ? { mimeType } : undefined);
    rec.ondataavailable = (e) => { if (e.data && e.data.size) chunks.push(e.data); };
    const stopped = new Promise((r) => { rec.onstop = r; });
    state.recording = true;
    button.disabled = true;
    rec.start(500);
    for (let left = seconds; left > 0; left--) {
      button.textContent = `Recording… ${left} s`;
      await sleep(1000);
    }
    rec.stop();
    await stopped;
    state.recording = false;
    const blob = new Blob(chunks, { type: rec.mimeType || mimeType || "video/webm" });
    status.textContent = `Sending ${(blob.size / 1024).toFixed(0)} kB…`;
    try {
      const b64 = await toBase64(blob);
      setTriggerValue("recording", { b64, mime: blob.type, seconds, size: blob.size, at: Date.now() });
      status.textContent = `Recorded ${seconds} s (${(blob.size / 1024).toFixed(0)} kB).`;
    } catch (err) {
      fail(`the recording could not be read (${err})`);
    }
    button.textContent = `Record ${state.seconds} s`;
    button.disabled = false;
  }

  button.onclick = () => { if (!state.recording && state.stream) record(); };
  state.cleanup = () => {
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    state.started = false;
  };
  openCamera();
  return state.cleanup;
}
"""



@dataclass(frozen=True)
class Recording:
    data: bytes  # the clip as the browser recorded it, remuxed with a complete header
    mime: str  # e.g. "video/webm;codecs=vp9"

    @property
    def suffix(self) -> str:
        return _suffix(self.mime)


class RecordingError(Exception):
    """The browser sent a clip that cannot be read."""


class NoCameraError(RecordingError):
    """The browser could not open a camera; ``reason`` is what the browser said (e.g. ``NotFoundError: ...``)."""

    SENTENCE = "No camera found: connect one, or allow this page to use it."

    def __init__(self, reason: str) -> None:
        super().__init__(f"{self.SENTENCE} ({reason})")
        self.reason = reason


def record_clip(seconds: int, key: str) -> Recording | None:
    """Mount the recorder; return the clip it sent in this run, if any (trigger values last one run).

    Args:
        seconds: clip length, MIN_SECONDS-MAX_SECONDS.
        key: the component's key.

    Raises:
        NoCameraError: the browser could not open a camera.
        RecordingError: the browser sent unreadable data.
    """
    # Registered on every run, as Streamlit's examples do: the registry belongs to the
    # running server (a new one in each AppTest), and an identical definition just replaces itself.
    recorder = st.components.v2.component("dflens_webcam_recorder", html=_HTML, css=_CSS, js=_JS)
    result = recorder(key=key, data={"seconds": int(seconds)}, on_recording_change=lambda: None,
                      on_error_change=lambda: None, on_camera_change=lambda: None)
    # A trigger value lasts one run, but the recorder stays hidden without a camera: the reason is kept
    # for the session, so the page goes on saying why (a reload asks the browser again).
    no_camera_key = f"_{key}_no_camera"
    camera = getattr(result, "camera", None)
    if camera:
        st.session_state[no_camera_key] = str(camera)
    if st.session_state.get(no_camera_key):
        raise NoCameraError(st.session_state[no_camera_key])
    error = getattr(result, "error", None)
    if error:
        raise RecordingError(f"No webcam clip: {error}. Record again.")
    sent = getattr(result, "recording", None)
    return decode_recording(sent) if sent else None


def decode_recording(sent: dict) -> Recording:
    """The clip from the recorder's message ``{"b64": ..., "mime": ...}``, remuxed with a complete header.

    Raises:
        RecordingError: the message holds no readable video.
    """
    try:
        data = base64.b64decode(sent.get("b64", ""), validate=True)
    except (binascii.Error, ValueError, AttributeError):
        raise RecordingError("The browser sent a recording that is not valid base64; record again.") from None
    if not data:
        raise RecordingError("The browser sent an empty recording; record again.")
    mime = str(sent.get("mime") or "video/webm")
    return Recording(_with_header(data, _suffix(mime)), mime)


def _suffix(mime: str) -> str:
    return ".mp4" if mime.startswith("video/mp4") else ".webm"


def _with_header(data: bytes, suffix: str) -> bytes:
    """The recording remuxed so it states its duration (MediaRecorder's WebM does not)."""
    with temp_copy(f"recording{suffix}", data) as path:
        try:
            return remux(path, path.with_name(f"indexed{suffix}")).read_bytes()
        except dfcore.DfcoreError as e:
            raise RecordingError(f"The browser's recording could not be read: {e.reason}. Record again.") from None
