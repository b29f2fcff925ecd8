"""Serving N variants in the app (train.generate.Generator), three measurements:

serving     one base model + switchable LoRA adapters, against what a user would otherwise write: one
            PeftModel.from_pretrained(base) per variant (load time, parameter memory, one answer each);
concurrency time to first token and tokens/s for 1 vs N variants, answered one after another (the old
            Compare page: one st.write_stream per column) or in one batched generate with each row under
            its own adapter (PEFT mixed-adapter batches: what Compare and Arena do now);
arena       a battle end to end at the Arena's defaults (two random variants, 64 new tokens, sampling),
            through the page's background Job, against one variant's answer alone; and the old path
            (two answers in turn, all cores for torch, the old 128-token default).
app         tokens/s per column in the real app (`streamlit run` + headless chromium at 1400x900, the
            shipped config) against the same batch in a plain process, for Compare (every variant) and
            Arena (two variants), at the current load and again next to a competing job (one process
            spinning a core). Needs --run and Debian chromium. `--app-config` adds Streamlit flags, e.g.
            `--app-config=--runner.postScriptGC=true` for the old behaviour; CURATE_STREAM_REFRESH_S=0.4
            redraws as often as the old pages did.

    .venv/bin/python benchmarks/bench_app_generate.py [--run RUN] [--adapters 3] [--tokens 64]
        [--sections serving,concurrency,arena,app] [--threads 1] [--prompts 3]
Without --run, random LoRA adapters (r=4, q/v) are made on --model; with --run, the run's own adapters.
Prints wall and process CPU seconds (CPU includes torch's threads) and the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MSGS = [{"role": "user", "content": "Give me three tips for a good night's sleep, with a reason for each."}]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn):
    w, c = time.perf_counter(), _cpu()
    out = fn()
    return out, time.perf_counter() - w, _cpu() - c


def _param_mb(models) -> float:
    seen, total = set(), 0
    for m in models:
        for p in m.parameters():
            if p.data_ptr() not in seen:
                seen.add(p.data_ptr())
                total += p.numel() * p.element_size()
    return total / 2**20


def serving(run: Path, base: str, names: list[str], tokens: int) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curate.train.generate import Generator, list_variants

    def ours():
        gen = Generator(list_variants(run), device="cpu")
        for n in names:
            gen.load(n)
        return gen

    gen, ours_load, _ = _timed(ours)
    ours_mb = _param_mb([next(iter(gen._bases.values())).model])
    _, ours_gen, _ = _timed(lambda: [gen.generate(n, MSGS, max_new_tokens=tokens, temperature=0) for n in names])
    tok = AutoTokenizer.from_pretrained(base)
    separate, theirs_load, _ = _timed(lambda: {n: PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base), str(run / "models" / n / "adapter")).eval() for n in names})
    theirs_mb = _param_mb(separate.values())

    def theirs():
        for m in separate.values():
            enc = tok.apply_chat_template(MSGS, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            with torch.inference_mode():
                m.generate(**enc, max_new_tokens=tokens, do_sample=False, pad_token_id=tok.pad_token_id)

    _, theirs_gen, _ = _timed(theirs)
    print(f"\n## serving: {len(names)} adapters, {tokens} new tokens each")
    print(f"{'':28}{'curate Generator':>18}{'PeftModel per variant':>24}{'ratio':>8}")
    print(f"{'load (s)':28}{ours_load:>18.1f}{theirs_load:>24.1f}{theirs_load / ours_load:>8.2f}")
    print(f"{'parameter memory (MiB)':28}{ours_mb:>18.0f}{theirs_mb:>24.0f}{theirs_mb / ours_mb:>8.2f}")
    print(f"{'one answer per variant (s)':28}{ours_gen:>18.1f}{theirs_gen:>24.1f}{theirs_gen / ours_gen:>8.2f}")


def _sequential(gen, names: list[str], tokens: int) -> dict:
    """One variant after another, as the old Compare page streamed its columns."""
    from curate.train.generate import Answer

    out = []
    start = time.perf_counter()
    first = None
    for n in names:
        a = gen.generate_batch([(n, MSGS)], max_new_tokens=tokens, temperature=0, answers=[Answer(n)])[0]
        if first is None:
            first = a.first_token_s
        out.append(a)
    return {"answers": out, "ttft_first": first, "ttft_last": time.perf_counter() - start - out[-1].seconds
            + (out[-1].first_token_s or 0)}


def _batched(gen, names: list[str], tokens: int) -> dict:
    out = gen.generate_batch([(n, MSGS) for n in names], max_new_tokens=tokens, temperature=0)
    ttfts = [a.first_token_s or 0 for a in out]
    return {"answers": out, "ttft_first": min(ttfts), "ttft_last": max(ttfts)}


def concurrency(gen, names: list[str], tokens: int, repeats: int) -> None:
    print(f"\n## concurrency: {tokens} new tokens (greedy), median of {repeats}")
    print(f"{'':34}{'wall s':>8}{'CPU s':>8}{'TTFT first':>11}{'TTFT last':>10}{'tokens':>8}{'tok/s':>8}")
    rows = {}
    for label, fn, ns in (("1 variant", _batched, names[:1]),
                          (f"{len(names)} variants, one after another", _sequential, names),
                          (f"{len(names)} variants, one batch", _batched, names)):
        runs = [_timed(lambda fn=fn, ns=ns: fn(gen, ns, tokens)) for _ in range(repeats)]
        res, wall, cpu = sorted(runs, key=lambda r: r[1])[len(runs) // 2]
        n_tok = sum(a.tokens for a in res["answers"])
        rows[label] = wall
        print(f"{label:34}{wall:>8.1f}{cpu:>8.1f}{res['ttft_first']:>11.2f}{res['ttft_last']:>10.2f}"
              f"{n_tok:>8}{n_tok / wall:>8.1f}")
    seq, bat = rows[f"{len(names)} variants, one after another"], rows[f"{len(names)} variants, one batch"]
    print(f"batched vs one after another: {seq / bat:.2f}x faster; batch of {len(names)} vs 1 variant: "
          f"{bat / rows['1 variant']:.2f}x the time")


def arena(run: Path, names: list[str], repeats: int, threads: int) -> None:
    """A battle through app.background.Job at the Arena's defaults, vs one answer, vs the old path."""
    import torch

    from curate.app.background import Job
    from curate.app.state import ARENA_MAX_NEW_TOKENS, SETTINGS_DEFAULTS
    from curate.train.generate import Generator, list_variants

    gen = Generator(list_variants(run), device="cpu")
    for n in names:
        gen.load(n)
    new = {"temperature": SETTINGS_DEFAULTS["temperature"], "min_p": SETTINGS_DEFAULTS["min_p"], "seed": None}
    rng = random.Random(0)

    def battle(tokens: int) -> float:
        a, b = rng.sample(names, 2)
        w = time.perf_counter()
        Job(gen, [(a, MSGS), (b, MSGS)], {**new, "max_new_tokens": tokens}).wait()
        return time.perf_counter() - w

    def one(tokens: int) -> float:
        w = time.perf_counter()
        Job(gen, [(rng.choice(names), MSGS)], {**new, "max_new_tokens": tokens}).wait()
        return time.perf_counter() - w

    def old(tokens: int) -> float:
        a, b = rng.sample(names, 2)
        w = time.perf_counter()
        for n in (a, b):
            gen.generate(n, MSGS, max_new_tokens=tokens, **new)
        return time.perf_counter() - w

    print(f"\n## arena: median wall seconds of {repeats} (sampling, temperature {new['temperature']}, "
          f"min_p {new['min_p']})")
    torch.set_num_threads(threads)
    c = _cpu()
    t_one = statistics.median(one(ARENA_MAX_NEW_TOKENS) for _ in range(repeats))
    t_battle = statistics.median(battle(ARENA_MAX_NEW_TOKENS) for _ in range(repeats))
    new_cpu = _cpu() - c
    print(f"one variant's answer, {ARENA_MAX_NEW_TOKENS} tokens, {threads} torch thread(s): {t_one:.1f} s")
    print(f"battle now (both answers in one batch), {ARENA_MAX_NEW_TOKENS} tokens: {t_battle:.1f} s "
          f"= {t_battle / t_one:.2f}x one answer (target <= 2x); CPU {new_cpu:.1f} s for both rows")
    torch.set_num_threads(os.cpu_count() or 1)
    c = _cpu()
    t_old = statistics.median(old(SETTINGS_DEFAULTS["max_new_tokens"]) for _ in range(repeats))
    print(f"battle before (answers in turn, {os.cpu_count()} torch threads, "
          f"{SETTINGS_DEFAULTS['max_new_tokens']} tokens): {t_old:.1f} s = {t_old / t_battle:.2f}x the battle now; "
          f"CPU {_cpu() - c:.1f} s")
    torch.set_num_threads(threads)


STATS = re.compile(r"(\d+) tokens? in ([\d.]+) s \(([\d.]+) tok/s, first token after ([\d.]+) s\)")
APP_PROMPTS = ["Give me three tips for a good night's sleep, with a reason for each.",
               "Explain the difference between a list and a tuple in Python.",
               "Summarize the water cycle in a short paragraph."]


_GEN: dict = {}


def _outside(run: Path, names: list[str], prompts: list[str], settings: dict) -> list[float]:
    """tok/s of every answer of the same batches in a plain process (the model's own speed), with the
    app's torch threads (set in ``main``) and device."""
    from curate.train.generate import Generator, list_variants

    if run not in _GEN:
        _GEN[run] = Generator(list_variants(run), device="cpu")
        _GEN[run].generate_batch([(names[0], MSGS)], max_new_tokens=4, temperature=0)  # warm up
    rates = []
    for p in prompts:
        answers = _GEN[run].generate_batch([(n, [{"role": "user", "content": p}]) for n in names], **settings)
        rates += [a.tokens_per_s for a in answers if a.tokens > 1]
    return rates


def _page_rates(text: str) -> list[float]:
    return [float(m.group(3)) for m in STATS.finditer(text) if int(m.group(1)) > 1]


_DONE = r"^(?![\s\S]*generating\.\.\.)[\s\S]*"


def _compare(browser: object, url: str, prompts: list[str]) -> list[float]:
    browser.render(url, "Compare variants")
    rates: list[float] = []
    for i, p in enumerate(["Hi", *prompts]):  # the first loads the model: not counted
        browser.click("New chat")
        browser.type_into("textarea[data-testid=stChatInputTextArea]", p, "button[data-testid=stChatInputSubmitButton]")
        browser.wait_text(r"generating\.\.\.", 120)
        text = browser.wait_text(_DONE + r"Regenerate", 900)
        rates += _page_rates(text) if i else []
    return rates


def _arena(browser: object, url: str, prompts: list[str]) -> list[float]:
    browser.render(f"{url}/arena", "Blind arena")
    rates: list[float] = []
    box = "document.querySelector('textarea[aria-label=Prompt]')"
    for i, p in enumerate(["Hi", *prompts]):
        browser.js(f"{box}.focus(); {box}.select()")
        browser.call("Input.insertText", text=p)  # replaces the selection, as typing would
        time.sleep(0.5)
        browser.js(f"{box}.blur()")  # Streamlit takes a text area's value when it loses focus
        time.sleep(1.5)
        browser.click("Ask two models")
        browser.wait_text(r"generating\.\.\.", 120)
        text = browser.wait_text(_DONE + r"A is better", 900)
        rates += _page_rates(text) if i else []
    return rates


def _inside(run: Path, prompts: list[str], config: tuple[str, ...], shots: Path | None) -> dict[str, list[float]]:
    """tok/s of every answer as the app shows it, Compare (all variants) then Arena (two)."""
    from curate.app.testing import Browser, serve, stop, wait_healthy

    with tempfile.TemporaryFile() as log, tempfile.TemporaryDirectory() as profile:
        proc, url = serve(run, log=log, args=("--server.fileWatcherType", "none", *config))
        try:
            wait_healthy(url, proc)
            browser = Browser(Path(profile), size=(1400, 900))
            try:
                out = {"compare": _compare(browser, url, prompts)}
                if shots:
                    browser.screenshot(shots / "bench_compare.png")
                out["arena"] = _arena(browser, url, prompts)
            finally:
                browser.close()
        finally:
            stop(proc)
    return out


def _spinner() -> subprocess.Popen:
    """A competing job: one process keeping a core busy."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def app(run: Path, n_prompts: int, config: tuple[str, ...], shots: Path | None,
        loads: tuple[bool, ...] = (False, True)) -> None:
    """The app's streaming speed against the model's own, at the current load and next to a competing job."""
    from curate.app.state import ARENA_MAX_NEW_TOKENS, SETTINGS_DEFAULTS, STREAM_REFRESH_S
    from curate.train.generate import list_variants

    names = [v.name for v in list_variants(run)]
    prompts = APP_PROMPTS[:n_prompts]
    sampling = {"temperature": SETTINGS_DEFAULTS["temperature"], "min_p": SETTINGS_DEFAULTS["min_p"]}
    print(f"\n## app: tok/s per answer, median over {len(prompts)} prompts x columns (the model alone: before and "
          f"after the app); Compare {len(names)} "
          f"columns x {SETTINGS_DEFAULTS['max_new_tokens']} tokens, Arena 2 x {ARENA_MAX_NEW_TOKENS}; "
          f"redraw every {STREAM_REFRESH_S} s; Streamlit flags {' '.join(config) or '(shipped config)'}")
    print(f"{'load':34}{'page':>9}{'outside':>9}{'in app':>9}{'ratio':>8}")
    for label, competing in [(k, v) for k, v in (("current", False), ("+ a competing job", True)) if v in loads]:
        spin = _spinner() if competing else None
        try:
            time.sleep(2 if competing else 0)
            load0 = os.getloadavg()[0]
            # the model alone just before and just after the app, so a load that drifts meanwhile
            # weighs on both sides alike
            outside: dict[str, list[float]] = {"compare": [], "arena": []}
            for when in ("before", "after"):
                if when == "after":
                    inside = _inside(run, prompts, config, shots if not competing else None)
                outside["compare"] += _outside(run, names, prompts,
                                               {**sampling, "max_new_tokens": SETTINGS_DEFAULTS["max_new_tokens"]})
                outside["arena"] += _outside(run, names[:2], prompts,
                                             {**sampling, "max_new_tokens": ARENA_MAX_NEW_TOKENS})
            load1 = os.getloadavg()[0]
        finally:
            if spin is not None:
                spin.kill()
                spin.wait()
        for page in ("compare", "arena"):
            o, i = statistics.median(outside[page]), statistics.median(inside[page] or [float("nan")])
            print(f"{label + f' (load {load0:.1f}-{load1:.1f})':34}{page:>9}{o:>9.1f}{i:>9.1f}{i / o:>8.0%}")


def lengths(run: Path, limit: int, rows: int) -> None:
    """How long the model's answers to the evaluation prompts run when nothing cuts them: the share that
    ends by itself within each token limit (the Arena's default must let a typical answer finish)."""
    from curate.app.state import SETTINGS_DEFAULTS, prompts
    from curate.train.generate import Generator, list_variants

    variants = list_variants(run)
    gen = Generator(variants, device="cpu")
    sampling = {"temperature": SETTINGS_DEFAULTS["temperature"], "min_p": SETTINGS_DEFAULTS["min_p"]}
    asks = prompts()
    answers = []
    for i in range(0, len(asks), rows):  # every variant answers every prompt, a batch of ``rows`` at a time
        for v in variants:
            answers += gen.generate_batch([(v.name, [{"role": "user", "content": p}]) for p in asks[i:i + rows]],
                                          max_new_tokens=limit, **sampling)
    n = [a.tokens for a in answers]
    ended = [a.tokens for a in answers if a.finish == "eos"]
    print(f"\n## lengths: {len(answers)} answers ({len(asks)} eval prompts x {len(variants)} variants), "
          f"limit {limit}; median {statistics.median(n):.0f} tokens, ended by the model: {len(ended)}")
    for cap in (64, 128, 192, 256, 384):
        print(f"ends by itself within {cap:>3} tokens: {sum(t <= cap for t in ended) / len(answers):.0%}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, default=None, help="a run directory with trained adapters")
    ap.add_argument("--adapters", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) - 1),
                    help="torch threads (the app uses cores - 1)")
    ap.add_argument("--sections", default="serving,concurrency,arena")
    ap.add_argument("--prompts", type=int, default=2, help="app section: prompts per page")
    ap.add_argument("--app-config", action="append", default=[], help="app section: extra Streamlit flags")
    ap.add_argument("--shots", type=Path, default=None, help="app section: save a screenshot here")
    ap.add_argument("--loads", default="current,competing", help="app section: current, competing or both")
    args = ap.parse_args()
    sections = set(args.sections.split(","))

    import torch

    from curate.app.testing import make_adapter
    from curate.models import resolve
    from curate.rundir import write_json
    from curate.train.generate import Generator, list_variants

    torch.set_num_threads(args.threads)
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"torch {args.threads} thread(s)")
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run
        if run is None:
            run, base = Path(tmp), resolve(args.model)
            for i in range(args.adapters):
                make_adapter(base, run / "models" / f"v{i}" / "adapter", seed=i)
                write_json(run / "models" / f"v{i}" / "metrics.json", {"base_model": base, "subset": f"v{i}"})
        variants = list_variants(run)
        base = resolve(variants[0].base_model)
        names = [v.name for v in variants][: args.adapters] if args.run else [f"v{i}" for i in range(args.adapters)]
        if "serving" in sections:
            serving(run, base, [n for n in names if n != "base"], args.tokens)
        if "concurrency" in sections:
            gen = Generator(variants, device="cpu")
            for n in names:
                gen.load(n)
            gen.generate_batch([(names[0], MSGS)], max_new_tokens=4, temperature=0)  # warm up
            concurrency(gen, names, args.tokens, args.repeats)
        if "arena" in sections:
            arena(run, names, args.repeats, args.threads)
        if "lengths" in sections:
            lengths(args.run or run, 384, 22)
        if "app" in sections:
            if args.run is None:
                raise SystemExit("the app section needs --run RUN (a run with trained adapters)")
            loads = tuple(x == "competing" for x in args.loads.split(","))
            app(args.run, args.prompts, tuple(x for c in args.app_config for x in c.split("=", 1)), args.shots, loads)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
