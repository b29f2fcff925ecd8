"""The text rules the no-model scorers share, one home each: the heuristics scorer's per-row definition
(``heuristics.py``) and column version (``heuristic_columns.py``), ``consistency`` and ``texture`` all
import them from here (how an answer ends, what mojibake looks like), none from another scorer.
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
# A UTF-8 lead byte read as cp1252/latin-1, followed by a continuation byte read the same way.
MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160"
                      "\u2039\u0152\u017d\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a"
                      "\u0153\u017e\u0178]|\ufffd")
