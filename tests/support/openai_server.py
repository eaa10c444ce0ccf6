"""A real OpenAI-compatible streaming chat server on 127.0.0.1, scripted for tests and benchmarks.

HTTP/1.1 over raw asyncio streams, so every failure a client meets in the field can be produced
exactly: error statuses, malformed events, a connection dropped mid-chunk, a model that never
speaks. The server records each request body and notices, from its own side of the socket, when
the client goes away mid-reply (what a real server sees on barge-in).

    async with OpenAIServer(Script(deltas=("你好", "。"))) as srv:
        cfg = LlmConfig(base_url=srv.base_url)
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["ok", "status", "malformed", "disconnect", "stall", "no_done", "json", "html"]
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Script:
    """How the server answers one chat request.

    ok: role chunk, deltas, finish chunk, [DONE]. status: `status` with `error_body` and `headers`.
    malformed: a non-JSON event after the first delta. disconnect: drop the TCP connection after
    `disconnect_after` deltas. stall: headers and role chunk, then silence until the client leaves.
    no_done: finish_reason but no [DONE]. json: one non-streamed completion. html: a web page.
    """

    deltas: tuple[str, ...] = ("你好", "！")
    mode: Mode = "ok"
    delta_delay_s: float = 0.0
    first_token_delay_s: float = 0.0
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    error_body: str = '{"error": {"message": "scripted failure", "type": "test"}}'
    disconnect_after: int = 1
    comments: bool = True  # ": keep-alive" comment lines between events
    split_data: bool = False  # spread each event's JSON over several data: lines


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict | None
    received_at: float = field(default_factory=time.monotonic)
    client_disconnected: bool = False  # the client closed the socket before the reply ended
    disconnected_at: float | None = None
    completed: bool = False  # the whole scripted reply was written


class OpenAIServer:
    """Async context manager; scripts are used in order, the last one repeats."""

    def __init__(self, *scripts: Script, model: str = "test-model"):
        self._scripts: deque[Script] = deque(scripts or (Script(),))
        self.model = model
        self.requests: list[RecordedRequest] = []
        self.disconnected = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *scripts: Script) -> None:
        """Replace the scripts used for the next requests."""
        self._scripts = deque(scripts)

    async def __aenter__(self) -> OpenAIServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        if self._tasks:  # let handlers notice a client that just left before stopping them
            await asyncio.wait(list(self._tasks), timeout=0.5)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def _next_script(self) -> Script:
        return self._scripts.popleft() if len(self._scripts) > 1 else self._scripts[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            req = await _read_request(reader)
            if req is None:
                return
            self.requests.append(req)
            if req.method == "GET" and req.path.endswith("/models"):
                body = json.dumps({"object": "list", "data": [{"id": self.model, "object": "model"}]})
                await _respond(writer, 200, body)
            elif req.method == "POST" and req.path.endswith("/chat/completions"):
                await self._chat(req, self._next_script(), reader, writer)
            else:
                await _respond(writer, 404, '{"error": {"message": "no such route"}}')
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # server shutdown; asyncio's stream callback would log a cancelled handler as an error
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _chat(self, req: RecordedRequest, script: Script, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        if script.mode == "status":
            await _respond(writer, script.status, script.error_body, script.headers)
            return
        if script.mode == "json":
            body = {"choices": [{"message": {"role": "assistant", "content": "".join(script.deltas)},
                                 "finish_reason": "stop"}]}
            await _respond(writer, 200, json.dumps(body, ensure_ascii=False))
            return
        if script.mode == "html":
            await _respond(writer, 200, "<html><body>hello</body></html>", (("Content-Type", "text/html"),))
            return
        watcher = asyncio.create_task(self._watch_disconnect(req, reader))
        try:
            await _SseWriter(writer, script, req).run(watcher)
        except ConnectionError:
            await asyncio.wait_for(watcher, 5.0)
        finally:
            watcher.cancel()

    async def _watch_disconnect(self, req: RecordedRequest, reader: asyncio.StreamReader) -> None:
        """The client sends nothing after its request, so EOF here means it closed the socket."""
        try:
            while await reader.read(4096):
                pass
        except ConnectionError:
            pass
        if req.completed:
            return  # a client closing after the last byte is not a disconnect
        req.client_disconnected = True
        req.disconnected_at = time.monotonic()
        self.disconnected.set()


class _SseWriter:
    """Writes one scripted reply as a chunked text/event-stream."""

    def __init__(self, writer: asyncio.StreamWriter, script: Script, req: RecordedRequest):
        self._w = writer
        self._s = script
        self._req = req

    async def run(self, watcher: asyncio.Task) -> None:
        s = self._s
        head = ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        self._w.write(head.encode())
        await self._event({"role": "assistant", "content": ""})
        if s.mode == "stall":
            await watcher  # until the client gives up
            raise ConnectionError("client left")
        await asyncio.sleep(s.first_token_delay_s)
        for i, delta in enumerate(s.deltas):
            if s.mode == "disconnect" and i == s.disconnect_after:
                self._w.transport.abort()
                return
            if i:
                await asyncio.sleep(s.delta_delay_s)
            await self._event({"content": delta})
            if s.mode == "malformed" and i == 0:
                await self._chunk('data: {"choices": [{"delta": {"content": "oops"\n\n')
        await self._event({}, finish="stop")
        self._req.completed = True
        if s.mode != "no_done":
            await self._chunk("data: [DONE]\n\n")
        self._w.write(b"0\r\n\r\n")
        await self._w.drain()

    async def _event(self, delta: dict, finish: str | None = None) -> None:
        chunk = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": "test-model",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        text = json.dumps(chunk, ensure_ascii=False)
        if self._s.split_data:
            cut = text.index('"choices"')  # JSON tolerates the newline the decoder joins with
            event = f"data: {text[:cut]}\ndata: {text[cut:]}\n\n"
        else:
            event = f"data: {text}\n\n"
        if self._s.comments:
            event = ": keep-alive\n\n" + event
        await self._chunk(event)

    async def _chunk(self, text: str) -> None:
        data = text.encode()
        self._w.write(b"%x\r\n%s\r\n" % (len(data), data))
        await self._w.drain()


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    raw = await reader.readexactly(length) if length else b""
    body = json.loads(raw) if raw else None
    return RecordedRequest(method, path, headers, body)


async def _respond(writer: asyncio.StreamWriter, status: int, body: str,
                   headers: tuple[tuple[str, str], ...] = ()) -> None:
    data = body.encode()
    names = {k.lower() for k, _ in headers}
    extra = list(headers) + ([] if "content-type" in names else [("Content-Type", "application/json")])
    head = f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\nContent-Length: {len(data)}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in extra) + "\r\n"
    writer.write(head.encode() + data)
    await writer.drain()


class ThreadedOpenAIServer:
    """The same server on its own event loop in a thread, for synchronous tests and subprocess daemons."""

    def __init__(self, *scripts: Script, model: str = "test-model"):
        self._args = (scripts, model)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="openai-server", daemon=True)
        self.server: OpenAIServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return self.server.base_url

    @property
    def requests(self) -> list[RecordedRequest]:
        assert self.server is not None
        return list(self.server.requests)

    def __enter__(self) -> ThreadedOpenAIServer:
        self._thread.start()
        scripts, model = self._args

        async def start() -> OpenAIServer:
            return await OpenAIServer(*scripts, model=model).__aenter__()

        self.server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        asyncio.run_coroutine_threadsafe(self.server.__aexit__(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
