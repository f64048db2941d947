"""Metric analysis for Serinus: verdicts, assessment, query templates, built-in queries and providers.

Importable without kopf or kubernetes. The pure parts (``verdict``, ``assess``, ``promql``,
``template``, ``builtin``, ``query``, ``evaluate``) do no I/O; ``providers`` holds the adapters that
talk to metric servers (Prometheus) and the scripted in-memory provider for tests.
"""
