"""The active-learning loop: ``run``/``resume``, the session's steps, pool scoring and stopping rules."""
