"""Data preparation: resumable verified downloads, safe archive extraction, the data manifest."""
