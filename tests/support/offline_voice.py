"""Assistant-style sentences with numbers, times and dates, and their read-back by Whisper base."""

from __future__ import annotations

import re

import numpy as np

from support.cer import cer
from voiceloop.tts.normalize import for_speech

# What an assistant says on a desk: times, dates, temperatures, percentages, prices, phone numbers.
SENTENCES = [
    "好的，明天早上7:30叫你起床。",
    "今天是2024年12月5日，星期四。",
    "北京今天晴，最高气温12℃，最低-3℃。",
    "下午3:15有一个会议，记得提前准备。",
    "这个月的电费是256.8元，比上个月多了15%。",
    "从这里到机场大约35公里，开车要40分钟。",
    "你的航班是下午4:50起飞，现在还有2个小时。",
    "今年的春节是1月29日，还有55天。",
    "客服电话是13812345678，工作时间是早上9点到下午6点。",
    "已经帮你设置了20分钟的计时器。",
    "现在的室内湿度是45%，空气质量良好。",
    "这本书一共有320页，你已经读了一半。",
    "明天降雨概率是80%，出门记得带伞。",
    "你今天走了8526步，大约6公里。",
    "会议改到了周五上午10:00，地点不变。",
    "这台电脑的价格是4999元，现在打九折。",
    "圆周率约等于3.14，这是一个无理数。",
    "提醒你晚上9点给妈妈打电话。",
    "2025年的第一季度，销售额增长了12.5%。",
    "水在100℃的时候会沸腾。",
    "今天的日出时间是6:58，日落时间是16:52。",
    "我们的订单号是2024120501，预计3到5天送达。",
    "你的体温是36.5℃，属于正常范围。",
    "这个房间的面积是25平方米，可以放两张床。",
]


def readback_cer(asr, audio: np.ndarray, reference: str) -> tuple[float, str]:
    """CER of Whisper's transcript of `audio` against `reference`, both spelled out as spoken."""
    heard = asr.transcribe(audio).text
    as_written = re.sub(r"(\d{1,2})\.(\d{2})分", r"\1:\2", heard)  # Whisper writes 七点三十分 as "7.30分"
    return cer(for_speech(as_written), for_speech(reference)), heard
