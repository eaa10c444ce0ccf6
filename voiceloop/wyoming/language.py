"""Which languages the server accepts, and the script each one writes Chinese in.

Home Assistant asks for a variant (`zh-cn`, `zh-tw`, `zh-hk`) and matches the transcript against
sentences and device names written in that variant's script. The engines write Simplified
(Whisper may drift into Traditional), so every transcript is brought to Simplified first and then,
for the Traditional variants, converted with OpenCC: `s2tw` for Taiwan and `s2hk` for Hong Kong
character forms. Character forms only, no vocabulary rewrites (`s2twp` would turn 软件 into 軟體):
the transcript keeps the words the speaker said.
"""

from __future__ import annotations

from collections.abc import Callable

ZH_VARIANTS = ("zh", "zh-cn", "zh-tw", "zh-hk")
_TARGET = {"zh": None, "zh-cn": None, "zh-tw": "s2tw", "zh-hk": "s2hk"}


def normalise(language: str) -> str:
    """`zh_CN`, `ZH-cn` -> `zh-cn`."""
    return language.strip().lower().replace("_", "-")


class ScriptConverter:
    """OpenCC converters built once and shared by every connection (they are read-only)."""

    def __init__(self) -> None:
        import opencc

        self._to_simplified: Callable[[str], str] = opencc.OpenCC("t2s").convert
        self._targets: dict[str, Callable[[str], str]] = {
            lang: opencc.OpenCC(conf).convert for lang, conf in _TARGET.items() if conf}

    def convert(self, text: str, language: str) -> str:
        """`text` in the script `language` uses; other languages (en) are left as they are."""
        language = normalise(language)
        if language not in _TARGET:
            return text
        simplified = self._to_simplified(text)
        target = self._targets.get(language)
        return target(simplified) if target else simplified


def asr_languages(engine: str, whisper_language: str) -> tuple[str, ...]:
    """What the configured engine can recognise: Mandarin in every variant; English too only for
    Whisper left to detect the language (`asr.whisper.language: ""`), as it is otherwise forced."""
    if engine == "whisper" and not whisper_language:
        return (*ZH_VARIANTS, "en")
    return ZH_VARIANTS


def voice_languages(locale: str) -> tuple[str, ...]:
    """Languages a voice reads, its own first: `zh-CN-XiaoxiaoNeural` -> zh-cn, zh, zh-tw, zh-hk.

    A Mandarin voice reads Traditional text as well as Simplified, so it serves every zh variant.
    """
    parts = normalise(locale).split("-")
    own = "-".join(parts[:2]) if len(parts) > 1 and len(parts[1]) == 2 else parts[0]
    if own.startswith(("zh", "cmn")):
        return tuple(dict.fromkeys((own if own in ZH_VARIANTS else "zh", *ZH_VARIANTS)))
    return tuple(dict.fromkeys((own, parts[0])))
