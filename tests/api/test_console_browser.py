"""The web console in a real browser (Debian's chromium, driven by Playwright) against a real
`voiceloop serve` process with Whisper base, behind a token."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from api.conftest import make_engines
from playwright.sync_api import expect, sync_playwright
from support.api_server import running_api
from support.cer import cer
from support.net import closed_port
from support.recordings import ZH, read_manifest

from voiceloop.dialogue.events import StateChanged, TurnFinished, TurnState
from voiceloop.dialogue.turnlog import TurnRecord

TOKEN = "console-test-token"
RECORDING = "aishell1_BAC009S0764W0121.wav"
MIC_RECORDING = "funasr_asr_example.wav"  # what the browser's (fake) microphone hears, once
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--no-first-run", "--use-fake-ui-for-media-stream",
                 "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={ZH / MIC_RECORDING}%noloop"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, whisper_base_dir):
    folder = tmp_path_factory.mktemp("console")
    port = closed_port()
    config = folder / "voiceloop.yaml"
    config.write_text(f"asr:\n  engine: whisper\n  device: cpu\n  hotwords_file: {folder / 'hotwords.txt'}\n"
                      f"  whisper:\n    model: {whisper_base_dir}\n    beam_size: 1\n"
                      f"api:\n  port: {port}\n", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "voiceloop", "serve", "--config", str(config)],
                               env={**os.environ, "VOICELOOP_API_TOKEN": TOKEN, "HOME": str(folder)},
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stderr.read()
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "voiceloop serve did not come up in 90 s"
            time.sleep(0.3)
        yield url, folder
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(server, browser):
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.goto(server[0] + "/")
    # the console asks for the token once and keeps it for the session
    page.fill("#token-input", TOKEN)
    page.click("#token-form button[type=submit]")
    yield page
    page.close()


def test_file_page_shows_the_text_of_a_real_recording(page):
    page.click("#tabs button[data-page=file]")
    page.set_input_files("#file-input", str(ZH / RECORDING))
    page.click("#file-go")
    expect(page.locator("#file-result")).to_be_visible(timeout=60_000)
    text = page.locator("#file-text").inner_text()
    assert cer(text, read_manifest()[RECORDING]) <= 0.4, text
    assert page.locator("#file-duration").inner_text() == "4.20 s"
    assert page.locator("#file-speed").inner_text().endswith("x")
    page.screenshot(path="/tmp/voiceloop-console-file.png", full_page=True)


def test_batch_with_a_bad_file_lists_both_rows(page, tmp_path):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"ID3 this is not really an mp3")
    page.click("#tabs button[data-page=batch]")
    page.set_input_files("#batch-input", [str(ZH / "aishell1_BAC009S0724W0121.wav"), str(bad)])
    page.click("#batch-go")
    expect(page.locator("#batch-summary")).to_have_text("1 个成功，1 个失败", timeout=60_000)
    good, failed = page.locator("#batch-table tbody tr.done"), page.locator("#batch-table tbody tr.failed")
    expect(good).to_have_count(1)
    expect(failed).to_have_count(1)
    assert good.locator("td").nth(0).inner_text() == "aishell1_BAC009S0724W0121.wav"
    assert cer(good.locator("td").nth(2).inner_text(), read_manifest()["aishell1_BAC009S0724W0121.wav"]) <= 0.4
    assert failed.locator("td").nth(0).inner_text() == "broken.mp3"
    assert "broken.mp3" in failed.locator("td").nth(2).inner_text()
    page.screenshot(path="/tmp/voiceloop-console-batch.png", full_page=True)


def test_live_page_transcribes_the_browser_microphone(page):
    page.click("#tabs button[data-page=live]")
    expect(page.locator("#live-dialogue-note")).to_have_text("此服务器没有运行语音助手（voiceloop serve）。")
    page.click("#live-record")
    expect(page.locator("#live-status")).to_have_text("录音中…")
    page.wait_for_timeout(6500)  # the 5.5 s recording, played once into the fake microphone
    page.click("#live-record")
    result = page.locator("#live-results li").first
    expect(result).to_be_visible(timeout=60_000)
    text = result.inner_text().rsplit(" (", 1)[0]
    assert cer(text, read_manifest()[MIC_RECORDING]) <= 0.5, text
    page.screenshot(path="/tmp/voiceloop-console-live.png", full_page=True)


def test_system_page_and_english_labels(page):
    page.click("#tabs button[data-page=system]")
    rows = page.locator("#system-table tbody tr")
    expect(rows.first).to_be_visible(timeout=30_000)
    table = page.locator("#system-table").inner_text()
    assert "识别引擎" in table and "whisper" in table and "Python" in table and "MiB" in table
    page.select_option("#lang", "en")
    expect(page.locator("#tabs button[data-page=system]")).to_have_text("System")
    page.click("#system-refresh")
    expect(page.locator("#system-table")).to_contain_text("ASR engine")
    page.screenshot(path="/tmp/voiceloop-console-system.png", full_page=True)
    page.select_option("#lang", "zh")


def test_settings_page_saves_hotwords_to_the_configured_file(page, server):
    page.click("#tabs button[data-page=settings]")
    expect(page.locator("#config-view")).to_contain_text('"engine": "whisper"')
    page.fill("#hotwords-text", "达摩院\n魔搭")
    page.click("#hotwords-save")
    expect(page.locator("#hotwords-status")).to_have_text("已保存")
    assert (server[1] / "hotwords.txt").read_text(encoding="utf-8") == "达摩院\n魔搭\n"


def test_live_page_follows_the_assistants_conversation(browser, tiny_cfg, tiny_asr):
    """`run` mode: the dialogue's state and turns arrive through the event stream as they happen."""
    with running_api(tiny_cfg, make_engines(tiny_cfg, tiny_asr), mode="run") as api:
        api.call(api.ctx.on_event, StateChanged(TurnState.LISTENING, 0, time.monotonic()))
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(api.url + "/console/#live")
        badge = page.locator("#state")
        expect(badge).to_have_text("聆听中")  # replayed on subscribing: the stream is connected
        api.call(api.ctx.on_event, StateChanged(TurnState.THINKING, 1, time.monotonic()))
        expect(badge).to_have_text("思考中")
        record = TurnRecord(1, user_text="今天天气怎么样", reply_text="今天晴，二十度，适合出门。", heard_text="今天晴，",
                            interrupted=True)
        for name, at in (("speech_end", 100.0), ("endpoint", 100.6), ("asr_done", 100.9), ("playback_start", 101.7)):
            record.mark(name, at)
        record.asr_s = 0.3
        api.call(api.ctx.on_event, TurnFinished(record))
        api.call(api.ctx.on_event, StateChanged(TurnState.LISTENING, 1, time.monotonic()))
        turn = page.locator("#live-turns li").first
        expect(turn).to_contain_text("听到: 今天天气怎么样")
        expect(turn).to_contain_text("回答: 今天晴， （被打断）")
        expect(turn).to_contain_text("首个声音 1.70 s")
        expect(badge).to_have_text("聆听中")
        page.screenshot(path="/tmp/voiceloop-console-dialogue.png", full_page=True)
        page.close()
