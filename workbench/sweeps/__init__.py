"""Sweeps: models x datasets x seeds x stages (collect, probe, sample, calibrate, bottleneck, patch, steer), each
unit of work addressed by the hash of its config, so a re-run does only what is missing or changed.

```python
from workbench.sweeps import SweepConfig, run_sweep
summary = run_sweep(SweepConfig.from_file("sweep.toml"), "sweeps/main", executor="local", workers=1)
```
"""

from workbench.sweeps.config import SweepConfig, SweepModel
from workbench.sweeps.executors import EXECUTORS
from workbench.sweeps.runner import format_summary, preflight, run_sweep, sweep_failed
from workbench.sweeps.stages import STAGES, Stage, register_stage
from workbench.sweeps.units import Unit, plan_units

__all__ = ["SweepConfig", "SweepModel", "run_sweep", "preflight", "format_summary", "sweep_failed", "plan_units", "Unit",
           "STAGES", "Stage", "register_stage", "EXECUTORS"]
