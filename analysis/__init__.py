"""Metric analysis for Serinus: verdicts, assessment, query templates and metric providers.

Importable without kopf or kubernetes. The pure parts (``verdict``, ``assess``, ``template``,
``builtin``) do no I/O; ``providers`` holds the adapters that talk to metric servers.
"""
