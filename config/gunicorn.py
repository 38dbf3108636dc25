"""gunicorn settings; each can be overridden with the matching GUNICORN_* variable."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
accesslog = "-"
# Never log query strings: status lookups carry e-mail addresses.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
