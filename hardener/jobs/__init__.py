"""One module per command, `run_x(job, progress)`: the only layer that reads paths and writes --out.

The CLI parses options into a job and renders the result; the algorithms below (attacks, defenses,
audit, gan, data) take tensors and models, never paths: a long loop gets the `Checkpoint` and an attack the
`CacheFolder` (hardener.checkpoint) that its job made from --out (checkpoints.py names the checkpoint files)."""
