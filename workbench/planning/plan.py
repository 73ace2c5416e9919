"""``make_plan(config)``: a run's sizes and costs before it runs, from the model's config.json alone.

A ``Plan`` holds the residual store's bytes on disk, and per stage (collect, probe, patch) the FLOPs, the bytes
moved, the accelerator memory at the peak and a roofline time on the chosen device (``planning.devices``).
``plan.text()`` is the table ``workbench plan`` prints, ``plan.to_dict()`` the JSON line it ends with. How each
number is counted: ``planning.stages`` (the calls) and ``planning.forwards`` (one call's cost).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from workbench.architectures import ARCHITECTURES
from workbench.configs.plan import PlanConfig
from workbench.planning.devices import DEVICES, DeviceSpec, device_spec
from workbench.planning.forwards import DTYPE_BYTES
from workbench.planning.shape import ModelShape
from workbench.planning.stages import Lengths, StageCost, collect_cost, patch_cost, probe_cost, store_bytes, stored

CONTEXT_BYTES = 2 * 2**30  # beside torch's peak: the CUDA context and the caching allocator's slack


@dataclass(frozen=True)
class StagePlan:
    """One stage: ``flops``, bytes ``moved`` to and from memory, accelerator memory at the ``peak`` (weights
    included; None where the stage runs on the CPU), and ``seconds`` on ``device`` (a roofline: a lower bound)."""

    stage: str
    flops: float
    moved: float
    peak: float | None
    seconds: float
    device: str

    def to_dict(self) -> dict[str, Any]:
        return {"flops": self.flops, "moved_bytes": self.moved, "peak_bytes": self.peak, "seconds": self.seconds,
                "device": self.device}


@dataclass(frozen=True)
class Plan:
    """What a run will need: ``store_bytes`` on disk (``residual_bytes`` of them residuals), ``weight_bytes`` on the
    device, and per stage a ``StagePlan``; ``fits``: whether collect and patching fit in one device's memory."""

    model: str
    source: str
    shape: ModelShape
    config: PlanConfig
    device: DeviceSpec
    weight_bytes: float
    store_bytes: int
    residual_bytes: int
    records_bytes: int
    collect: StagePlan
    probe: StagePlan
    patch: StagePlan
    notes: tuple[str, ...]

    @property
    def stages(self) -> tuple[StagePlan, ...]:
        return (self.collect, self.probe, self.patch)

    @property
    def fits(self) -> bool | None:
        """Whether the larger peak plus the CUDA context fits in one device (None: a CPU, not checked)."""
        memory = self.device.memory_bytes
        peaks = [s.peak for s in self.stages if s.peak is not None]
        return None if memory is None else max(peaks) + CONTEXT_BYTES <= memory

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        """Every number in plain units (bytes, FLOPs, seconds): what the JSON line holds."""
        return {"model": self.model, "config_path": self.source, "device": self.device.name,
                "parameters": self.shape.parameters, "weight_bytes": self.weight_bytes,
                "store_bytes": self.store_bytes, "residual_bytes": self.residual_bytes,
                "records_bytes": self.records_bytes, "fits": self.fits, "seconds": self.seconds,
                **{s.stage: s.to_dict() for s in self.stages}, "settings": self.config.to_dict(),
                "notes": list(self.notes)}

    def json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False)

    def text(self) -> str:
        """The readable table ``workbench plan`` prints."""
        c, d, s = self.config, self.device, self.shape
        n, (readouts, roles) = Lengths.of(c), stored(s, c)
        memory = f"{d.memory_gib:g} GiB" if d.memory_gib is not None else "host memory"
        blocks = f"{s.layers} blocks" if c.blocks == "all" else f"{len(c.blocks)} block(s)"
        patching = (f"{c.n_pairs or c.items} pairs x {blocks} x "
                    f"{len(c.roles)} role(s); controls {', '.join(c.controls) or 'none'}"
                    f"{'; attribution' if c.attribution else ''}")
        lines = [
            f"plan for {self.model}",
            f"  config   {self.source}",
            f"  model    {s.describe()}",
            f"  weights  {_size(self.weight_bytes)} in {c.dtype}",
            f"  device   {d.label}: {d.flops_per_s(c.dtype) / 1e12:g} TFLOP/s {c.dtype}, {d.bandwidth_gbs:g} GB/s, "
            f"{memory}",
            f"  collect  {c.items} items in batches of {c.batch_size}; prompts of {c.prompt_tokens} tokens, answers "
            f"of at most {c.max_answer_tokens}; {c.vocabulary} vocabulary ({n.nodes} trie nodes)",
            f"  patch    {patching}",
            "",
            f"residual store: {_size(self.store_bytes)} on disk: residuals {_size(self.residual_bytes)} "
            f"({c.items} items x {readouts} read-outs x {roles} roles x d_model {s.d_model} x "
            f"{DTYPE_BYTES[c.store_dtype]} bytes), records {_size(self.records_bytes)}",
            "",
            f"{'stage':<8} {'FLOPs':>9} {'moved':>10} {'peak memory':>12}  time",
        ]
        for stage in self.stages:
            peak = "CPU" if stage.peak is None else _size(stage.peak)
            over = ("  (over " + memory + ")" if d.memory_bytes is not None and stage.peak is not None
                    and stage.peak + CONTEXT_BYTES > d.memory_bytes else "")
            lines.append(f"{stage.stage:<8} {stage.flops:>9.2e} {_size(stage.moved):>10} {peak:>12}  "
                         f"{_duration(stage.seconds)} on {stage.device}{over}")
        lines.append(f"{'total':<8} {'':>9} {'':>10} {'':>12}  {_duration(self.seconds)}")
        lines += ["", *(f"note: {note}" for note in self.notes)]
        return "\n".join(lines)


def make_plan(config: PlanConfig) -> Plan:
    """The plan of ``config``'s run (reads the model's config.json; never loads weights)."""
    device = device_spec(config.device)
    shape = ModelShape.read(config.model)
    store = store_bytes(shape, config)
    costs = {"collect": collect_cost(shape, config), "patch": patch_cost(shape, config)}
    stages = {name: _timed(name, cost, shape, config, device) for name, cost in costs.items()}
    probe = probe_cost(shape, config)
    cpu = DEVICES["cpu"]
    probe_plan = StagePlan("probe", probe.flops, probe.traffic, None,
                           cpu.seconds(2 * probe.flops, probe.traffic, "float32"), "cpu")  # float64: half fp32's rate
    notes = ["times are rooflines (each forward: the larger of FLOPs / peak and bytes / bandwidth), so lower bounds; "
             "collect counts every batch generating max_answer_tokens tokens, an upper bound",
             f"peak memory is torch's (weights included); fitting also leaves {_size(CONTEXT_BYTES)} for the CUDA "
             "context and allocator slack"]
    if shape.model_type not in ARCHITECTURES:
        notes.append(f"model_type {shape.model_type!r} has no row in workbench/architectures.py: collect runs, but "
                     "patching (fast and reference) needs one")
    if config.dtype == "float32" and device.name != "cpu":
        notes.append("float32 weights run at the device's fp32 rate (no TF32); --dtype bfloat16 is ~15x faster")
    plan = Plan(model=config.model, source=shape.source, shape=shape, config=config, device=device,
                weight_bytes=float(shape.parameters * DTYPE_BYTES[config.dtype]),
                store_bytes=sum(store.values()), residual_bytes=store["residuals"], records_bytes=store["records"],
                collect=stages["collect"], probe=probe_plan, patch=stages["patch"], notes=tuple(notes))
    if plan.fits is False:
        plan = replace(plan, notes=(*plan.notes, _does_not_fit(plan)))
    return plan


def _does_not_fit(plan: Plan) -> str:
    """What exceeds one device, and what would fit instead."""
    worst = max((s for s in plan.stages if s.peak is not None), key=lambda s: s.peak)
    need = worst.peak + CONTEXT_BYTES
    bigger = [d.name for d in DEVICES.values() if d.memory_bytes is not None and d.memory_bytes >= need]
    alone = plan.weight_bytes + CONTEXT_BYTES > plan.device.memory_bytes
    smaller = ("use a smaller --batch-size" if worst.stage == "collect" else
               "lower TOKEN_BUDGET (suffix tokens per patch step, in workbench/analyses/patching/fast.py)")
    fixes = (["spread the model over devices (wb.load_model(..., device_map='auto'))"]
             + [f"plan on --device {' or '.join(bigger)}"] * bool(bigger) + ([] if alone else [smaller]))
    what = f"the weights alone ({_size(plan.weight_bytes)})" if alone else f"{worst.stage} ({_size(worst.peak)})"
    return (f"does not fit on one {plan.device.label}: {what} + {_size(CONTEXT_BYTES)} exceed "
            f"{plan.device.memory_gib:g} GiB; {', or '.join(fixes)}")


def _timed(name: str, cost: StageCost, shape: ModelShape, config: PlanConfig, device: DeviceSpec) -> StagePlan:
    seconds = sum(device.seconds(f.flops(shape), f.traffic(shape, config.dtype), config.dtype) for f in cost.forwards)
    return StagePlan(name, cost.flops, cost.traffic, cost.peak, seconds, device.name)


def _size(n: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
