"""MinIO as a local process, built from source with ``go install``."""

from __future__ import annotations

import logging
import shutil
from urllib.parse import urlsplit

import httpx

from diffstream.exceptions import ConfigurationError
from diffstream.settings import Settings
from infra.stack.exceptions import StackError, StartupError
from infra.stack.ports import LOCAL_HOSTS, ensure_free
from infra.stack.process import ManagedProcess
from infra.stack.tools import require, run_download

log = logging.getLogger(__name__)

MINIO_MODULE = "github.com/minio/minio"
# The last commit of MinIO's community edition (source-only since RELEASE.2025-10-15T17-29-55Z;
# the repository is in maintenance mode). Go proxies serve it under this pseudo-version.
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"


class LocalMinio:
    """A single-drive MinIO server under DIFFSTREAM_HOME."""

    name = "minio"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        endpoint = urlsplit(settings.s3_endpoint)
        if (
            endpoint.hostname is None
            or endpoint.hostname not in LOCAL_HOSTS
            or endpoint.scheme != "http"
        ):
            raise StackError(
                f"DIFFSTREAM_S3_ENDPOINT={settings.s3_endpoint} is not a local http address; "
                "the local stack only runs MinIO on http://127.0.0.1 or http://localhost"
            )
        self.host = endpoint.hostname
        self.port = endpoint.port or 80
        self.install_dir = settings.artifacts / f"minio-{MINIO_VERSION}"
        self.binary = self.install_dir / "minio"
        self.state_dir = settings.home / "stack" / "minio"
        self.data_dir = self.state_dir / "data"
        self.process = ManagedProcess("minio", self.state_dir)

    @property
    def endpoint(self) -> str:
        """Where S3 clients connect."""
        return f"http://{self.host}:{self.port}"

    def is_installed(self) -> bool:
        """Whether the server binary is already built."""
        return self.binary.exists()

    def install(self) -> None:
        """Build the server with ``go install`` into the artifacts cache (once)."""
        if self.is_installed():
            return
        go = require("go", "build the MinIO server from source")
        log.info("building MinIO %s with go install (first run only, a few minutes)", MINIO_VERSION)
        staging = self.install_dir / "bin.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        go_cache = self.settings.artifacts / "go"
        run_download(
            [go, "install", f"{MINIO_MODULE}@{MINIO_VERSION}"],
            f"building MinIO {MINIO_VERSION} with go install",
            env={
                "GOBIN": str(staging),
                "GOMODCACHE": str(go_cache / "mod"),
                "GOCACHE": str(go_cache / "build"),
                "GOFLAGS": "-modcacherw",
                "CGO_ENABLED": "0",
            },
        )
        (staging / "minio").rename(self.binary)
        shutil.rmtree(staging, ignore_errors=True)

    def _credentials(self) -> dict[str, str]:
        user = self.settings.s3_access_key.get_secret_value()
        password = self.settings.s3_secret_key.get_secret_value()
        if len(user) < 3:
            raise ConfigurationError("DIFFSTREAM_S3_ACCESS_KEY must be at least 3 characters")
        if len(password) < 8:
            raise ConfigurationError("DIFFSTREAM_S3_SECRET_KEY must be at least 8 characters")
        return {"MINIO_ROOT_USER": user, "MINIO_ROOT_PASSWORD": password}

    def start(self) -> bool:
        """Start the server unless it already runs; True when this call started it."""
        if self.process.running_process() is not None:
            return False
        credentials = self._credentials()
        ensure_free(self.host, self.port, "MinIO", "DIFFSTREAM_S3_ENDPOINT")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **credentials,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            # The scanner (usage figures, healing, lifecycle) walks every object: ~15% of a
            # core without pause on a store of 22,000 objects, which the model and the
            # roles need on a small machine. Slowest still gets round, between requests.
            "MINIO_SCANNER_SPEED": "slowest",
            "MINIO_REGION": self.settings.s3_region,
        }
        argv = [str(self.binary), "server", str(self.data_dir)]
        argv += ["--address", f"{self.host}:{self.port}", "--quiet"]
        self.process.start(argv, env, self.state_dir)
        return True

    def is_ready(self) -> bool:
        """Whether MinIO's liveness endpoint answers 200."""
        try:
            response = httpx.get(f"{self.endpoint}/minio/health/live", timeout=1.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def wait_ready(self, timeout_s: float) -> None:
        """Block until MinIO is live, or fail with its last output."""
        if self.process.wait_until(self.is_ready, timeout_s, label="MinIO", interval_s=0.2):
            return
        raise StartupError(f"MinIO was not live on {self.endpoint} within {timeout_s:.0f}s")

    def purge(self) -> None:
        """Delete the server's data (not the built binary)."""
        shutil.rmtree(self.state_dir, ignore_errors=True)
