"""Paraformer on onnxruntime, the fast CPU path, with no torch at run time.

Run time: `engine` (the `AsrEngine`), `paraformer` (recogniser sessions), `vad` (FSMN-VAD),
`punc` (CT-Transformer punctuation), `front` (fbank, LFR and CMVN in numpy), `session`
(onnxruntime sessions and model files). Export time, with torch and FunASR: `export` (writes the
ONNX models beside the torch ones, `scripts/fetch-models`) and `gates` (makes the graph's
optional parts skippable).
"""
