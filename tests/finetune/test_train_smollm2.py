"""Fine-tuning on the real SmolLM2, kept tiny: 6 items, 3 steps, rank 2.

One uninterrupted training (the CLI experiment's) and one killed after 2 steps then resumed; the checks read both.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
from peft import set_peft_model_state_dict
from safetensors.torch import load_file
from scipy.stats import spearmanr

from workbench.errors import WorkbenchError
from workbench.finetune import adapter as adapters
from workbench.finetune import loss as L
from workbench.finetune.data import subset_run, training_examples
from workbench.finetune.train import FinetuneConfig, prepare, train

CONFIG = FinetuneConfig(target="correctness", rank=2, steps=3, batch_size=6, lr=3e-3, checkpoint_every=1,
                        min_per_class=0, seed=0)


@pytest.fixture(scope="module")
def run6(smollm2_run, tmp_path_factory):
    """Six examples of the session run, the correct ones first (SmolLM2 gets few right)."""
    frame = smollm2_run.records.sort_values("correct", ascending=False, kind="stable")
    return subset_run(smollm2_run, frame["example_id"].head(6).tolist(), tmp_path_factory.mktemp("ft") / "run6")


@pytest.fixture(scope="module")
def experiment(run6, smollm2, tmp_path_factory):
    """``workbench finetune --eval`` on CONFIG's fields (checkpoint_every aside, which is not hashed): held-out
    items collected with the base model, the adapter trained, merged, evaluated and patched across models. Its
    adapter is the uninterrupted training the other tests read."""
    from workbench.cli import main
    from workbench.collect import collect
    from workbench.datasets import load_dataset
    from workbench.finetune.data import write_items

    root = tmp_path_factory.mktemp("experiment")
    trained_on = set(run6.records["item_id"])
    heldout = [it for it in load_dataset("capitals") if it.item_id not in trained_on][:4]
    base = collect(out=root / "heldout", loaded=smollm2, dataset=str(write_items(heldout, root / "h.jsonl")),
                   limit=None, batch_size=4, progress=False)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["finetune", str(run6.path), "--target", "correctness", "--rank", "2", "--steps", "3",
                     "--batch-size", "6", "--lr", "3e-3", "--min-per-class", "0", "--baselines", "--patch-pairs",
                     "3", "--eval", f"heldout={base.path}", "--out", str(root / "ft")])
    return {"code": code, "printed": printed.getvalue(), "out": root / "ft"}


@pytest.fixture(scope="module")
def trained(run6, experiment, tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    straight_dir = experiment["out"] / "correctness-seed0"  # the CLI's training: returned, not trained again
    straight = train(run6, CONFIG, straight_dir, progress=False)
    killed = train(run6, CONFIG, root / "resumed", stop_after=2, progress=False)
    resumed = train(run6, CONFIG, root / "resumed", progress=False)
    return {"straight": straight, "killed": killed, "resumed": resumed, "straight_dir": straight_dir}


@pytest.fixture(scope="module")
def before_after(run6, trained):
    """Loss parts, vocabulary distributions and answer log-probs with the fresh and the trained adapter."""
    trainer, _ = prepare(run6, CONFIG, progress=False)
    trainer.model.eval()

    def measure():
        examples = trainer.examples
        spans = [(e.answer_start, e.answer_stop) for e in examples]
        with torch.no_grad():
            batch = L.tree_batch([e.input_ids for e in examples], trainer.trie, trainer.pad_id,
                                 read_from=min(a for a, _ in spans))
            hidden = L.hidden_states(trainer.model, batch)
            vocab = L.vocabulary_logprobs(trainer.model, batch, trainer.trie, hidden).exp()
            answer = L.span_logprobs(trainer.model, batch, hidden, spans)
        return {"loss": trainer.evaluate(), "vocab": vocab, "answer": answer}

    before = measure()
    weights = load_file(trained["straight"].path / "adapter_model.safetensors")
    set_peft_model_state_dict(trainer.model, weights)
    return before, measure(), trainer


def test_exact_vocabulary_readout_matches_the_collected_run(run6, before_after):
    before, _, trainer = before_after
    stored = torch.from_numpy(run6.confidence_probs()).float()
    assert torch.allclose(before["vocab"], stored, atol=1e-4)  # a fresh adapter is the base model exactly
    examples = trainer.examples
    greedy = before["answer"].argmax(-1)
    i = 0
    for e in examples:  # at each answer position the base model's greedy token is the recorded answer token
        for p in range(e.answer_start, e.answer_stop - 1):
            assert int(greedy[i]) == e.input_ids[p + 1]
            i += 1
        i += 1  # the last position predicts the token after the answer (a stop token)


def test_loss_decreases_on_the_training_items(trained, before_after):
    before, after, _ = before_after
    assert after["loss"]["confidence_ce"] < before["loss"]["confidence_ce"] - 0.05
    history = [h["loss"] for h in trained["straight"].history]
    assert len(history) == 3 and history[-1] < history[0]


def test_confidence_distribution_moves_toward_the_target(run6, before_after):
    before, after, trainer = before_after
    target = trainer.targets  # [6, 101]
    values = torch.tensor(run6.vocabulary.values, dtype=torch.float32)

    def expected(vocab):
        return (vocab / vocab.sum(-1, keepdim=True)) @ values

    goal = target @ values
    assert (expected(after["vocab"]) - goal).abs().mean() < (expected(before["vocab"]) - goal).abs().mean() - 1.0
    ce = lambda vocab: -(target * vocab.clamp_min(1e-30).log()).sum(-1).mean()  # noqa: E731
    assert ce(after["vocab"]) < ce(before["vocab"])


def test_answer_distribution_stays_within_a_bound(before_after):
    before, after, _ = before_after
    kl = (before["answer"].exp() * (before["answer"] - after["answer"])).sum(-1)  # per answer position
    assert kl.mean() < 0.05 and kl.max() < 0.5
    assert (before["answer"].argmax(-1)[:-1] == after["answer"].argmax(-1)[:-1]).float().mean() >= 0.9


def test_resume_continues_from_the_checkpoint_and_equals_an_uninterrupted_run(trained):
    killed, resumed, straight = trained["killed"], trained["resumed"], trained["straight"]
    assert not killed.complete and killed.manifest["step"] == 2 and killed.path.name == "step-000002"
    assert resumed.complete and resumed.manifest["step"] == 3
    assert [h["step"] for h in resumed.history] == [1, 2, 3]
    assert [h["loss"] for h in resumed.history[:2]] == [h["loss"] for h in killed.history]
    a = load_file(resumed.path / "adapter_model.safetensors")
    b = load_file(straight.path / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert any(b[k].abs().max() > 0 for k in b if "lora_B" in k)  # training moved the adapter
    manifest = adapters.read_manifest(resumed.path)
    assert manifest["base"]["checksum"].startswith("sha256:")
    assert manifest["config_hash"] == straight.manifest["config_hash"]
    assert (resumed.path / "adapter_model.safetensors").exists()


def test_a_finished_run_is_returned_not_retrained_and_another_config_is_refused(run6, trained):
    again = train(run6, CONFIG, trained["straight_dir"], progress=False)
    assert again.history == trained["straight"].history
    with pytest.raises(WorkbenchError, match="another config"):
        train(run6, FinetuneConfig(**{**CONFIG.to_dict(), "target_modules": ("q_proj",), "lr": 1e-3}),
              trained["straight_dir"], progress=False)


def test_adapter_for_another_base_model_is_refused(trained, tiny_checkpoint, tmp_path):
    model, _, info = adapters.load_base(str(tiny_checkpoint), device="cpu")
    with pytest.raises(WorkbenchError, match="trained on"):
        adapters.apply_adapter(model, info, trained["straight"].path)
    with pytest.raises(WorkbenchError, match="trained on"):
        adapters.merge(trained["straight"].path, tmp_path / "merged", base=str(tiny_checkpoint))
    with pytest.raises(WorkbenchError, match="unfinished checkpoint"):
        adapters.merge(trained["killed"].path, tmp_path / "merged")


def test_examples_reproduce_the_run_prompt_and_gold(run6, before_after):
    _, _, trainer = before_after
    examples = training_examples(run6, trainer.tokenizer)
    for e, row in zip(examples, run6.records.itertuples()):
        assert e.input_ids[:e.answer_start + 1] == e.gold_ids[:e.gold_start + 1]
        gold = trainer.tokenizer.decode(e.gold_ids[e.gold_start + 1:-1]).strip()
        assert gold == row.gold
    assert np.isfinite([len(e.input_ids) for e in examples]).all()


def test_the_cli_experiment_trains_merges_evaluates_and_patches_across_models(experiment, smollm2):
    """``workbench finetune --eval``: the adapter is merged, the held-out items are collected again with it,
    compared with the base model's run, and the fine-tuned residuals are patched into the base model."""
    from workbench.store.results import read_result

    printed = experiment["printed"]
    assert experiment["code"] == 0 and "verbal AUROC" in printed and "rho" in printed
    result = read_result(experiment["out"] / "results" / "finetune")
    table = result["comparison"].set_index("variant")
    assert list(table.index) == ["base", "correctness"] and (table["n"] == 4).all()
    assert table.loc["base", "accuracy_change"] == 0
    tuned = experiment["out"] / "correctness-seed0"  # its held-out run was collected from the merged checkpoint
    assert (tuned / "runs" / "heldout" / "manifest.json").exists() and (tuned / "merged").exists()
    assert result["history"]["step"].max() == 3
    gradient = result["patch_gradient"].iloc[0]
    effects = result["patch_effects"]
    mean_effect = effects.groupby("layer")["effect"].mean()  # [layer]: rho is over the per-layer means
    assert np.isfinite(gradient["rho"])
    assert gradient["rho"] == pytest.approx(spearmanr(mean_effect.index, mean_effect.to_numpy())[0])
    assert effects["layer"].nunique() == smollm2.n_layers and effects["pair_id"].nunique() == 3
    assert set(result["patch_controls"]["control"]) >= {"random", "off_position", "reverse"}
