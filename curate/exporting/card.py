"""The exported model's ``README.md``: Hugging Face model-card YAML metadata, then the lineage in words
and tables (every number comes from the lineage dict, which comes from the run's files)."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

# Offline aliases and the hub models they are copies of (curate/models.py).
HUB_NAMES = {"smollm2": ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0")}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def hub_id(name: str | None) -> str | None:
    """The hub id a base model or dataset name stands for, or None for a local path."""
    if not name:
        return None
    if name in HUB_NAMES:
        return HUB_NAMES[name][0]
    return name if _HUB_ID.match(name) and not name.startswith((".", "/", "~")) else None


def front_matter(facts: dict, gguf: list[str]) -> dict[str, Any]:
    """The model card's YAML metadata (https://huggingface.co/docs/hub/model-cards)."""
    base = facts["training"].get("base_model")
    meta: dict[str, Any] = {"library_name": "transformers", "pipeline_tag": "text-generation",
                            "tags": ["curate", "lora", "sft", "chat", *(["gguf"] if gguf else [])]}
    if hub_id(base):
        meta.update(base_model=hub_id(base), base_model_relation="finetune")
    if base in HUB_NAMES:
        meta["license"] = HUB_NAMES[base][1]
    source = facts["input"].get("source")
    if hub_id(source):
        meta["datasets"] = [hub_id(source)]
    meta["curate"] = {"variant": facts["variant"], "subset": facts["subset"]["name"],
                      "recipe_fingerprint": facts["recipe_fingerprint"],
                      "training_rows_sha256": facts["training_rows"]["sha256"],
                      "smoke_scale": bool(facts["smoke_scale"])}
    return meta


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _counts(facts: dict) -> str:
    counts = facts["input"].get("counts") or {}
    removed = counts.get("removed") or {}
    rows = [["read", counts.get("read")], ["quarantined (unreadable)", counts.get("quarantined")]]
    rows += [[f"removed: {reason}", n] for reason, n in sorted(removed.items())]
    rows.append(["kept (the pool)", counts.get("kept")])
    return f"Input `{facts['input'].get('source')}`:\n\n" + _table(["rows", "count"], rows)


def _rule(facts: dict) -> str:
    sub = facts["subset"]
    rule = sub.get("rule") or {}
    keys = ("filter", "rank", "baseline", "diversity", "budget", "quotas", "seed")
    rows = [[k, json.dumps(rule[k]) if isinstance(rule[k], (dict, list)) else rule[k]] for k in keys if k in rule]
    text = f"Subset `{sub['name']}` was chosen by:\n\n" + (_table(["rule", "value"], rows) if rows else "(no rule recorded)\n")
    if sub.get("counts"):
        text += "\nSelection counts: " + ", ".join(f"{k} {_fmt(v)}" for k, v in sub["counts"].items()) + ".\n"
    return text


def _trained(facts: dict) -> str:
    t, r, sub = facts["training"], facts["training_rows"], facts["subset"]
    lora = t.get("lora") or {}
    base = t.get("base_model")
    rows = [["base model", f"{base} ({hub_id(base)})" if hub_id(base) not in (None, base) else base],
            ["backend", t.get("backend")],
            ["LoRA r / alpha / dropout", f"{lora.get('r')} / {lora.get('alpha')} / {lora.get('dropout')}"],
            ["LoRA target modules", ", ".join(lora.get("target_modules") or [])],
            ["steps", t.get("steps")], ["learning rate", t.get("learning_rate")], ["max length", t.get("max_length")],
            ["seed", t.get("seed")], ["subset rows", r["count"]], ["train / validation rows",
                                                                    f"{_fmt(t.get('train_rows'))} / {_fmt(t.get('val_rows'))}"],
            ["rows dropped by training", ", ".join(f"{k} {v}" for k, v in (t.get("dropped_rows") or {}).items()) or 0],
            ["subset tokens (tokens column)", sub.get("tokens")], ["tokens seen in training", t.get("tokens_seen")],
            ["train loss", t.get("train_loss")], ["eval loss (start → end)",
                                                  f"{_fmt(t.get('initial_eval_loss'))} → {_fmt(t.get('eval_loss'))}"],
            ["training rows sha256", f"`{r['sha256']}`"]]
    return _table(["setting", "value"], rows)


def _scores(facts: dict, plot: str | None) -> str:
    dist = facts["score_distributions"]
    if not dist:
        return "No score columns in the run.\n"
    rows = [[c, d["subset"].get("median"), d["pool"].get("median"), d["subset"].get("mean"), d["pool"].get("mean"),
             d["subset"].get("n"), d["pool"].get("n")] for c, d in dist.items()]
    text = _table(["score", "subset median", "pool median", "subset mean", "pool mean", "subset n", "pool n"], rows)
    return text + (f"\n![subset vs pool score distributions]({plot})\n" if plot else "")


def _audit(facts: dict) -> str:
    audit = facts.get("audit")
    if not audit:
        return "No planted-corruption audit was run for this recipe (`curate audit RECIPE`).\n"
    text = (f"`curate audit` planted corruptions into {_fmt(audit.get('planted_rows'))} of {_fmt(audit.get('rows'))} "
            "sampled rows and ran the recipe on them.\n\n")
    sub = audit.get("subset") or {}
    if sub.get("survival"):
        rows = [[k, v.get("subset"), v.get("random")] for k, v in sub["survival"].items()]
        text += (f"Share of each planted kind this subset kept, next to a random subset of the same size "
                 f"(planted share {_fmt(sub.get('planted_share'))} vs {_fmt(sub.get('random_planted_share'))}):\n\n"
                 + _table(["kind", "kept by subset", "kept by random"], rows))
    return text


def _evaluation(facts: dict) -> str:
    ev = facts["evaluation"]
    held = ev["heldout"]
    text = ""
    if held.get("losses"):
        rows = [[("**" + r["variant"] + "**") if r["variant"] == facts["variant"] else r["variant"], r.get("loss"),
                 r.get("perplexity"), r.get("tokens")] for r in held["losses"]]
        text += (f"Held-out loss on {_fmt(held.get('rows'))} conversations no subset contains:\n\n"
                 + _table(["variant", "loss", "perplexity", "tokens"], rows))
    elif held.get("skipped"):
        text += f"Held-out loss skipped: {held['skipped']}\n"
    if ev["winrates"]:
        rows = [[r.get("variant"), r.get("opponent"), r.get("judge"), r.get("n"), r.get("win_rate"),
                 f"[{_fmt(r.get('ci_low'))}, {_fmt(r.get('ci_high'))}]", r.get("lc_win_rate")] for r in ev["winrates"]]
        text += ("\nJudged win rates (ties count half; 95% bootstrap CI over prompts):\n\n"
                 + _table(["variant", "opponent", "judge", "prompts", "win rate", "95% CI", "length-controlled"], rows))
    return text or "The run has no evaluation (`curate evaluate RUN`).\n"


def _scale(facts: dict) -> str:
    reasons = facts["smoke_scale"]
    if not reasons:
        return ""
    return ("> **Smoke-scale numbers.** " + "; ".join(reasons) + ". They show the pipeline works end to end, "
            "not that this subset makes a better model: read the confidence intervals first.\n\n")


def _usage(files: dict) -> str:
    text = ("```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            'tok = AutoTokenizer.from_pretrained("THIS_FOLDER")\n'
            'model = AutoModelForCausalLM.from_pretrained("THIS_FOLDER")\n'
            'ids = tok.apply_chat_template([{"role": "user", "content": "Hi!"}], add_generation_prompt=True,\n'
            '                              return_tensors="pt", return_dict=True)\n'
            "print(tok.decode(model.generate(**ids, max_new_tokens=64)[0]))\n```\n")
    if files.get("gguf"):
        names = ", ".join(f"`{n}`" for n in files["gguf"])
        text += f"\nllama.cpp ({names}; the chat template is in the file): `llama-cli -m {next(iter(files['gguf']))} -cnv`\n"
    if files.get("app"):
        text += "\nChat in the browser: `cd app && pip install -r requirements.txt && streamlit run app.py`.\n"
    return text


def render(facts: dict, files: dict, plot: str | None) -> str:
    """The whole ``README.md``: YAML metadata, then the lineage.

    Args:
        facts: :func:`curate.exporting.lineage.lineage`'s dict.
        files: ``{"model": {"dtype", "bytes"}, "gguf": {name: bytes}, "app": bool}``.
        plot: the score-distribution PNG's file name beside the card, or None.
    Returns:
        The card's text.
    """
    meta = front_matter(facts, list(files.get("gguf", [])))
    t = facts["training"]
    recipe_yaml = yaml.safe_dump(facts["recipe"], sort_keys=False, allow_unicode=True)
    model = files.get("model") or {}
    listing = [["model.safetensors", f"merged {model.get('dtype')}", model.get("bytes")]]
    listing += [[n, "GGUF (llama.cpp)", b] for n, b in (files.get("gguf") or {}).items()]
    parts = [
        "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n",
        f"# {facts['variant']}: {t.get('base_model')} + LoRA on the curated subset `{facts['subset']['name']}`\n",
        _scale(facts),
        f"LoRA adapter merged into its base model, exported by `curate export` from run `{facts['run']}`. "
        "`lineage.json` beside this card holds every fact below, machine-readably.\n",
        "## Files\n\n" + _table(["file", "what", "bytes"], listing),
        "## Use\n\n" + _usage(files),
        "## Training\n\n" + _trained(facts),
        "## Data lineage\n\n" + f"Recipe `{facts['recipe'].get('name')}`, fingerprint `{facts['recipe_fingerprint']}` "
        "(verbatim below).\n\n" + _counts(facts) + "\n" + _rule(facts),
        "### Scores of the trained rows next to the pool\n\n" + _scores(facts, plot),
        "### Audit\n\n" + _audit(facts),
        "## Evaluation\n\n" + _evaluation(facts),
        "## Recipe\n\n<details><summary>recipe (as the run recorded it)</summary>\n\n```yaml\n" + recipe_yaml
        + "```\n</details>\n",
    ]
    return "\n".join(p for p in parts if p)


def summary(facts: dict) -> str:
    """A few lines for the deploy app's sidebar."""
    t = facts["training"]
    base = str(t.get("base_model"))
    base = hub_id(base) or base.rstrip("/").rsplit("/", 1)[-1]  # a local folder by its name only
    lines = [f"**{facts['variant']}**: {base} + LoRA (r={(t.get('lora') or {}).get('r')}) "
             f"on `{facts['subset']['name']}`, {_fmt(facts['training_rows']['count'])} rows, {_fmt(t.get('steps'))} steps."]
    mine = [r for r in facts["evaluation"]["heldout"].get("losses", []) if r["variant"] == facts["variant"]]
    if mine:
        lines.append(f"Held-out loss {_fmt(mine[0].get('loss'))}.")
    for r in facts["evaluation"]["winrates"]:
        if r.get("variant") == facts["variant"]:
            lines.append(f"Win rate vs {r.get('opponent')}: {_fmt(r.get('win_rate'))} "
                         f"[{_fmt(r.get('ci_low'))}, {_fmt(r.get('ci_high'))}].")
    if facts["smoke_scale"]:
        lines.append("Smoke-scale numbers: " + "; ".join(facts["smoke_scale"]) + ".")
    return "\n\n".join(lines)
