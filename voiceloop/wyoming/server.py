"""Start and stop the Wyoming server: alone (`voiceloop wyoming`) or beside the dialogue (`voiceloop run`).

Wyoming has no authentication, so where it listens is checked before anything opens: loopback or a
unix socket as configured; any other address only together with `wyoming.allow_from`, the
Home Assistant box's address, and then connections from elsewhere are closed unread. The choice is
logged at startup as a warning, so an open port never goes unnoticed.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlparse

from wyoming.server import AsyncServer

from voiceloop.config import Config, WyomingConfig
from voiceloop.engines import Engines
from voiceloop.errors import ConfigError, VoiceloopError
from voiceloop.netaddr import is_loopback
from voiceloop.wyoming.describe import build_info, served_voice
from voiceloop.wyoming.handler import ConnectionSlots, Network, Services, WyomingHandler
from voiceloop.wyoming.language import ScriptConverter, asr_languages

log = logging.getLogger(__name__)


def parse_allow_from(cfg: WyomingConfig) -> tuple[Network, ...]:
    nets = []
    for i, entry in enumerate(cfg.allow_from):
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"wyoming.allow_from[{i}]: {entry!r} is not an IP address or network "
                              f"(e.g. 192.168.1.20 or 192.168.1.0/24)") from None
    return tuple(nets)


def check_uri(cfg: WyomingConfig) -> tuple[str, str | None, int | None]:
    """(scheme, host, port) of `wyoming.uri`, refusing a non-loopback address without `allow_from`."""
    uri = cfg.uri
    parsed = urlparse(uri)
    if parsed.scheme == "unix" and parsed.path:
        return "unix", None, None
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme != "tcp" or not parsed.hostname or port is None:
        raise ConfigError(f"wyoming.uri: {uri!r}: expected tcp://HOST:PORT (e.g. tcp://127.0.0.1:10300) "
                          f"or unix:///path/to/socket")
    if not is_loopback(parsed.hostname) and not cfg.allow_from:
        raise ConfigError(f"wyoming.uri: {uri} listens beyond this machine, and Wyoming has no "
                          f"authentication; set wyoming.allow_from to the Home Assistant box's address "
                          f"(e.g. [192.168.1.20]) to allow it, or listen on tcp://127.0.0.1:{port}")
    return "tcp", parsed.hostname, port


class WyomingServer:
    """The server over already-loaded engines (owned, and closed, by the caller); `start` listens,
    `stop` closes every connection. Clients speak with the voice's service twin and decode on the
    shared pool, both shared with the HTTP API inside `voiceloop run`."""

    def __init__(self, cfg: Config, engines: Engines):
        self._cfg = cfg
        self._scheme, self._host, self._port = check_uri(cfg.wyoming)
        voice = served_voice(cfg, getattr(engines.tts, "name", cfg.tts.engine))
        self.services = Services(
            engines=engines, info=build_info(cfg, engines.asr.info(), voice), voice=voice,
            asr_languages=asr_languages(cfg.asr.engine, cfg.asr.whisper.language), script=ScriptConverter(),
            max_audio_bytes=cfg.api.max_upload_mb * 2**20, first_clause_chars=cfg.dialogue.first_clause_chars,
            allow_from=parse_allow_from(cfg.wyoming), idle_timeout_s=cfg.wyoming.idle_timeout_s,
            slots=ConnectionSlots(cfg.wyoming.max_connections))
        self._server: AsyncServer | None = None
        self._discovery = None

    async def start(self) -> None:
        """Listen; raises `VoiceloopError` naming `wyoming.uri` when the address cannot be used."""
        uri = self._cfg.wyoming.uri
        server = AsyncServer.from_uri(uri)
        try:
            await server.start(functools.partial(WyomingHandler, self.services))
        except OSError as exc:
            raise VoiceloopError(f"wyoming.uri {uri}: cannot listen there: {exc.strerror or exc}") from None
        self._server = server
        if self._scheme == "tcp" and not is_loopback(self._host):
            log.warning("wyoming: listening on %s beyond this machine; Wyoming has no authentication, so only "
                        "loopback and wyoming.allow_from (%s) may connect", uri,
                        ", ".join(self._cfg.wyoming.allow_from))
        if self._cfg.wyoming.zeroconf:
            await self._publish()
        log.info("wyoming: serving speech-to-text (%s) and text-to-speech (%s) on %s",
                 ", ".join(self.services.asr_languages), self.services.voice.name, uri)

    async def stop(self) -> None:
        if self._discovery is not None:
            await self._discovery.close()
            self._discovery = None
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def _publish(self) -> None:
        from voiceloop.wyoming.discovery import Discovery

        if self._scheme != "tcp" or is_loopback(self._host):
            log.warning("wyoming.zeroconf is on, but %s cannot be reached from Home Assistant; not published",
                        self._cfg.wyoming.uri)
            return
        try:
            self._discovery = await Discovery.publish(self._host or "", self._port or 0)
        except OSError as exc:
            log.error("wyoming: zeroconf publication failed (%s); add the integration by host and port", exc)


@contextlib.asynccontextmanager
async def wyoming_alongside(cfg: Config, engines: Engines) -> AsyncIterator[WyomingServer | None]:
    """For `voiceloop run`: serve Wyoming on the dialogue's engines while the body runs, if enabled.

    A config mistake stops the daemon like any other; an address already in use is logged and the
    dialogue carries on without Wyoming, since the person at the desk matters more.
    """
    if not cfg.wyoming.enabled:
        yield None
        return
    server = WyomingServer(cfg, engines)
    try:
        await server.start()
    except VoiceloopError as exc:
        log.error("wyoming server not started: %s", exc)
        server = None
    try:
        yield server
    finally:
        if server is not None:
            await server.stop()
