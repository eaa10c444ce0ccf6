"""Web pages cannot use the API behind the user's back, token or not: a rebound DNS name (a foreign
Host) gets 400, a foreign Origin 403, and no answer may be framed. The console and probes still work."""

from __future__ import annotations

import httpx
import pytest

from support.api_server import running_api

from api.conftest import make_engines, with_api

READS_AND_WRITES = [("GET", "/status"), ("GET", "/events"), ("GET", "/api/settings"), ("GET", "/api/hotwords"),
                    ("GET", "/metrics"), ("PUT", "/api/hotwords"), ("POST", "/v1/audio/speech")]


@pytest.fixture(scope="module")
def api(tiny_cfg, tiny_asr):
    """No token (the default), as the DNS-rebinding attack needs; `voice.lan` allowed by config."""
    cfg = with_api(tiny_cfg, allowed_hosts=("voice.lan", "Box.Example:8765"))
    with running_api(cfg, make_engines(cfg, tiny_asr)) as running:
        yield running


def _call(api, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body = {"hotwords": ["魔搭"]} if path == "/api/hotwords" else {"input": "你好"}
    with httpx.Client(timeout=30) as client:
        if path == "/events":
            with client.stream(method, api.url + path, headers=headers) as r:
                r.read() if r.status_code != 200 else None
                return r
        return client.request(method, api.url + path, headers=headers,
                              json=body if method != "GET" else None)


def test_a_rebound_dns_name_is_refused_everywhere_but_health(api):
    port = httpx.URL(api.url).port
    for method, path in READS_AND_WRITES:
        r = _call(api, method, path, {"Host": f"attacker.example:{port}"})
        assert r.status_code == 400, (method, path, r.status_code)
        assert "not allowed; add it to api.allowed_hosts" in r.json()["error"]["message"]
    assert _call(api, "GET", "/status", {"Host": "attacker.example"}).status_code == 400
    assert _call(api, "GET", "/status", {"Host": ""}).status_code == 400
    assert api.call(lambda: api.ctx.engines.hotwords.current()) == ()  # the PUT changed nothing
    r = httpx.get(api.url + "/health", headers={"Host": "probe.internal"})
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_loopback_names_and_the_configured_hosts_are_served(api):
    port = httpx.URL(api.url).port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}", "127.0.0.2",
                 "voice.lan", f"VOICE.LAN:{port}", "box.example"):
        r = httpx.get(api.url + "/status", headers={"Host": host}, timeout=30)
        assert r.status_code == 200, host


def test_a_foreign_origin_is_refused_and_the_consoles_own_is_served(api):
    port = httpx.URL(api.url).port
    for origin in ("http://evil.example", f"http://evil.example:{port}", f"http://127.0.0.1:{port + 1}",
                   "null", "file://", f"http://localhost:{port}"):
        for method, path in READS_AND_WRITES:
            r = _call(api, method, path, {"Origin": origin})
            assert r.status_code == 403, (origin, method, path, r.status_code)
            assert "only the console served here may call this API" in r.json()["error"]["message"]
    assert api.call(lambda: api.ctx.engines.hotwords.current()) == ()
    own = {"Origin": f"http://127.0.0.1:{port}"}
    assert _call(api, "GET", "/status", own).status_code == 200
    r = _call(api, "PUT", "/api/hotwords", own)
    assert r.status_code == 200 and r.json()["hotwords"] == ["魔搭"]
    r = httpx.put(api.url + "/api/hotwords", json={"hotwords": []}, timeout=30,
                  headers={"Host": "voice.lan", "Origin": "https://voice.lan"})  # behind a TLS proxy
    assert r.status_code == 200 and r.json()["hotwords"] == []


def test_no_answer_may_be_framed(api):
    for path in ("/console/", "/console/app.js", "/status", "/health", "/nowhere"):
        r = httpx.get(api.url + path, timeout=30)
        assert r.headers["X-Frame-Options"] == "DENY", path
        assert r.headers["Content-Security-Policy"] == "frame-ancestors 'none'", path
    r = httpx.get(api.url + "/status", headers={"Host": "attacker.example"}, timeout=30)
    assert r.status_code == 400 and r.headers["X-Frame-Options"] == "DENY"
