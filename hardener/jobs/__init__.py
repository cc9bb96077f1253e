"""One module per command, `run_x(job, progress)`: the only layer that reads paths and writes --out.

The CLI parses options into a job and renders the result; the algorithms below (attacks, defenses,
audit, gan, data) take tensors and models, never paths."""
