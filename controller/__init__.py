"""Serinus: a GitOps-native progressive delivery controller for Kubernetes."""

__version__ = "0.1.0"
