"""The local stack: an embedded AWS emulator plus this app, wired as the deployment wires it.

Used by `make run` (python -m devstack) and by the tests, so both exercise the same path.
Nothing here ships to Lambda.
"""
