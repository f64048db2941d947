"""A Kubernetes API server emulator: the REST API over real HTTP, for kubectl, the kubernetes client
and kopf, on machines where no real cluster can run. Start it with `python -m sandbox.apiserver`."""
