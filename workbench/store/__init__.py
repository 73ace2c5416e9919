"""Run store on disk (records, residual shards, manifest) and the provenance stored with every result."""

from workbench.store.provenance import config_hash, provenance, write_json_atomic
from workbench.store.run_store import Example, Run, RunWriter, open_run

__all__ = ["Example", "Run", "RunWriter", "open_run", "config_hash", "provenance", "write_json_atomic"]
