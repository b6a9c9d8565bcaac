"""The composition root: ``run(RunConfig) -> result`` and the supervisor/worker processes."""
