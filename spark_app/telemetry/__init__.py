"""What runs inside the job to observe it: run records, resource samples, status, retention."""
