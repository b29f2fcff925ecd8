"""The rules the heuristics scorer applies, shared by its per-row definition (``heuristics.py``) and its
column version (``heuristic_columns.py``): both import this module, neither imports the other's rules.
"""

from __future__ import annotations

import re

# Special tokens of common chat templates that should never appear inside message text.
TEMPLATE_TOKENS = (
    "<|im_start|>", "<|im_end|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|begin_of_text|>", "<|endoftext|>", "<|assistant|>", "<|user|>", "<|system|>", "<|end|>",
    "[INST]", "[/INST]", "<start_of_turn>", "<end_of_turn>", "<s>", "</s>",
)
TEMPLATE_RE = re.compile("|".join(re.escape(t) for t in TEMPLATE_TOKENS))
# Matched against lower-cased text: no IGNORECASE, which is several times slower on long answers.
REFUSAL_RE = re.compile(
    r"(as an ai(?: language)? model|i(?:'m| am) (?:sorry|afraid),? (?:but )?i (?:can(?:'|no)t|am unable|won't)"
    r"|i can(?:'|no)t (?:help|assist|provide|fulfil+|comply|create|generate) (?:with )?(?:that|this|you)"
    r"|i(?:'m| am) (?:not able|unable) to (?:help|assist|provide|fulfil+|comply)"
    r"|as a large language model|i do not have (?:personal )?(?:opinions|feelings|the ability))",
)
# How a finished sentence, code block, quote or table row ends (CJK full stops included) ...
SENTENCE_END = tuple(".!?)]}\"'`*>|~\u3002\uff01\uff1f")
TERMINAL = (*SENTENCE_END, ":", ";")  # ... and a finished answer: also a colon before a block, a semicolon
