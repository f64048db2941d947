"""Tests of the protobuf request-body decoder of the API server emulator."""
