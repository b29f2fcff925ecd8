"""`curate export`: merged model vs adapter-on-base logits, GGUF round trips (f16, q8_0) read back by
transformers and GGUFReader, the card's metadata and every lineage number against the run's files, the
errors (one line, nothing half-written), the push (mocked), the deploy app (AppTest) and the report link.

Everything runs on a tiny Llama with a byte-level BPE tokenizer trained here (GGUF's ``gpt2`` vocabulary),
trained for a few LoRA steps inside a real (heuristics-only) `curate run`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from helpers import recipe, sharegpt, write_jsonl

from curate.errors import UserError
from curate.rundir import RunDir, write_json

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
PROMPTS = [[{"role": "user", "content": "How do I sort a list in Python?"}],
           [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Explain topic 7, please."}],
           [{"role": "user", "content": "Write one sentence about item 42 and detail numbers."}]]
F16_TOL, Q8_TOL = 2e-3, 5e-2  # max |logit difference| vs the merged fp32 model (tiny model's logits are ~0.1-1)


def build_bpe_lm(out: Path, hidden: int = 64, layers: int = 2, tied: bool = False) -> Path:
    """A random Llama (4 query heads, 2 KV heads: grouped-query attention) with a byte-level BPE
    tokenizer trained on a few sentences and ChatML special tokens, saved like a hub checkpoint."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = [f"Request {i}: explain topic {i} with an example about item {i * 7}. Topic {i} is explained here."
             for i in range(60)] + ["How do I sort a list in Python? Use sorted(items) or items.sort()."]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=420, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    tok.chat_template = CHATML
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok) + 12, hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=512, rms_norm_eps=1e-5, tie_word_embeddings=tied,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def trained_run(root: Path, model_dir: Path) -> Path:
    """A real heuristics-only `curate run` on 40 rows, LoRA-trained on subset ``long`` for 3 steps at a
    high learning rate (so the adapter moves the logits), with evaluation files beside it."""
    import curate
    from curate.train.sft import train_variant

    rows = [sharegpt(f"Request {i}: explain topic {i} with an example about item {i * 7}.",
                     f"Topic {i} is explained here. " + " ".join(f"detail{i}_{k}" for k in range(i % 9 + 3)) + ".")
            | {"source": ["alpha", "beta"][i % 2]} for i in range(40)]
    rows[5] = rows[4]
    src = write_jsonl(root / "in.jsonl", [*rows, "{not json"])
    run = root / "run"
    curate.run(recipe(src, run), progress=False)
    train_variant(run / "subsets" / "long", model=str(model_dir), max_steps=3, max_length=128,
                  learning_rate=3e-2, warmup_steps=0, batch_size=2, grad_accum=1)
    out = RunDir(run)
    write_json(out.eval_dir / "heldout.json", {"rows": 8, "max_length": 256, "losses": [
        {"variant": "base", "loss": 5.9, "perplexity": 365.0, "tokens": 400},
        {"variant": "long", "loss": 5.1, "perplexity": 164.0, "tokens": 400}]})
    write_json(out.eval_dir / "winrates.json", [
        {"variant": "long", "opponent": "base", "judge": "lm:tiny", "n": 4, "wins": 3, "losses": 1, "ties": 0,
         "win_rate": 0.75, "ci_low": 0.5, "ci_high": 1.0, "lc_win_rate": 0.7, "mean_tokens": 20.0}])
    return run


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory) -> Path:
    return build_bpe_lm(tmp_path_factory.mktemp("bpe-lm"))


@pytest.fixture(scope="module")
def run(tmp_path_factory, lm_dir) -> Path:
    return trained_run(tmp_path_factory.mktemp("export-run"), lm_dir)


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    import curate

    return curate.export(run, "long", tmp_path_factory.mktemp("out") / "long", gguf="f16,q8_0", app=True)


def _logits(model, tok) -> list[torch.Tensor]:
    out = []
    with torch.no_grad():
        for chat in PROMPTS:
            ids = tok.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            out.append(model(input_ids=ids["input_ids"]).logits[0])
    return out


def _max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def merged_logits(exported):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(exported.path)
    return _logits(AutoModelForCausalLM.from_pretrained(exported.path).eval(), tok), tok


def test_merged_model_matches_adapter_on_base(run, lm_dir, exported, merged_logits):
    from transformers import AutoModelForCausalLM

    from curate.exporting.merge import load_adapted

    model, tok = load_adapted(str(lm_dir), RunDir(run).model_dir("long") / "adapter")
    adapted = _logits(model, tok)
    merged, merged_tok = merged_logits
    base = _logits(AutoModelForCausalLM.from_pretrained(lm_dir).eval(), tok)
    assert _max_diff(adapted, base) > 1e-2  # the adapter changes the answers: the comparison means something
    assert _max_diff(merged, adapted) < 1e-5
    assert merged_tok.chat_template == CHATML and merged_tok.eos_token == "<|im_end|>"
    assert exported.files["model"]["dtype"] == "float32"
    assert (exported.path / "model.safetensors").stat().st_size == exported.files["model"]["bytes"]


@pytest.mark.parametrize(("kind", "tol"), [("f16", F16_TOL), ("q8_0", Q8_TOL)])
def test_gguf_round_trip_through_transformers(exported, merged_logits, kind, tol, tmp_path):
    """transformers de-quantizes the GGUF (and un-permutes q/k): the logits match the merged model's.
    The file is read alone (as llama.cpp users get it): config, tokenizer and chat template from its metadata."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = f"model-{kind}.gguf"
    os.link(exported.path / name, tmp_path / name)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=name).eval()
    tok = AutoTokenizer.from_pretrained(tmp_path, gguf_file=name)
    assert tok.chat_template == CHATML and model.config.num_key_value_heads == 2
    merged, merged_tok = merged_logits
    for chat in PROMPTS:  # the GGUF vocabulary tokenizes like the original
        a = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
        b = merged_tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True,
                                           return_dict=True)["input_ids"]
        assert list(a) == list(b)
    diff = _max_diff(_logits(model, merged_tok), merged)
    print(f"{kind}: max |logit diff| vs merged fp32 = {diff:.2e}")
    assert diff < tol
    if kind == "f16":
        assert diff > 0  # really read from the file, not the safetensors beside it


def test_gguf_metadata_read_back(exported):
    from gguf import GGMLQuantizationType, GGUFReader, TokenType
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(exported.path)
    tok = AutoTokenizer.from_pretrained(exported.path)
    reader = GGUFReader(exported.path / "model-q8_0.gguf")
    f = {k: v.contents() for k, v in reader.fields.items()}
    expected = {"general.architecture": "llama", "llama.context_length": 512, "llama.block_count": 2,
                "llama.embedding_length": 64, "llama.feed_forward_length": 128, "llama.attention.head_count": 4,
                "llama.attention.head_count_kv": 2, "llama.rope.dimension_count": 16,
                "llama.vocab_size": config.vocab_size, "tokenizer.ggml.model": "gpt2",
                "tokenizer.ggml.bos_token_id": tok.bos_token_id, "tokenizer.ggml.eos_token_id": tok.eos_token_id,
                "tokenizer.ggml.padding_token_id": tok.pad_token_id, "tokenizer.chat_template": CHATML,
                "general.file_type": 7}
    for key, value in expected.items():
        assert f[key] == value, key
    assert f["llama.rope.freq_base"] == pytest.approx(config.rope_parameters["rope_theta"])
    assert f["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-5)
    tokens, types = f["tokenizer.ggml.tokens"], f["tokenizer.ggml.token_type"]
    assert len(tokens) == len(types) == config.vocab_size
    assert tokens[tok.eos_token_id] == "<|im_end|>" and types[tok.eos_token_id] == TokenType.CONTROL
    assert types[-1] == TokenType.UNUSED and tokens[-1] == f"[PAD{config.vocab_size - 1}]"
    assert f["tokenizer.ggml.merges"][0].count(" ") == 1
    by_name = {t.name: t for t in reader.tensors}
    assert by_name["blk.0.attn_q.weight"].tensor_type == GGMLQuantizationType.Q8_0
    assert by_name["blk.0.attn_norm.weight"].tensor_type == GGMLQuantizationType.F32
    assert "output.weight" in by_name  # not tied here; the SmolLM2 test covers tied embeddings


def test_permute_is_what_transformers_reverses():
    import numpy as np
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    from curate.exporting.gguf_file import permute

    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(64, 64)), rng.normal(size=(32, 64))  # 4 heads of 16, 2 KV heads
    proc = LlamaTensorProcessor(config={"num_attention_heads": 4, "num_key_value_heads": 2})
    assert not np.array_equal(permute(q, 4, 4), q)
    assert np.array_equal(proc.process(permute(q, 4, 4), "blk.0.attn_q.weight").weights, q)
    assert np.array_equal(proc.process(permute(k, 4, 2), "blk.0.attn_k.weight").weights, k)


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_card_metadata_and_lineage_match_the_run(run, exported):
    rd = RunDir(run)
    card = exported.card.read_text()
    meta = _front_matter(card)
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "text-generation"
    assert "base_model" not in meta  # a local folder is no hub id
    facts = json.loads((exported.path / "lineage.json").read_text())
    manifest, metrics = rd.manifest(), rd.models()["long"]
    assert facts["input"]["counts"] == manifest["counts"]
    counts = manifest["counts"]
    assert counts["read"] == counts["kept"] + sum(counts["removed"].values()) + counts["quarantined"]
    for reason, n in counts["removed"].items():
        assert f"| removed: {reason} | {n:,} |" in card
    assert f"| read | {counts['read']:,} |" in card and f"| kept (the pool) | {counts['kept']:,} |" in card
    assert facts["recipe"] == manifest["recipe"] and facts["recipe_fingerprint"] in card
    assert facts["subset"]["rule"] == rd.subset_meta("long")["spec"] and facts["subset"]["rule"]["filter"] in card
    for key in ("steps", "learning_rate", "max_length", "seed", "train_rows", "val_rows", "train_loss", "eval_loss"):
        assert facts["training"][key] == metrics[key], key
    assert facts["training"]["lora"] == metrics["lora"]
    assert facts["training_rows"]["ids"] == rd.subset_ids("long")
    assert facts["training_rows"]["count"] == len(rd.subset_ids("long")) == metrics["rows"]
    from curate.exporting.lineage import ids_digest

    assert meta["curate"]["training_rows_sha256"] == ids_digest(rd.subset_ids("long")) == facts["training_rows"]["sha256"]
    assert facts["evaluation"]["heldout"]["losses"] == rd.heldout()["losses"]
    assert facts["evaluation"]["winrates"][0]["win_rate"] == rd.winrates()[0]["win_rate"]
    assert "| **long** | 5.1 |" in card and "[0.5, 1]" in card
    assert facts["smoke_scale"] and "Smoke-scale numbers" in card and meta["curate"]["smoke_scale"] is True
    assert facts["score_distributions"] and "![subset vs pool" in card and (exported.path / "scores.png").exists()
    dist = next(iter(facts["score_distributions"].values()))
    assert dist["pool"]["n"] <= counts["kept"] and dist["subset"]["n"] <= facts["training_rows"]["count"]
    assert "No planted-corruption audit" in card


def test_export_is_recorded_and_folder_is_shareable(run, exported):
    entry = next(e for e in RunDir(run).exports() if e["path"] == str(exported.path))
    assert entry["variant"] == "long" and entry["card"] == str(exported.card)
    assert entry["gguf"] == ["model-f16.gguf", "model-q8_0.gguf"] and entry["app"] is True
    assert oct(exported.path.stat().st_mode & 0o777) == "0o755"
    assert all(p.stat().st_mode & 0o044 for p in exported.path.rglob("*") if p.is_file())
    assert not [p for p in exported.path.parent.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_no_ids_keeps_only_count_and_digest(run, tmp_path):
    import curate

    out = curate.export(run, "long", tmp_path / "x", ids=False, dtype="bfloat16")
    facts = json.loads((out.path / "lineage.json").read_text())
    assert facts["training_rows"]["ids"] is None and len(facts["training_rows"]["sha256"]) == 64
    assert facts["training_rows"]["count"] == len(RunDir(run).subset_ids("long"))
    assert out.files["model"]["dtype"] == "bfloat16" and not list(out.path.glob("*.gguf"))
    assert not (out.path / "app").exists()


def test_refusals_are_one_line_and_write_nothing(run, tmp_path, monkeypatch):
    import curate
    from curate.exporting import checks

    with pytest.raises(UserError, match=r"unknown variant 'nope'; trained variants in .*: long$"):
        curate.export(run, "nope", tmp_path / "a")
    empty = tmp_path / "empty-run"
    empty.mkdir()
    with pytest.raises(UserError, match="has no trained models"):
        curate.export(empty, "long", tmp_path / "a")
    with pytest.raises(UserError, match="unknown GGUF type 'q4'"):
        curate.export(run, "long", tmp_path / "a", gguf="q8_0,q4")
    for inside in (run, run.parent, run / "models" / "long" / "x"):
        with pytest.raises(UserError, match="would overwrite the run"):
            curate.export(run, "long", inside, force=True)
    (tmp_path / "taken").mkdir()
    with pytest.raises(UserError, match="already exists; pass --force"):
        curate.export(run, "long", tmp_path / "taken")
    monkeypatch.setattr(checks.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**12, 10**12 - 1000, 1000))
    with pytest.raises(UserError, match=r"not enough disk in .*: the export needs about .* GB, 0.00 GB free"):
        curate.export(run, "long", tmp_path / "a", gguf="q8_0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty-run", "taken"]


def test_a_failure_midway_leaves_nothing_and_force_keeps_the_old_export(run, tmp_path, monkeypatch):
    import curate
    from curate.exporting import gguf_file

    first = curate.export(run, "long", tmp_path / "out")
    marker = first.path / "mine.txt"
    marker.write_text("keep me until a new export is complete")

    def broken(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(gguf_file, "write_gguf", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        curate.export(run, "long", tmp_path / "out", gguf="f16", force=True)
    assert marker.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    monkeypatch.undo()
    curate.export(run, "long", tmp_path / "out", force=True)
    assert not marker.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_cli_export_and_its_errors(run, tmp_path, capsys):
    from curate.cli import main

    assert main(["export", str(run), "nope", "--to", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown variant 'nope'" in err and "long" in err
    assert main(["export", str(run), "long", "--to", str(tmp_path / "o"), "--no-ids"]) == 0
    out = capsys.readouterr().out
    assert "exported long to" in out and "merged model" in out and "README.md" in out
    assert main(["export", str(run), "long", "--to", str(tmp_path / "o")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_push_to_hub_uploads_the_folder(run, tmp_path, monkeypatch):
    import huggingface_hub

    import curate

    calls = {}
    monkeypatch.setattr(huggingface_hub, "create_repo", lambda repo_id, **kw: calls.setdefault("create", (repo_id, kw)))

    def upload(**kw):
        calls["upload"] = kw
        assert (Path(kw["folder_path"]) / "README.md").exists()  # the folder is complete before the upload
        return type("Info", (), {"commit_url": "https://huggingface.co/me/long/commit/abc"})()

    monkeypatch.setattr(huggingface_hub, "upload_folder", upload)
    out = curate.export(run, "long", tmp_path / "o", app=True, push_to_hub="me/long", token="hf_x")
    assert out.hub_url.endswith("/commit/abc") and calls["create"][0] == "me/long"
    assert calls["upload"]["repo_id"] == "me/long" and calls["upload"]["folder_path"] == str(out.path)
    assert calls["upload"]["ignore_patterns"] == ["app/model/*"]


def test_push_without_token_or_network_is_one_line(tmp_path, monkeypatch):
    import huggingface_hub

    from curate.exporting.hub import push

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(UserError, match="no token; set HF_TOKEN") as e:
        push(tmp_path, "me/x")
    assert "\n" not in str(e.value)

    def offline(*a, **k):
        raise ConnectionError("Failed to resolve 'huggingface.co'\nmore detail")

    monkeypatch.setattr(huggingface_hub, "create_repo", offline)
    with pytest.raises(UserError, match=r"push to hub 'me/x' failed \(ConnectionError: Failed to resolve") as e:
        push(tmp_path, "me/x", token="hf_x")
    assert "\n" not in str(e.value) and "export in" in str(e.value)


def test_deploy_app_folder_answers_in_apptest(exported, monkeypatch):
    from streamlit.testing.v1 import AppTest

    app = exported.path / "app"
    config = (app / ".streamlit" / "config.toml").read_text()
    assert "postScriptGC = false" in config and 'fileWatcherType = "none"' in config
    assert (app / "requirements.txt").read_text().startswith("curate-chat==")
    header = _front_matter((app / "README.md").read_text())
    assert header["sdk"] == "streamlit" and header["app_file"] == "app.py"
    assert (app / "model" / "model.safetensors").stat().st_ino == (exported.path / "model.safetensors").stat().st_ino
    monkeypatch.chdir(app)
    at = AppTest.from_file(str(app / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert any("LoRA" in m.value for m in at.sidebar.markdown)  # the card's summary
    at.chat_input[0].set_value("How do I sort a list?").run()
    assert not at.exception
    msgs = at.chat_message
    assert [m.name for m in msgs] == ["user", "assistant"]
    assert "tokens/s" in msgs[1].caption[0].value
    at.chat_input[0].set_value("And then?").run()
    assert [m.name for m in at.chat_message] == ["user", "assistant", "user", "assistant"]  # the conversation stays


def test_report_links_the_exported_cards(run, exported):
    import curate

    html = curate.report(run).read_text()
    assert "Exports" in html and exported.card.as_uri() in html


def test_best_variant_and_the_demo_export_step(run, tmp_path, capsys):
    from curate.cli.demo import _export_best
    from curate.exporting.best import best_variant

    assert best_variant(RunDir(run)) == ("long", "lowest held-out loss (5.1000)")
    assert best_variant(RunDir(tmp_path)) is None
    result = _export_best(run)
    assert result.path == Path(f"{run}-export") / "long" and (result.path / "model-q8_0.gguf").exists()
    assert (result.path / "app" / "app.py").exists()
    assert f"curate export {run} long --to {result.path} --gguf q8_0 --app" in capsys.readouterr().out
