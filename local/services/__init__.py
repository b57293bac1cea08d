"""Real processes on 127.0.0.1 standing in for the described services (issue 12): an HTTP
service with a real `/health`, a queue a worker really consumes, an ingestion process that
really writes data points. `proc.py` is one process; `sim.py` starts, breaks and restarts
them and answers SSM Run Command for the local runtime."""
