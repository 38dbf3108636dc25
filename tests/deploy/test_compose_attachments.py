"""The compose stack keeps attachments in MinIO: both profiles start it, create the bucket and
the app's own key before the app starts, and the app is pointed at it without a committed
secret."""

from __future__ import annotations

import pytest

from tests.deploy.test_compose import SERVICES, STACKS


@pytest.mark.parametrize("profile", STACKS)
def test_each_profile_stores_attachments_in_minio(profile):
    minio, setup = SERVICES["minio"], SERVICES["minio-setup"]
    assert profile in minio["profiles"] and profile in setup["profiles"]
    assert "mc ready" in " ".join(minio["healthcheck"]["test"])
    assert minio["volumes"] == ["minio-data:/data"]
    assert setup["restart"] == "no"
    assert setup["depends_on"]["minio"] == {"condition": "service_healthy"}
    script = setup["entrypoint"][-1]
    assert "set -e" in script and 'mc mb --ignore-existing "local/$$HELPDESK_S3_BUCKET"' in script
    assert "mc admin user add" in script  # the app's own key, not MinIO's root login

    app = SERVICES[STACKS[profile]["app"]]
    assert app["depends_on"]["minio-setup"] == {"condition": "service_completed_successfully"}
    env = app["environment"]
    assert env["HELPDESK_ATTACHMENTS_STORAGE"] == "s3"
    assert env["HELPDESK_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["AWS_ACCESS_KEY_ID"].startswith("${HELPDESK_S3_ACCESS_KEY")
    assert env["AWS_SECRET_ACCESS_KEY"].startswith("${HELPDESK_S3_SECRET_KEY")
    assert env["HELPDESK_S3_BUCKET"] == setup["environment"]["HELPDESK_S3_BUCKET"]
