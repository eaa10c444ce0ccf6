"""The event-stream line decoder on its own."""

from voiceloop.llm.sse import SseDecoder


def feed(lines):
    d = SseDecoder()
    return [e for e in (d.feed(x) for x in lines) if e is not None], d


def test_events_comments_and_multiline_data():
    events, d = feed([": ping", "", "data: a", "data:b", "data:  c", "", "event: x", "id: 3", "", "data: [DONE]", ""])
    assert events == ["a\nb\n c", "[DONE]"]
    assert not d.pending


def test_an_event_cut_off_by_the_end_of_the_stream_is_not_dispatched():
    events, d = feed(["data: {\"partial\""])
    assert events == [] and d.pending
