"""Prometheus metrics, each app with its own `CollectorRegistry` (no process-wide globals).

Turn metrics come from the assistant's `TurnFinished` events; API metrics from the request
middleware and the transcription endpoint.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from voiceloop.engines.batcher import SegmentBatcher
from voiceloop.dialogue.events import AssistantEvent, TurnFinished
from voiceloop.engines.scheduler import EngineScheduler

_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
_RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0)
# Per-turn stages as spans between two of the turn's marks (voiceloop.dialogue.turnlog.MARKS).
# Recognition is the record's own `asr_s`: a reply prepared in a pause was recognised before its endpoint.
STAGES = {"llm_first_token": ("asr_done", "llm_first_token"),
          "first_audio": ("speech_end", "playback_start"), "tts_first_audio": ("first_sentence", "tts_first_audio")}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.turns = Counter("voiceloop_turns", "Dialogue turns by outcome", ["outcome"], registry=r)
        self.stage_seconds = Histogram("voiceloop_turn_stage_seconds", "Per-turn latency of each stage",
                                       ["stage"], buckets=_LATENCY_BUCKETS, registry=r)
        self.barge_ins = Counter("voiceloop_barge_ins", "Replies interrupted by the user", registry=r)
        self.abandoned = Counter("voiceloop_replies_abandoned",
                                 "Replies prepared in a pause the user then went on after (LLM requests wasted)",
                                 registry=r)
        self.errors = Counter("voiceloop_errors", "Turn failures by code", ["code"], registry=r)
        self.asr_rtf = Histogram("voiceloop_asr_real_time_factor", "ASR processing seconds per audio second",
                                 ["source"], buckets=_RTF_BUCKETS, registry=r)
        self.requests = Counter("voiceloop_api_requests", "API requests by endpoint and status",
                                ["endpoint", "method", "status"], registry=r)
        self.request_seconds = Histogram("voiceloop_api_request_seconds", "API request latency", ["endpoint"],
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.queue = Gauge("voiceloop_asr_jobs_waiting", "ASR jobs waiting for the engine", ["priority"], registry=r)
        self.batches = Gauge("voiceloop_asr_service_batches", "Engine calls the dynamic batcher made (GPU), since start",
                             registry=r)
        self.batched = Gauge("voiceloop_asr_service_batched_segments", "Service segments in those calls, since start",
                             registry=r)

    def observe_event(self, event: AssistantEvent) -> None:
        if not isinstance(event, TurnFinished):
            return
        rec = event.record
        outcome = "interrupted" if rec.interrupted else "error" if rec.error else "done"
        self.turns.labels(outcome).inc()
        if rec.interrupted:
            self.barge_ins.inc()
        if rec.abandoned:
            self.abandoned.inc(rec.abandoned)
        if rec.error:
            self.errors.labels(error_code(rec.error)).inc()
        if rec.asr_s is not None:
            self.stage_seconds.labels("asr").observe(rec.asr_s)
        for stage, (a, b) in STAGES.items():
            if a in rec.marks and b in rec.marks:
                self.stage_seconds.labels(stage).observe(max(0.0, rec.marks[b] - rec.marks[a]))

    def render(self, jobs: EngineScheduler, batcher: SegmentBatcher | None = None) -> bytes:
        stats = jobs.stats()
        self.queue.labels("dialogue").set(stats.waiting_dialogue)
        self.queue.labels("service").set(stats.waiting_service)
        if batcher is not None:
            self.batches.set(batcher.calls)
            self.batched.set(batcher.segments)
        return generate_latest(self.registry)


def error_code(error: str) -> str:
    """`llm timeout: ...` -> `llm_timeout`; `ValueError: ...` -> `ValueError`."""
    return error.split(":", 1)[0].strip().replace(" ", "_")[:40] or "unknown"
