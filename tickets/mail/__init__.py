"""Email: the per-department outbox (``outbox``), addresses and signed links (``addresses``),
building messages from templates (``compose``), sending (``delivery``) and mail in (``inbound``).
"""
