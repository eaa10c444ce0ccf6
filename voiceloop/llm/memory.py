"""Conversation memory: what the LLM is sent each turn, bounded, and cut back to what was heard.

Turn protocol for the dialogue loop::

    if conv.is_reset(text): conv.reset()
    elif conv.should_send(text):
        conv.add_user(text)
        ... stream the reply from conv.messages() ...
        conv.add_assistant(spoken_text, interrupted=barged_in)

A user message whose turn failed (no `add_assistant`) is replaced by the next `add_user`, so the
history always alternates user/assistant, which some chat templates require.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from voiceloop.config import DialogueConfig, LlmConfig
from voiceloop.llm.base import Message

INTERRUPTED_MARK = "…（被打断）"

# Interjections and hesitation sounds that ASR emits for coughs, breaths and "um": an utterance
# made only of these (and punctuation) carries no request. 好/对/行/是/喂 are answers, not noise.
FILLERS = frozenset("嗯啊呃哦噢喔唔哎诶欸额呀哈呵嘿嗷哼")
FILLER_WORDS = frozenset({"um", "uh", "uhm", "umm", "hm", "hmm", "mm", "mhm", "ah", "oh", "er", "eh"})
_TAG = re.compile(r"<[^<>]{0,40}>|\[[^\[\]]{0,40}\]")  # ASR event tags such as <|nospeech|>, [noise]


def normalize(text: str) -> str:
    """NFKC, lower case, with punctuation, symbols and white space removed."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PSZC")


@dataclass(frozen=True, slots=True)
class Turn:
    user: str
    assistant: str


class Conversation:
    """System prompt plus the most recent turns within `history_turns` and `history_chars`."""

    def __init__(self, cfg: LlmConfig, dialogue: DialogueConfig):
        self._system = cfg.system_prompt
        self._max_turns = cfg.history_turns
        self._max_chars = cfg.history_chars
        self._resets = frozenset(p for p in (normalize(x) for x in dialogue.reset_phrases) if p)
        self._turns: list[Turn] = []
        self._pending: str | None = None

    def is_reset(self, text: str) -> bool:
        """The whole utterance is a reset phrase (ignoring punctuation, spaces and case).

        Exact match on purpose: "不要清空对话" must not clear the conversation.
        """
        return normalize(text) in self._resets

    @staticmethod
    def should_send(text: str) -> bool:
        """False for transcripts with nothing to answer: empty, punctuation only, or only fillers.

        "嗯", "。", "啊？", "嗯嗯啊", "[noise]", "um." are dropped; "好", "喂", "嗯，几点了" are sent.
        """
        cleaned = unicodedata.normalize("NFKC", _TAG.sub(" ", text)).lower()
        if any(w not in FILLER_WORDS for w in re.findall(r"[a-z0-9]+", cleaned)):
            return True
        return any(not ch.isascii() and unicodedata.category(ch)[0] in "LN" and ch not in FILLERS
                   for ch in cleaned)

    def reset(self) -> None:
        self._turns.clear()
        self._pending = None

    def add_user(self, text: str) -> None:
        self._pending = text.strip()
        self._trim()

    def add_assistant(self, text: str, interrupted: bool = False) -> None:
        """Close the turn with what the user actually heard; an interrupted reply gets a marker."""
        if self._pending is None:
            raise RuntimeError("add_assistant without a pending add_user")
        text = text.strip()
        if interrupted:
            text = f"{text}{INTERRUPTED_MARK}" if text else INTERRUPTED_MARK.lstrip("…")
        self._turns.append(Turn(self._pending, text))
        self._pending = None
        self._trim()

    def messages(self) -> list[Message]:
        """System prompt, kept turns, then the pending user message if any."""
        out = [Message("system", self._system)] if self._system else []
        for turn in self._turns:
            out += [Message("user", turn.user), Message("assistant", turn.assistant)]
        if self._pending is not None:
            out.append(Message("user", self._pending))
        return out

    @property
    def turns(self) -> tuple[Turn, ...]:
        return tuple(self._turns)

    def _trim(self) -> None:
        """Drop the oldest whole turns until both bounds hold (a pending message always stays)."""
        del self._turns[:max(len(self._turns) - self._max_turns, 0)]
        pending = len(self._pending or "")
        while self._turns and pending + sum(len(t.user) + len(t.assistant) for t in self._turns) > self._max_chars:
            self._turns.pop(0)
