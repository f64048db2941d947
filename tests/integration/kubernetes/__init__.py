"""Serinus' CRDs, examples and bad Canaries on the real control plane (kube-apiserver v1.37.2),
compared with the API emulator's answers."""
