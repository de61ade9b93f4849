"""A small fault-injecting HTTP proxy in front of a real OpenAI-compatible server (loopback only).

It reads each request, then either answers itself (a status code, a reset connection) or forwards
it with httpx and relays the answer line by line, optionally dropping the connection, stalling,
injecting a malformed SSE line, or rewriting the request (a larger max_tokens, stream off). A
client that disconnects makes the proxy close its upstream request too, so a cancel reaches the
server. Every handler is bounded in time.
"""
from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field

import httpx

HANDLER_LIMIT_S = 30.0


@dataclass
class Fault:
    status: int | None = None  # answer with this status instead of forwarding
    times: int = 1_000_000  # how many requests the fault applies to (then: forward)
    retry_after: str | None = None
    body: str = '{"error": {"message": "injected"}}'
    reset: bool = False  # close the connection without answering
    drop_after: int | None = None  # relay N data lines, then close the connection
    malformed_after: int | None = None  # relay N data lines, then a line that is not JSON
    stall_after: int | None = None  # relay N data lines, then send nothing
    rewrite: dict = field(default_factory=dict)  # merged into a chat-completion request body
    hide: tuple[str, ...] = ()  # paths answered with 404 (e.g. the tokenise endpoints)
    only_chat: bool = True  # faults (not `hide`) apply only to /v1/chat/completions


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.fault = Fault(times=0)
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers)
        self.disconnects = 0  # client disconnects seen while relaying
        self.loop = asyncio.new_event_loop()
        self.port = 0
        started = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(started,), daemon=True)
        self.thread.start()
        started.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def set(self, **kwargs) -> None:
        self.fault = Fault(**kwargs)

    def clear(self) -> None:
        self.fault = Fault(times=0)

    def close(self) -> None:
        """Stop listening (new connections are refused) and stop the loop."""
        def stop() -> None:
            self.server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(stop)
        self.thread.join(5)

    # -- server ---------------------------------------------------------------------------------------
    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._bounded, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(HANDLER_LIMIT_S))
        started.set()
        self.loop.run_forever()

    async def _bounded(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(self._handle(reader, writer), HANDLER_LIMIT_S)
        except (asyncio.TimeoutError, ConnectionError, httpx.HTTPError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((method, path, headers))
        fault = self.fault
        if any(path.startswith(p) for p in fault.hide):
            return await self._answer(writer, 404, '{"detail": "Not Found"}')
        applies = fault.times > 0 and (not fault.only_chat or path.endswith("/chat/completions"))
        if applies:
            fault.times -= 1
            if fault.reset:
                return
            if fault.status:
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return await self._answer(writer, fault.status, fault.body, extra)
            if fault.rewrite and body:
                body = json.dumps({**json.loads(body), **fault.rewrite}).encode()
        await self._forward(reader, writer, method, path, headers, body, fault if applies else Fault(times=0))

    async def _answer(self, writer, status: int, body: str, extra: dict | None = None) -> None:
        data = body.encode()
        head = [f"HTTP/1.1 {status} Injected", "Content-Type: application/json", f"Content-Length: {len(data)}",
                "Connection: close"] + [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await writer.drain()

    async def _forward(self, reader, writer, method, path, headers, body, fault: Fault) -> None:
        keep = {k: v for k, v in headers.items() if k in ("authorization", "content-type", "accept")}
        request = self.client.build_request(method, self.upstream + path, headers=keep, content=body)
        response = await self.client.send(request, stream=True)
        gone = asyncio.ensure_future(reader.read(1))  # EOF: the client went away
        try:
            head = [f"HTTP/1.1 {response.status_code} Relayed", "Connection: close", "Transfer-Encoding: chunked",
                    f"Content-Type: {response.headers.get('content-type', 'application/octet-stream')}"]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
            data_lines = 0
            async for line in response.aiter_lines():
                if gone.done():
                    self.disconnects += 1
                    return
                if line.startswith("data:"):
                    if data_lines == fault.drop_after:
                        return
                    if data_lines == fault.malformed_after:
                        writer.write(_chunk(b"data: {this is not json\n\n"))
                        await writer.drain()
                    if data_lines == fault.stall_after:
                        await asyncio.wait([gone], timeout=HANDLER_LIMIT_S - 5)
                        self.disconnects += gone.done()
                        return
                    data_lines += 1
                writer.write(_chunk(line.encode() + b"\n"))
                await writer.drain()
            writer.write(b"0\r\n\r\n")  # the end of a chunked body: a drop above leaves it incomplete
            await writer.drain()
            if gone.done():
                self.disconnects += 1
        finally:
            gone.cancel()
            await response.aclose()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"
