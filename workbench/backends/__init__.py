"""One model interface, two backends (TransformerLens bridge, nnsight), and the offline model registry."""

from workbench.backends.base import SITES, Backend, Patch, RunOutput, hook_name, parse_hook_name
from workbench.backends.loading import DEFAULT_MODEL, MODELS, list_models, load_model

__all__ = ["SITES", "Backend", "Patch", "RunOutput", "hook_name", "parse_hook_name", "DEFAULT_MODEL", "MODELS",
           "list_models", "load_model"]
