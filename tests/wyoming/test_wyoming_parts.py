"""The parts without a model: audio format conversion, scripts, languages, where the server may listen."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest

from voiceloop.config import WyomingConfig
from voiceloop.configload import parse_config_text
from voiceloop.errors import ConfigError
from voiceloop.wyoming.handler import Services
from voiceloop.wyoming.language import ScriptConverter, asr_languages, voice_languages
from voiceloop.wyoming.pcm import PcmDecoder, check_format, to_pcm16
from voiceloop.wyoming.server import check_uri, parse_allow_from


def _encode(x: np.ndarray, width: int) -> bytes:
    if width == 1:
        return (np.round(x * 127) + 128).astype(np.uint8).tobytes()
    if width == 3:
        ints = (x * 8388607).astype("<i4").tobytes()
        return b"".join(ints[i:i + 3] for i in range(0, len(ints), 4))
    return (x * (2 ** (8 * width - 1) - 1)).astype(f"<i{width}").tobytes()


@pytest.mark.parametrize("rate, width, channels", [(16000, 2, 1), (44100, 3, 2), (8000, 1, 1), (48000, 4, 6)])
def test_any_format_split_anywhere_becomes_the_same_16k_mono(rate, width, channels):
    t = np.arange(rate) / rate
    mono = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    frames = np.repeat(mono[:, None], channels, axis=1)
    data = _encode(frames.reshape(-1), width)
    one = PcmDecoder(rate, width, channels)
    whole = np.concatenate([one.push(data), one.finish()])
    decoder, pieces, at = PcmDecoder(rate, width, channels), [], 0
    for size in [7, 1, 333, 4096, 13] * 1000:  # cuts inside samples and frames
        pieces.append(decoder.push(data[at:at + size]))
        at += size
    np.testing.assert_array_equal(np.concatenate([*pieces, decoder.finish()]), whole)
    assert whole.size == 16000
    reference = (0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    inner = slice(200, -200)  # the filter's edges at the start and end of the signal aside
    tolerance = 0.01 if width == 1 else 1e-3
    assert np.max(np.abs(whole[inner] - reference[inner])) < tolerance


def test_unreadable_formats_are_named():
    assert "width=5" in check_format(16000, 5, 1)
    assert "rate=0" in check_format(0, 2, 1)
    assert "rate=1000; expected rate 8000-384000 Hz" in check_format(1000, 1, 1)
    assert "channels=True" in check_format(16000, 2, True)
    assert check_format(22050, 2, 2) is None


def test_pcm16_out_is_clipped_little_endian():
    assert to_pcm16(np.array([0.0, 1.0, -1.5], np.float32)) == b"\x00\x00\xff\x7f\x01\x80"


def test_each_variant_gets_its_script_and_keeps_the_words_said():
    script = ScriptConverter()
    assert script.convert("廣州市房地產", "zh-cn") == "广州市房地产"
    assert script.convert("广州市房地产", "zh") == "广州市房地产"
    assert script.convert("广州市房地产", "zh-tw") == "廣州市房地產"
    assert script.convert("广州市房地产", "zh_HK") == "廣州市房地產"
    assert script.convert("打开软件", "zh-tw") == "打開軟件", "character forms only: no s2twp vocabulary rewrite"
    assert script.convert("Turn on the light", "en") == "Turn on the light"


def test_languages_follow_the_engine_and_the_voice():
    assert asr_languages("paraformer", "zh") == ("zh", "zh-cn", "zh-tw", "zh-hk")
    assert asr_languages("whisper", "zh") == ("zh", "zh-cn", "zh-tw", "zh-hk")
    assert asr_languages("whisper", "") == ("zh", "zh-cn", "zh-tw", "zh-hk", "en")
    assert voice_languages("zh-CN-XiaoxiaoNeural") == ("zh-cn", "zh", "zh-tw", "zh-hk")
    assert voice_languages("zh-TW-HsiaoChenNeural")[0] == "zh-tw"
    assert voice_languages("en-US-AriaNeural") == ("en-us", "en")


@pytest.mark.parametrize("uri, allow_from, words", [
    ("tcp://0.0.0.0:10300", (), "Wyoming has no authentication; set wyoming.allow_from"),
    ("tcp://192.168.1.5:10300", (), "listens beyond this machine"),
    ("tcp://127.0.0.1", (), "expected tcp://HOST:PORT"),
    ("http://127.0.0.1:10300", (), "expected tcp://HOST:PORT"),
    ("stdio://", (), "expected tcp://HOST:PORT"),
])
def test_where_to_listen_is_checked_first(uri, allow_from, words):
    with pytest.raises(ConfigError, match="wyoming.uri") as err:
        check_uri(WyomingConfig(uri=uri, allow_from=allow_from))
    assert words in str(err.value)


def test_listening_beyond_loopback_needs_the_clients_named():
    assert check_uri(WyomingConfig(uri="tcp://0.0.0.0:10300", allow_from=("192.168.1.20",))) == \
        ("tcp", "0.0.0.0", 10300)
    assert check_uri(WyomingConfig(uri="tcp://localhost:10300"))[0] == "tcp"
    assert check_uri(WyomingConfig(uri="unix:///run/voiceloop/wyoming.sock"))[0] == "unix"
    with pytest.raises(ConfigError, match=r"wyoming.allow_from\[1\]: 'kitchen'"):
        parse_allow_from(WyomingConfig(allow_from=("192.168.1.0/24", "kitchen")))


def test_only_loopback_and_allowed_clients_are_served():
    services = Services(None, None, None, (), None, 0, 20,
                        allow_from=(ipaddress.ip_network("192.168.1.20"), ipaddress.ip_network("10.0.0.0/8")))
    assert services.allowed(("127.0.0.1", 5000)) and services.allowed(("::1", 5000, 0, 0))
    assert services.allowed(("192.168.1.20", 5000)) and services.allowed(("10.1.2.3", 5000))
    assert services.allowed(("::ffff:192.168.1.20", 5000, 0, 0))
    assert not services.allowed(("192.168.1.21", 5000)) and not services.allowed(("fe80::1%eth0", 5000, 0, 1))
    assert services.allowed("")  # a unix socket has no address


def test_the_config_sections_load_and_check_their_values():
    cfg = parse_config_text("wyoming:\n  enabled: true\n  uri: tcp://0.0.0.0:10300\n  allow_from: [192.168.1.20]\n"
                            "api:\n  max_upload_mb: 5\n")
    assert cfg.wyoming.enabled and cfg.wyoming.allow_from == ("192.168.1.20",) and cfg.api.max_upload_mb == 5
    with pytest.raises(ConfigError, match="wyoming.zeroconf: expected true or false"):
        parse_config_text("wyoming:\n  zeroconf: maybe\n")
    with pytest.raises(ConfigError, match="api.max_upload_mb: 0 is out of range"):
        parse_config_text("api:\n  max_upload_mb: 0\n")
