"""Every script in benchmarks/ runs at its ``--smoke`` size, for every model it names, and ends with its JSON line.

No test times anything: these keep the benchmarks from rotting (a benchmark broken on main stays broken until
someone runs it at full size). SmolLM2 runs as itself (slow: it loads the real model); the other registry
models a benchmark names (gemma-3-270m, Qwen2.5-Coder), absent where the suite runs, run as a tiny randomly
initialised checkpoint of their architecture row, with SmolLM2's tokenizer, under a directory name that is
not the default model's (so a run collected without ``model=`` is refused, as gemma-3-270m's was).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

SMOLLM2 = pytest.param("smollm2-135m-instruct", marks=pytest.mark.slow, id="smollm2")
PATCHING_KEYS = {"model", "pairs", "layers", "seconds_fast", "seconds_reference", "max_abs_diff", "seconds_tl",
                 "max_abs_diff_tl", "seconds_tl_first_token", "attribution_speedup_vs_exact",
                 "attribution_spearman_mean_profile", "seconds_tl_attribution"}
COLLECT_KEYS = {"benchmark", "model", "n", "plain_s", "collect_s", "collect_unoptimised_s", "overhead", "speedup"}


def tiny_config(row: str, tok):
    """A 3-layer config of ``row`` (gemma3_text: sliding and global layers, softcapping) over ``tok``'s vocabulary."""
    from transformers import Gemma3TextConfig, Qwen2Config

    common = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    if row == "gemma3_text":
        return Gemma3TextConfig(**common, head_dim=16, sliding_window=8, final_logit_softcapping=30.0,
                                layer_types=["sliding_attention", "sliding_attention", "full_attention"])
    return Qwen2Config(**common, tie_word_embeddings=True)


@pytest.fixture(scope="module")
def tiny_of(tmp_path_factory, smollm2_tokenizer):
    """``tiny_of("gemma3_text")``: the directory of a tiny random checkpoint of that row (built once)."""
    from transformers import AutoModelForCausalLM

    built: dict[str, Path] = {}

    def get(row: str) -> str:
        if row not in built:
            torch.manual_seed(0)
            path = tmp_path_factory.mktemp("tiny") / f"tiny-{row}"
            AutoModelForCausalLM.from_config(tiny_config(row, smollm2_tokenizer)).save_pretrained(path)
            smollm2_tokenizer.save_pretrained(path)
            built[row] = path
        return str(built[row])

    return get


@pytest.fixture
def model_arg(request, tiny_of) -> str:
    """The --model argument: a registry name, or ``tiny:<row>`` turned into a tiny checkpoint's directory."""
    name = request.param
    return tiny_of(name.removeprefix("tiny:")) if name.startswith("tiny:") else name


@pytest.fixture(autouse=True)
def same_threads():
    """A benchmark may set torch's thread count for its timing: the rest of the session keeps its own."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("model_arg", [SMOLLM2, "tiny:gemma3_text", "tiny:qwen2"], indirect=True)
def test_patching_speed(bench_script, model_arg, capsys):
    """gemma-3-270m (a Gemma 3 row) and Qwen2.5-Coder (a Qwen2 row) beside SmolLM2: every part timed, the fast
    path agreeing with the reference loop and with TransformerLens on the same numbers."""
    bench_script("patching_speed").main(["--smoke", "--model", model_arg, "--threads", "1"])
    result = last_json(capsys)
    assert PATCHING_KEYS <= result.keys()
    assert result["model"] == model_arg and result["pairs"] == 2 and result["layers"] == 3
    assert result["max_abs_diff"] < 1e-4 and result["max_abs_diff_tl"] < 1e-4


@pytest.mark.parametrize("model_arg", ["tiny:qwen2"], indirect=True)
def test_patching_speed_on_nnsight(bench_script, model_arg, capsys):
    """The workbench's parts on its nnsight backend, TransformerLens's on a bridge of the same checkpoint: the same
    numbers."""
    bench_script("patching_speed").main(["--smoke", "--model", model_arg, "--threads", "1", "--backend", "nnsight"])
    result = last_json(capsys)
    assert result["backend"] == "nnsight" and result["seconds_tl_first_token"] > 0
    assert result["max_abs_diff"] < 1e-4 and result["max_abs_diff_tl"] < 1e-4


@pytest.mark.parametrize("model_arg", [SMOLLM2, "tiny:qwen2"], indirect=True)
def test_collect_overhead(bench_script, model_arg, capsys):
    """SmolLM2 with the peak-memory runs (each in its own process); Qwen2.5-Coder without, as the README runs it."""
    argv = ["--smoke", "--model", model_arg] + ([] if model_arg.startswith("smollm2") else ["--no-memory"])
    bench_script("collect_overhead").main(argv)
    result = last_json(capsys)
    assert COLLECT_KEYS <= result.keys() and result["model"] == model_arg
    assert ("memory_ratio" in result) == ("--no-memory" not in argv)


@pytest.mark.slow
def test_sweep_workers(bench_script, capsys):
    """Its one model is SmolLM2 (slow): one unit on 1 and on 2 local workers."""
    bench_script("sweep_workers").main(["--smoke"])
    result = last_json(capsys)
    assert {"benchmark", "executor", "units", "seconds_1_worker", "seconds_2_workers", "ratio"} <= result.keys()
    assert result["units"] >= 1 and result["seconds_2_workers"] > 0


def test_gpu_scale(bench_script, capsys):
    """Tiny random models of two real configs (a Llama and a Gemma 3, truncated) on the CPU: collect, fast patching
    equal to the reference loop, and both peers equal to the workbench's hooked forward on the first-token metric."""
    bench_script("gpu_scale").main(["--smoke"])
    result = last_json(capsys)
    assert result["benchmark"] == "gpu_scale" and [m["model"] for m in result["models"]] == [
        "llama-3.1-8b-instruct", "gemma-3-12b-it:2"]
    for model in result["models"]:
        assert model["items"] == 6 and model["pairs"] == 3 and model["blocks"] == 2
        assert model["max_abs_diff"] < 1e-5 and model["max_abs_diff_tl"] < 1e-4 and model["max_abs_diff_nnsight"] < 1e-4
        assert model["fast_tflops"] > 0 and 0 < model["fast_fraction_of_peak"] < 1


def test_store_dtype(bench_script, tiny_checkpoint, correct_copy, tmp_path, capsys):
    """A float32 run of a tiny model (half its answers marked correct) recast to float16 and bfloat16: the probes run
    on each and differ from float32's by little, from residual shards of about half the bytes."""
    from workbench.collect import collect

    raw = collect(out=tmp_path / "raw", model=str(tiny_checkpoint), dataset="capitals", limit=12, batch_size=6,
                  max_answer_tokens=4, device="cpu", progress=False)
    run = correct_copy(raw, tmp_path / "run", list(range(0, 12, 2)))
    bench_script("store_dtype").main(["--smoke", "--run", str(run.path)])
    result = last_json(capsys)
    assert result["benchmark"] == "store_dtype" and result["n"] == 12
    for dtype in ("float16", "bfloat16"):
        assert result[dtype]["max_abs_auroc_diff"] < 0.1 and 0 < result[dtype]["max_rel_resid_diff"] < 1e-2
        assert result[dtype]["bytes"] < result["float32"]["bytes"] * 0.6
