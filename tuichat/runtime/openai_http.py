"""HTTP details of OpenAI-compatible servers: the base URL, the API key, errors as one user line,
Retry-After, and the server-sent-events lines of a streamed chat completion.

No text from the server reaches the user unescaped: error bodies are cut to one short line and
control characters are replaced, and the API key never appears in any message.
"""
from __future__ import annotations

import email.utils
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx

from tuichat.errors import ConfigError, TuichatError

RETRY_STATUSES = (429, 503)
MAX_TRIES = 3  # one request and at most two retries on 429/503
MAX_RETRY_WAIT_S = 10.0  # a longer Retry-After is not waited out: the user is told instead


class ServerError(TuichatError):
    """The model server failed or refused a request; the message is one line for the user."""


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # ends in /v1 (OpenAI routes live below it)
    root: str  # the server root: vLLM's /tokenize and llama.cpp's /extras/tokenize live here
    shown: str  # for the status bar and messages: no user:password part

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def endpoint(url: str) -> Endpoint:
    """Check and normalise a base URL: http(s) only, a host, credentials not in the URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"the server base URL must start with http:// or https:// (got '{_clean(url, 80)}')")
    if not parts.hostname:
        raise ConfigError(f"the server base URL has no host: '{_clean(url, 80)}'")
    if parts.username or parts.password:
        raise ConfigError("put no user name or password in the server base URL; name an environment variable with api_key_env")
    path = parts.path.rstrip("/")
    root_path = path[: -len("/v1")] if path.endswith("/v1") else path
    root = urlunsplit((parts.scheme, parts.netloc, root_path, "", ""))
    return Endpoint(base_url=root + "/v1", root=root, shown=root)


def api_key(env_name: str | None) -> str | None:
    """The key from the environment variable named in the settings (the key itself is never stored)."""
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise ConfigError(f"api_key_env names the environment variable {env_name}, but it is not set")
    return value


def _clean(text: str, limit: int = 160) -> str:
    """One printable line of at most `limit` characters (server text is untrusted)."""
    flat = "".join(ch if ch.isprintable() else " " for ch in str(text))
    flat = " ".join(flat.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.read().decode("utf-8", "replace")
    except httpx.HTTPError:
        return ""
    try:
        data = json.loads(body)
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message") or error.get("detail") if isinstance(error, dict) else error
        return _clean(message if isinstance(message, str) else json.dumps(message))
    except (ValueError, AttributeError):
        return _clean(body)


def status_error(response: httpx.Response, ep: Endpoint, model: str, key_env: str | None,
                 served: list[str] | None = None, tries: int = 1) -> ServerError:
    """A one-line error for a refused request (never includes the API key)."""
    code = response.status_code
    detail = _server_message(response)
    if code in (401, 403):
        hint = f"check the key in ${key_env}" if key_env else "set api_key_env to the environment variable that holds the key"
        return ServerError(f"the server at {ep.shown} refused the request (HTTP {code}): {hint}")
    if code == 404:
        names = f" (served: {', '.join(served)})" if served else ""
        return ServerError(f"the server at {ep.shown} has no model '{model}'{names} (HTTP 404{': ' + detail if detail else ''})")
    if code in RETRY_STATUSES:
        tried = f"gave up after {tries} tries" if tries > 1 else f"it asks to wait {_clean(response.headers.get('retry-after', '?'), 20)} s"
        return ServerError(f"the server at {ep.shown} is busy (HTTP {code}; {tried}); try again later")
    return ServerError(f"the server at {ep.shown} failed (HTTP {code}{': ' + detail if detail else ''})")


def transport_error(exc: httpx.HTTPError, ep: Endpoint, read_timeout: float, mid_answer: bool) -> ServerError:
    """A one-line error for a network failure."""
    kept = "; the partial answer is kept" if mid_answer else ""
    if isinstance(exc, httpx.ConnectTimeout):
        return ServerError(f"cannot reach the model server at {ep.shown} (connection timed out){kept}")
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text \
                or "no address associated" in text:
            return ServerError(f"cannot resolve the server host in {ep.shown} (DNS lookup failed)")
        return ServerError(f"cannot reach the model server at {ep.shown} (connection refused: is it running?){kept}")
    if isinstance(exc, httpx.ReadTimeout):
        return ServerError(f"the server at {ep.shown} sent nothing for {read_timeout:g} s; answer stopped{kept}")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        if not mid_answer:
            return ServerError(f"the server at {ep.shown} closed the connection without answering")
        return ServerError(f"the server at {ep.shown} closed the connection mid-answer{kept}")
    return ServerError(f"talking to the server at {ep.shown} failed ({type(exc).__name__}){kept}")


def retry_after(response: httpx.Response, attempt: int) -> float:
    """Seconds to wait before retrying a 429/503: the server's Retry-After (seconds or an HTTP date),
    else a short back-off. May exceed MAX_RETRY_WAIT_S (the caller then gives up)."""
    value = response.headers.get("retry-after", "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if value else None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    return 0.5 * 2**attempt


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON payloads of `data:` lines, up to `data: [DONE]`; comments and other fields are
    skipped. A data line that is not a JSON object is a ServerError naming (a bit of) it."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, ": ping" comments, event:/id:/retry: fields
        data = line[5:].strip()
        if data == "[DONE]":
            return
        if not data:
            continue
        try:
            event = json.loads(data)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise ServerError(f"the server sent a malformed stream line: '{_clean(data, 60)}'")
        if "error" in event and not event.get("choices"):
            error = event["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise ServerError(f"the server stopped the answer with an error: {_clean(str(message))}")
        yield event
