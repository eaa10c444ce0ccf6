"""A client that reads the answer before it has sent the whole request body, then sends the rest.

It checks the server side of what a plain client (the `openai` SDK, `requests`) needs: those send
every byte before they read, so a server that answers early must not hang up on the rest.
"""

from __future__ import annotations

import json
import socket

import h11
import httpx


def answer_before_body_ends(url: str, headers: list[tuple[str, str]], before: list[bytes],
                            after: list[bytes]) -> tuple[int, dict]:
    """POST the head and the `before` part of a body (h11 frames it), read the whole answer, then
    send `after` as raw bytes. Returns the status and JSON body of the answer; raises
    BrokenPipeError or ConnectionResetError if the server hung up before the body was in, and
    fails if it then does not close cleanly."""
    target = httpx.URL(url)
    conn = h11.Connection(h11.CLIENT)
    with socket.create_connection((target.host, target.port), timeout=10) as sock:
        sock.sendall(conn.send(h11.Request(method="POST", target=target.raw_path,
                                           headers=[("Host", target.host), *headers])))
        for chunk in before:
            sock.sendall(conn.send(h11.Data(data=chunk)))
        events: list = []
        while not events or not isinstance(events[-1], h11.EndOfMessage):
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
            else:
                events.append(event)
        for chunk in after:
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b"", "the server kept the connection open after Connection: close"
    body = b"".join(e.data for e in events if isinstance(e, h11.Data))
    return events[0].status_code, json.loads(body)
