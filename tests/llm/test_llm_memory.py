"""Conversation memory: bounds, reset phrases, what is worth sending, interrupted replies."""

from __future__ import annotations

import pytest

from voiceloop.config import DialogueConfig, LlmConfig
from voiceloop.llm.base import Message
from voiceloop.llm.memory import INTERRUPTED_MARK, Conversation


def conv(**llm) -> Conversation:
    return Conversation(LlmConfig(system_prompt="你是助手", **llm), DialogueConfig())


def test_messages_start_with_the_system_prompt_and_alternate():
    c = conv()
    c.add_user("你好")
    assert c.messages() == [Message("system", "你是助手"), Message("user", "你好")]
    c.add_assistant("你好！有什么可以帮你？")
    c.add_user("几点了")
    assert [m.role for m in c.messages()] == ["system", "user", "assistant", "user"]
    assert c.messages()[-1].content == "几点了"


def test_history_turns_drops_oldest_whole_turns():
    c = conv(history_turns=2)
    for i in range(5):
        c.add_user(f"问题{i}")
        c.add_assistant(f"回答{i}")
    assert [t.user for t in c.turns] == ["问题3", "问题4"]
    c.add_user("新问题")
    assert [m.content for m in c.messages()] == ["你是助手", "问题3", "回答3", "问题4", "回答4", "新问题"]


def test_history_chars_drops_oldest_turns_but_keeps_the_new_question():
    c = conv(history_turns=50, history_chars=20)
    c.add_user("一" * 5)
    c.add_assistant("二" * 5)  # 10 chars
    c.add_user("三" * 4)
    c.add_assistant("四" * 4)  # 8 chars: 18 in all
    assert len(c.turns) == 2
    c.add_user("五" * 6)  # 24 > 20 with the pending question: the oldest turn goes
    assert [t.user for t in c.turns] == ["三" * 4]
    c.add_assistant("六")
    c.add_user("七" * 30)  # longer than the whole budget on its own: sent anyway, alone
    assert [m.content for m in c.messages()] == ["你是助手", "七" * 30]


def test_zero_history_sends_only_the_question():
    c = conv(history_turns=0)
    c.add_user("甲")
    c.add_assistant("乙")
    c.add_user("丙")
    assert [m.content for m in c.messages()] == ["你是助手", "丙"]


def test_interrupted_reply_keeps_what_was_spoken_plus_a_marker():
    c = conv()
    c.add_user("讲个故事")
    c.add_assistant("从前有座山，", interrupted=True)
    assert c.turns[-1].assistant == "从前有座山，" + INTERRUPTED_MARK
    c.add_user("换一个")
    c.add_assistant("", interrupted=True)  # cut off before any audio
    assert c.turns[-1].assistant == "（被打断）"


def test_a_failed_turn_is_replaced_by_the_next_question():
    c = conv()
    c.add_user("第一句")  # the LLM failed: no add_assistant
    c.add_user("第二句")
    assert [m.content for m in c.messages()] == ["你是助手", "第二句"]
    c.add_assistant("回答")
    with pytest.raises(RuntimeError):
        c.add_assistant("没有提问的回答")


def test_reset_clears_history():
    c = conv()
    c.add_user("a")
    c.add_assistant("b")
    c.reset()
    assert c.messages() == [Message("system", "你是助手")]


@pytest.mark.parametrize("text,expected", [
    ("重新开始", True), ("重新开始。", True), (" 清空 对话！", True), ("清空对话吧", False),
    ("不要清空对话", False), ("我们重新开始讨论这个问题", False), ("", False),
])
def test_is_reset_matches_whole_utterances_only(text, expected):
    assert conv().is_reset(text) is expected


def test_reset_phrases_come_from_config():
    c = Conversation(LlmConfig(), DialogueConfig(reset_phrases=("Start Over",)))
    assert c.is_reset("start over.") and not c.is_reset("重新开始")


@pytest.mark.parametrize("text", ["", "   ", "嗯", "。", "啊？", "嗯嗯啊……", "哈哈哈", "[noise]", "<|nospeech|>",
                                  "um.", "Hmm...", "呃，嗯。"])
def test_should_send_drops_noise(text):
    assert not Conversation.should_send(text)


@pytest.mark.parametrize("text", ["好", "喂？", "嗯，几点了", "对", "hello", "3", "啊，下雨了"])
def test_should_send_keeps_requests(text):
    assert Conversation.should_send(text)
