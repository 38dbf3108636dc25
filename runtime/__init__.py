"""What the running app is made of beyond Django's defaults: the session engines, the Redis
cache client, response-header middleware and JSON logging. Settings point at these; nothing
here holds help desk domain logic."""
