"""Fine-tuning a model's verbal confidence toward what its probe knows (LoRA), and measuring what changes.

``train`` a LoRA adapter from a stored run (targets from a saved probe, from correctness, or a constant;
or plain answer supervision as the standard fine-tuning baseline), ``merge`` it into a checkpoint that every
analysis can load, ``evaluate`` before and after on held-out and out-of-distribution runs, patch the
fine-tuned model's residual state into the base model (``cross_model_patching``), and summarize
``replicate``d seeds. See docs/finetune.md.
"""

from workbench.finetune.adapter import apply_adapter, check_base, merge, read_manifest
from workbench.finetune.targets import TARGETS, target_distribution, target_probabilities
from workbench.finetune.train import OBJECTIVES, FinetuneConfig, TrainResult, train

__all__ = ["FinetuneConfig", "TrainResult", "train", "merge", "apply_adapter", "check_base", "read_manifest",
           "TARGETS", "OBJECTIVES", "target_distribution", "target_probabilities"]
