"""The devices a plan is timed on: peak dense throughput, memory bandwidth and memory, with their sources.

Throughputs are *dense* peaks (NVIDIA's datasheets print bf16 "with sparsity", twice the dense figure; the
dense one is what a transformer's matmuls can reach). fp32 is the plain (non-tensor-core) rate, which torch uses
for float32 matmuls unless TF32 is switched on. A plan's times are rooflines: each forward takes
max(FLOPs / peak, bytes / bandwidth), a lower bound; kernels reach perhaps 40-70% of peak on large matmuls.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.errors import WorkbenchError, did_you_mean


@dataclass(frozen=True)
class DeviceSpec:
    """One device: dense peak TFLOP/s (bf16/fp16 and fp32), memory bandwidth (GB/s, 1e9 bytes), memory (GiB as
    nvidia-smi counts it, which the datasheets call GB; None: host RAM, not checked)."""

    name: str
    label: str
    bf16_tflops: float
    fp32_tflops: float
    bandwidth_gbs: float
    memory_gib: float | None
    source: str

    def flops_per_s(self, dtype: str) -> float:
        """Peak FLOP/s for weights of ``dtype`` (float16 runs at the bf16 rate)."""
        return 1e12 * (self.fp32_tflops if dtype == "float32" else self.bf16_tflops)

    @property
    def memory_bytes(self) -> float | None:
        return None if self.memory_gib is None else self.memory_gib * 2**30

    def seconds(self, flops: float, traffic: float, dtype: str) -> float:
        """The roofline time of work that does ``flops`` and moves ``traffic`` bytes."""
        return max(flops / self.flops_per_s(dtype), traffic / (1e9 * self.bandwidth_gbs))


DEVICES: dict[str, DeviceSpec] = {row.name: row for row in (
    DeviceSpec("h100", "NVIDIA H100 SXM5 80GB", bf16_tflops=989.0, fp32_tflops=67.0, bandwidth_gbs=3350.0,
               memory_gib=80.0, source="NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100): "
               "BF16 1,979 TFLOPS with sparsity (989 dense), FP32 67 TFLOPS, HBM3 3.35 TB/s, 80 GB"),
    DeviceSpec("h200", "NVIDIA H200 SXM 141GB", bf16_tflops=989.0, fp32_tflops=67.0, bandwidth_gbs=4800.0,
               memory_gib=141.0, source="NVIDIA H200 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h200): "
               "BF16 1,979 TFLOPS with sparsity (989 dense), FP32 67 TFLOPS, HBM3e 4.8 TB/s, 141 GB"),
    DeviceSpec("a100", "NVIDIA A100 80GB SXM", bf16_tflops=312.0, fp32_tflops=19.5, bandwidth_gbs=2039.0,
               memory_gib=80.0, source="NVIDIA A100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/a100): "
               "BF16 624 TFLOPS with sparsity (312 dense), FP32 19.5 TFLOPS, HBM2e 2,039 GB/s, 80 GB"),
    DeviceSpec("cpu", "16-core AVX-512 server CPU (nominal)", bf16_tflops=2.05, fp32_tflops=2.05,
               bandwidth_gbs=307.0, memory_gib=None,
               source="arithmetic, no datasheet: 16 cores x 2.0 GHz x 64 FP32 FLOP/cycle (two AVX-512 FMA units; "
               "bf16 no faster without AMX) = 2.05 TFLOP/s; 8 channels of DDR5-4800 x 38.4 GB/s = 307 GB/s; "
               "memory is host RAM, not checked"),
)}


def device_spec(name: str) -> DeviceSpec:
    """A row of ``DEVICES``; an unknown name is one error listing the choices."""
    if name not in DEVICES:
        raise WorkbenchError(f"unknown device {name!r}.{did_you_mean(str(name), DEVICES)} Choose one of "
                             f"{', '.join(DEVICES)}")
    return DEVICES[name]
