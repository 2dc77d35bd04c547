"""The ``diffstream`` command line: the composition root, above every role.

It only mounts each role's own commands (``producers.cli``, ``processors.cli``,
``sinks.cli``, ``infra.cli``); a command added to a role's app appears here unchanged.
"""
