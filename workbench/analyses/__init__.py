"""Analyses of stored runs: probes, calibration, validity, bottleneck, prior knowledge, replication, patching.

Each analysis reads a run store and writes a result (tables + manifest); pure array/table functions sit beside them.
"""
