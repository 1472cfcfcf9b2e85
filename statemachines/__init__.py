"""The state machines' ASL files and `definitions`, the spec they are generated from."""
