"""Publish the server over mDNS as `_wyoming._tcp`, the service Home Assistant's discovery looks for."""

from __future__ import annotations

import asyncio
import logging
import socket

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

log = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."


def _lan_address() -> str:
    """The address other machines reach this one at (the route to the mDNS group); no packet is sent."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("224.0.0.251", 5353))
        return probe.getsockname()[0]


class Discovery:
    def __init__(self, zc: AsyncZeroconf, info: AsyncServiceInfo):
        self._zc = zc
        self._info = info

    @classmethod
    async def publish(cls, host: str, port: int, name: str | None = None) -> Discovery:
        if host in ("0.0.0.0", "::", ""):
            address = _lan_address()
        else:
            address = await asyncio.to_thread(socket.gethostbyname, host)  # a name may need DNS
        name = name or f"voiceloop-{socket.gethostname()}"
        info = AsyncServiceInfo(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}", port=port,
                                server=f"{socket.gethostname()}.local.", addresses=[socket.inet_aton(address)],
                                properties={"program": "voiceloop"})
        zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        try:
            await (await zc.async_register_service(info))  # returns the task that announces it
        except BaseException:
            await zc.async_close()
            raise
        log.info("wyoming: published %s at %s:%d over zeroconf", info.name, address, port)
        return cls(zc, info)

    async def close(self) -> None:
        try:
            await (await self._zc.async_unregister_service(self._info))  # the goodbye packets
        finally:
            await self._zc.async_close()
