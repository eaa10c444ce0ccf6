"""CT-Transformer punctuation on onnxruntime, with funasr's chunking and sentence-end rules.

The text is cut into words (each Hanzi alone, ASCII runs whole; jieba words when the model has a
`jieba_usr_dict`), classified 20 words at a time; everything after the last full stop or question
mark of a window is carried into the next one (cut at a comma past 200 words), and the text always
ends on a sentence end. Returns one punctuation id per word, as funasr's `punc_array`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voiceloop.asr.onnx.session import open_session, read_model_config, read_tokens, require_file

SPLIT_SIZE = 20
CARRY_LIMIT = 200


class OnnxPunc:
    def __init__(self, model_dir: Path, quantize: bool, threads: int):
        conf = read_model_config(model_dir)
        model_conf = conf.get("model_conf") or {}
        self.punc_list = [str(p) for p in model_conf.get("punc_list", ["<unk>", "_", "，", "。", "？", "、"])]
        self.sentence_end_id = int(model_conf.get("sentence_end_id", 3))
        tokens = read_tokens(model_dir)
        self._ids = {t: i for i, t in enumerate(tokens)}
        self._unk = self._ids.get("<unk>", len(tokens) - 1)
        self._session = open_session(require_file(model_dir, "model", quantize, "asr.punc_model"), threads)
        user_dict = conf.get("jieba_usr_dict")
        self._jieba = _jieba(model_dir / str(user_dict)) if user_dict else None

    def words(self, text: str) -> list[str]:
        if self._jieba is not None:
            return [w for seg in text.split() for w in self._jieba.cut(seg, HMM=False) if w.strip()]
        words: list[str] = []
        for seg in text.split():
            ascii_run = ""
            for ch in seg:
                if len(ch.encode()) == 1:
                    ascii_run += ch
                    continue
                if ascii_run:
                    words.append(ascii_run)
                    ascii_run = ""
                words.append(ch)
            if ascii_run:
                words.append(ascii_run)
        return words

    def punctuate(self, words: list[str]) -> list[int]:
        """One punctuation id per word (index into `punc_list`)."""
        if not words:
            return []
        ids = np.array([self._ids.get(w, self._unk) for w in words], np.int32)
        windows = [(i, min(i + SPLIT_SIZE, len(words))) for i in range(0, len(words), SPLIT_SIZE)]
        result: list[int] = []
        carry = 0  # start index of the words carried into the next window
        for n, (_, end) in enumerate(windows):
            chunk = ids[carry:end]
            punc = self._session.run(None, {"inputs": chunk[None], "text_lengths": np.array([chunk.size], np.int32)})
            marks = [int(i) for i in punc[0][0].argmax(-1)]
            if n < len(windows) - 1:
                cut = self._sentence_end(marks, chunk.size)
                result += marks[: cut + 1]
                carry += cut + 1
            else:
                result += marks
        if self.punc_list[result[-1]] not in ("。", "？"):  # the text always ends on a sentence end
            result[-1] = self.sentence_end_id
        return _per_character(words, result) if self._jieba is not None else result

    def _sentence_end(self, marks: list[int], length: int) -> int:
        """Index of the last sentence end in a window (not its first two or last word); -1 if none."""
        last_comma = -1
        for i in range(len(marks) - 2, 1, -1):
            if self.punc_list[marks[i]] in ("。", "？"):
                return i
            if last_comma < 0 and self.punc_list[marks[i]] == "，":
                last_comma = i
        if length > CARRY_LIMIT and last_comma >= 0:
            marks[last_comma] = self.sentence_end_id
            return last_comma
        return -1

def _per_character(words: list[str], marks: list[int]) -> list[int]:
    """A multi-character Chinese word's mark goes on its last character; the others get none (1)."""
    out: list[int] = []
    for word, mark in zip(words, marks):
        if "\u0e00" <= word[0] <= "\u9fa5" and len(word) > 1:
            out += [1] * (len(word) - 1)
        out.append(mark)
    return out


def _jieba(user_dict: Path):
    import jieba

    jieba.load_userdict(str(user_dict))
    return jieba
