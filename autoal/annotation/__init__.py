"""Who labels and how answers arrive: annotators, the terminal, asking, assignment, batch files."""
