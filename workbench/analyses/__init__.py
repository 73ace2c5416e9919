"""Analyses of stored runs: probes, calibration, validity, bottleneck, prior knowledge, replication, patching.

Each analysis reads a run store and writes a result (tables + manifest) into ``RUN/results/<analysis>/``;
pure array and table functions sit beside them, usable on data from any pipeline.

- ``calibration``: ECE, MCE, Brier, AUROC, AUPRC, reliability bins, stratified bootstrap (arrays)
- ``tables``: ``calibration_table`` / ``reliability_table`` for any table of (confidence, correct)
- ``validity``: the validity screen (ceiling, floor, sparsity, TRIN, r, tiers), ``screen_table``
- ``probes``: ``LogisticProbe``, ``DiffMeansProbe`` (scikit-learn estimators)
- ``probe_layers``: ``probe_layers(run, role, layers, folds=, seeds=)`` -> ``probes`` result + saved weights
- ``probe_weights``: ``load_probe(path)`` -> ``SavedProbe``
- ``channels``: every confidence channel side by side -> ``channels`` result; ``channel_scores``
- ``bottleneck`` and ``logit_lens``: softmax vs argmax, and the lens per layer -> ``bottleneck`` result
- ``prior_knowledge``: calibration on known vs unknown items -> ``prior_knowledge`` result
- ``steering``: ``steer(run, ...)``, alpha x the probe direction at the confidence slot vs random directions
  -> ``steering-<direction>`` result (needs the model, like patching)
- ``replication``: AUROC and distribution shape across seeds -> ``replication`` result
- ``summary``: ``adapt_folds(run)`` (the most folds a run allows) and ``format_channels`` (the channel table as text)
- ``synthetic``: a synthetic run with a planted signal (tests, trying things without a model)
"""
