"""The imperative shell of the operator: ports it acts through, their adapters, and the process around them.

``controller.reconcile`` runs one tick for one Canary against the ports bundled in
:class:`controller.operator.ports.Ports`; ``controller.handlers`` registers that tick with kopf;
``controller.operator.runtime`` builds the real adapters once at start-up.
"""
