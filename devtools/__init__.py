"""Tools for running the app for real on this machine, shared by the deploy tests and bench/:
a production-settings stack under gunicorn with scratch databases (``stack``) and a closed-loop
HTTP load generator that only talks to loopback (``loadgen``)."""
