"""What a run returns and writes: the result, the history and reports, learning curves, label exports."""
