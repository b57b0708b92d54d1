"""What to ask next: strategies (scores, lower = ask first), selection, batch rules, cold start, relabel policy."""
