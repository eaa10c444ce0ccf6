"""Markdown, code, links and emoji never reach the voice; the words around them do."""

import pytest

from voiceloop.tts.textclean import speakable


@pytest.mark.parametrize("text,expected", [
    ("## 今天的天气", "今天的天气"),
    ("**北京**今天*晴*，气温 25°C。", "北京今天晴，气温 25°C。"),
    ("1. 第一点：多喝水。", "第一点：多喝水。"),
    ("- 列表项", "列表项"),
    ("> 引用的话", "引用的话"),
    ("详见 [官网](https://example.com/a_b)。", "详见官网。"),
    ("访问 https://foo.bar/x?y=1 了解更多。", "访问了解更多。"),
    ("邮件 <mailto:a@b.c> 或 www.example.com。", "邮件或。"),
    ("使用 `print` 函数。", "使用 print 函数。"),
    ("运行 `rm -rf /tmp/x` 即可。", "运行即可。"),
    ("| 北京 | 晴 | 25度 |", "北京，晴，25度"),
    ("好的😀👍！", "好的！"),
    ("❤️ 谢谢你 🇨🇳", "谢谢你"),
    ("snake_case_name 是变量名。", "snake_case_name 是变量名。"),
    ("今天 **很好** 呀，__真的__。", "今天很好呀，真的。"),
    ("~~删除~~保留", "删除保留"),
    ("第一行<br>第二行", "第一行第二行"),
    ("Hello, **world**!", "Hello, world!"),
])
def test_markup_is_removed_and_words_kept(text, expected):
    assert speakable(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "```python\nprint(1)\n```", "|---|:---:|", "---", "🎉🎉",
                                  "https://example.com", "**", "。", "![图](a.png)"])
def test_nothing_speakable(text):
    assert speakable(text) == ""
