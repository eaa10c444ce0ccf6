"""Turn one sentence of LLM output into text worth speaking.

Models add Markdown, code, links and emoji even when told not to; a voice must not read out
"星号星号" or a URL. Code blocks and URLs are dropped, Markdown markup is removed but its words
kept (link text, table cells, list items), and `inline code` is kept only when it is a single
name (`print`), since that is usually a word in the sentence.
"""

from __future__ import annotations

import re

_FENCED = re.compile(r"(```|~~~).*?(?:\1|\Z)", re.S)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_AUTOLINK = re.compile(r"<(?:https?|ftp|mailto):[^>]*>", re.I)
_URL = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"'，。！？；、）)】]+", re.I)
_INLINE_CODE = re.compile(r"`+([^`]*)`+")
_NAME = re.compile(r"[\w.\-]{1,32}")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]*", re.M)
_QUOTE = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.M)
_BULLET = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+", re.M)
_RULE = re.compile(r"^[ \t]*(?:[-*_][ \t]*){3,}$", re.M)
_TABLE_SEP = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$", re.M)
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|~~)(?=\S)(.+?)(?<=\S)\1")
_UNDERSCORE_EM = re.compile(r"(?<![\w])_(?=\S)(.+?)(?<=\S)_(?![\w])")
_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\U00002600-\U000027BF\U00002B00-\U00002BFF\U00002300-\U000023FF"
    "\U0001F1E6-\U0001F1FF\U0000FE00-\U0000FE0F\U0000200D\U000020E3\U000E0020-\U000E007F"
    "\U00003030\U0000303D\U00003297\U00003299]"
)
_LEFTOVER = re.compile(r"[*#`|>~^\\]+")
_SPACES = re.compile(r"[ \t\u3000]+")


def speakable(text: str) -> str:
    """`text` without markup, code, URLs and emoji; "" when nothing is left to say."""
    text = _FENCED.sub(" ", text)
    text = _IMAGE.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _INLINE_CODE.sub(lambda m: m.group(1) if _NAME.fullmatch(m.group(1)) else " ", text)
    text = _HTML_TAG.sub(" ", text)
    text = _TABLE_SEP.sub(" ", text)
    text = _table_rows(text)
    text = _RULE.sub(" ", text)
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _BULLET.sub("", text)
    for _ in range(2):  # ***bold italic*** and nesting
        text = _EMPHASIS.sub(r"\2", text)
    text = _UNDERSCORE_EM.sub(r"\1", text)
    text = _EMOJI.sub("", text)
    text = _LEFTOVER.sub(" ", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    text = " ".join(line for line in lines if line)
    text = _tidy_cjk_spaces(text)
    return text if any(ch.isalnum() for ch in text) else ""


def _table_rows(text: str) -> str:
    """"| 北京 | 晴 |" -> "北京，晴"."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|") and stripped.count("|") >= 2:
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            line = "，".join(c for c in cells if c)
        out.append(line)
    return "\n".join(out)


def _tidy_cjk_spaces(text: str) -> str:
    """Drop spaces left between CJK characters or before CJK punctuation by removed markup."""
    return re.sub(r"(?<=[\u3000-\u9fff\uff00-\uffef]) (?=[\u3000-\u9fff\uff00-\uffef])", "", text)
