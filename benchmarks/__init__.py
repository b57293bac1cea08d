"""`make bench`: cold start, virtual-time replay and state transitions, each as a ratio or
count measured in the same run (see run.py)."""
