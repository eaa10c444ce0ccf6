"""Speech-ready text: what every voice is given for numbers, dates, times, units, signs and Latin words."""

from __future__ import annotations

import pytest

from voiceloop.tts.normalize import for_speech, read_digits, spell_latin

# (what an LLM writes, what the voice must be given)
CASES = [
    # clock times and scores
    ("3:30开会", "三点三十分开会"),
    ("下午2:00出发", "下午两点出发"),
    ("会议在14:05:09开始", "会议在十四点零五分零九秒开始"),
    ("闹钟定在7:05", "闹钟定在七点零五分"),
    ("12:00吃饭", "十二点吃饭"),
    ("0:30睡觉", "零点三十分睡觉"),
    ("比分3:2", "比分三比二"),
    ("２点半见", "两点半见"),
    # dates and years
    ("12月5日", "十二月五日"),
    ("2024年", "二零二四年"),
    ("2023年3月15日星期三", "二零二三年三月十五日星期三"),
    ("2024-12-05", "二零二四年十二月五日"),
    ("截止到2025/1/9", "截止到二零二五年一月九日"),
    ("用了5年", "用了五年"),
    ("2024年的第1天", "二零二四年的第一天"),
    # percentages, fractions, decimals, cardinals
    ("40%", "百分之四十"),
    ("GDP增长了5.2%", "GDP增长了百分之五点二"),
    ("0.5％", "百分之零点五"),
    ("降雨概率30%-40%", "降雨概率百分之三十到百分之四十"),
    ("30‰", "千分之三十"),
    ("1/3", "三分之一"),
    ("2/3的人", "三分之二的人"),
    ("圆周率约等于3.14", "圆周率约等于三点一四"),
    ("共计1234567人", "共计一百二十三万四千五百六十七人"),
    ("1,000元", "一千元"),
    ("第3名", "第三名"),
    ("第2名", "第二名"),
    ("我有2个苹果", "我有两个苹果"),
    ("二年级", "二年级"),
    ("3-5天", "三到五天"),
    ("x=3", "x等于三"),
    # temperatures and signs
    ("-5℃", "零下五摄氏度"),
    ("气温-5℃到12℃", "气温零下五摄氏度到十二摄氏度"),
    ("今天25°C", "今天二十五摄氏度"),
    ("零下3°C", "零下三摄氏度"),
    ("体温98.6℉", "体温九十八点六华氏度"),
    ("账户余额-20元", "账户余额负二十元"),
    # units and currency
    ("跑了5km", "跑了五公里"),
    ("限速30km/h", "限速三十公里每小时"),
    ("重2.5kg", "重二点五公斤"),
    ("喝100ml水", "喝一百毫升水"),
    ("硬盘1TB", "硬盘一T"),
    ("电池5000mAh", "电池五千毫安时"),
    ("房子120m²", "房子一百二十平方米"),
    ("¥99", "九十九元"),
    ("$20", "二十美元"),
    # phone numbers and codes: digit by digit
    ("电话13812345678", "电话幺三八幺二三四五六七八"),
    ("拨打010-12345678", "拨打零幺零幺二三四五六七八"),
    ("+86 13912345678", "加八六幺三九幺二三四五六七八"),
    ("客服400-123-4567", "客服四零零幺二三四五六七"),
    ("订单号0012345678", "订单号零零一二三四五六七八"),
    ("订单号是2024120501", "订单号是二零二四一二零五零一"),
    ("验证码：385920", "验证码：三八五九二零"),
    # nothing to change
    ("你好，今天天气很好。", "你好，今天天气很好。"),
    ("WiFi密码", "WiFi密码"),
]


@pytest.mark.parametrize("text,expected", CASES)
def test_text_is_written_as_it_is_read(text, expected):
    assert for_speech(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("WiFi密码", "歪飞密码"),
    ("USB接口", "优艾斯比接口"),
    ("3G网络", "三吉网络"),
    ("打开APP", "打开诶批批"),
    ("OK，没问题", "欧开，没问题"),
    ("iPhone很贵", "爱疯很贵"),
    ("你好", "你好"),
])
def test_latin_words_become_syllables_for_voices_without_latin(text, expected):
    assert spell_latin(for_speech(text)) == expected


def test_no_digit_survives_a_mixed_reply():
    text = "明天是2024年12月5日，3:30在3号楼开会，气温-5℃到3℃，湿度40%，带上1.5L水，电话13800138000。"
    spoken = for_speech(text)
    assert not any(ch.isdigit() for ch in spoken), spoken


def test_read_digits():
    assert read_digits("110") == "一一零"
    assert read_digits("110", phone=True) == "幺幺零"
