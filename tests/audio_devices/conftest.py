"""One private PulseAudio server for the device tests, with PortAudio pointed at it."""

from __future__ import annotations

import os

import pytest

from support.pulse import PulseServer, pulse_server


@pytest.fixture(scope="module")
def pulse(tmp_path_factory) -> PulseServer:
    saved = os.environ.get("PULSE_SERVER")
    with pulse_server(tmp_path_factory.mktemp("pulse")) as server:
        server.activate()
        yield server
    if saved is None:
        os.environ.pop("PULSE_SERVER", None)
    else:
        os.environ["PULSE_SERVER"] = saved
