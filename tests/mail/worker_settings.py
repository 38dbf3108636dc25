"""Settings for a ``deliver_outbox`` subprocess started by the mail tests: the test settings,
pointed at the databases pytest-django created (their names come from the parent process)."""

from __future__ import annotations

import json
import os

from config.settings.test import *  # noqa: F403
from config.settings.test import DATABASES

for _alias, _name in json.loads(os.environ["HELPDESK_WORKER_DATABASE_NAMES"]).items():
    DATABASES[_alias]["NAME"] = _name
