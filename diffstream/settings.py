"""The one settings model, read from ``DIFFSTREAM_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from diffstream.model_store_settings import ModelStoreSettings
from diffstream.port_ranges import canonical_port_range
from diffstream.request_limits import RequestLimits
from diffstream.usage_metrics import UsageSettings

KafkaConfig = dict[str, str | int | float | bool]
GroupProtocol = Literal["classic", "consumer"]
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


DeviceChoice = Literal["auto", "cuda", "mps", "cpu"]
DtypeChoice = Literal["auto", "fp32", "fp16", "bf16"]


class EngineSettings(BaseModel):
    """How the inference engine picks hardware, loads models and encodes images."""

    model_config = ConfigDict(frozen=True)

    # auto: cuda, then mps, then cpu.
    device: DeviceChoice = "auto"
    # auto: fp16 on cuda and mps (diffusers' usual choice), fp32 on cpu. bf16 is accepted
    # where the device supports it (and is safer for VAEs that overflow in fp16, e.g. SDXL).
    dtype: DtypeChoice = "auto"
    # Scaled-dot-product attention (diffusers' AttnProcessor2_0) is already the default with
    # torch 2; False swaps in the classic AttnProcessor, which is only useful for debugging.
    sdpa: bool = True
    channels_last: bool = False
    # torch.compile of the UNet (or transformer); the first call per shape pays the compile.
    torch_compile: bool = False
    vae_tiling: bool = False
    # Models kept loaded at once; the least recently used is evicted (its memory freed).
    max_loaded_models: int = Field(2, gt=0)
    # Where tiny-sd is built and where local model directories are looked up by name;
    # None means HOME/models (see ``models_path``).
    models_dir: Path | None = None
    # False: nothing is fetched from a hub; ids resolve only against the local HF cache.
    allow_hub_downloads: bool = False
    # Models ``load()`` loads up front, and whether it runs one small generation on each.
    preload: tuple[str, ...] = ("tiny-sd",)
    warmup: bool = True
    # torch intra-op threads on cpu; None keeps torch's default (one per core). Process-wide.
    cpu_threads: int | None = Field(None, gt=0)
    # Cores the model calls run on (the calling thread and torch's threads pinned to them,
    # Linux only); everything else in the process stays on the cores it started on, so a
    # model sharing a machine with a broker gets cores of its own. None: not pinned.
    cpu_cores: tuple[Annotated[int, Field(ge=0)], ...] | None = Field(None, min_length=1)
    # The built-in ``sim`` model (a simulated accelerator): a call of b images takes
    # sim_ms_per_image * b ** sim_batch_alpha ms (0.8: a batch of 8 costs 5.3 images' time).
    sim_ms_per_image: float = Field(40.0, gt=0)
    sim_batch_alpha: float = Field(0.8, ge=0, le=1)
    # 1, not zlib's 6: at 512x512 it takes 2.5x less CPU per image for 15% more bytes
    # (README, "Encoding costs": `diffstream bench encoding`).
    png_compress_level: int = Field(1, ge=0, le=9)
    # Threads encoding a batch's images (Pillow's encoders release the GIL).
    encode_threads: int = Field(2, gt=0, le=64)
    jpeg_quality: int = Field(95, ge=1, le=100)
    webp_quality: int = Field(90, ge=1, le=100)

    @field_validator("models_dir")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    def models_path(self, home: Path) -> Path:
        """The models directory: ``models_dir`` if set, else ``home/models``."""
        return self.models_dir or home / "models"


class TransactionalSettings(BaseModel):
    """What every role on the exactly-once loop shares (``diffstream.exactly_once``)."""

    model_config = ConfigDict(frozen=True)

    group_id: str
    # Stable per worker: the transactional.id (a restarted worker fences what its previous
    # life left open) and, when static_membership is on, the group.instance.id (a restart
    # takes its partitions back without waiting for the session timeout). None: the
    # lowest index free on this host, ``{host}-{index}`` (diffstream.identity).
    instance_id: str | None = None
    static_membership: bool = False
    max_batch_size: int = Field(8, gt=0, le=1024)
    max_batch_wait_ms: int = Field(20, ge=0)
    session_timeout_ms: int = Field(45_000, ge=6000)
    # "consumer": KIP-848's group protocol (Kafka 4.0+), assigned by the broker's range
    # assignor, which spreads each topic (each lane) evenly over the members; the session
    # timeout is then the broker's group.consumer.session.timeout.ms. "classic": the
    # client's cooperative-sticky assignor, which balances the total of all topics.
    group_protocol: GroupProtocol = "classic"
    # The work runs off the polling thread, so this bounds only the loop itself.
    max_poll_interval_ms: int = Field(300_000, ge=6000)
    transaction_timeout_ms: int = Field(60_000, ge=1000)
    metrics_port: int | None = Field(None, ge=0, lt=65536)
    # An event that cannot be decoded yet (Schema Registry unreachable, a schema version
    # this build does not know) is read again after a backoff, for up to this long; then
    # it is dead-lettered.
    decode_retry_s: float = Field(300.0, ge=0)


class ProcessorSettings(TransactionalSettings):
    """How `diffstream process` consumes, batches and commits (``DIFFSTREAM_PROCESSOR__*``)."""

    group_id: str = "diffstream-processors"
    max_batch_size: int = Field(8, gt=0, le=256)
    # Inference errors are retried this many times in all before the request fails.
    max_attempts: int = Field(3, gt=0)
    # A request whose inference was under way this many times when its worker died is
    # failed `inference_crash` and dead-lettered instead of crashing the next worker.
    max_crashes: int = Field(2, gt=0)
    # SIGTERM: finish the current batch if it ends within this, else abort it.
    shutdown_grace_s: float = Field(30.0, ge=0)
    # 2: the next batch's model call overlaps this one's encoding and commit; 1: off; None: 2
    # on an accelerator or with engine cpu_cores, 1 on a shared cpu (where the model call
    # uses the cores encoding needs).
    pipeline_depth: int | None = Field(None, ge=1, le=2)
    # GenerationProgress events to diffusion.progress, at most one per request per this
    # many ms (and the last step); 0: none.
    progress_interval_ms: int = Field(0, ge=0)


class SinkSettings(TransactionalSettings):
    """How `diffstream sink images` stores results and commits (``DIFFSTREAM_SINK__*``)."""

    group_id: str = "diffstream-image-sink"
    max_batch_size: int = Field(16, gt=0, le=1024)
    max_batch_wait_ms: int = Field(50, ge=0)
    # Objects are stored under {key_prefix}/{yyyy}/{mm}/{dd}/{request_id}/{index}.{ext}.
    key_prefix: str = "images"
    create_bucket: bool = True
    put_concurrency: int = Field(8, gt=0)
    # A storage outage is retried forever with exponential backoff between these bounds.
    retry_initial_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(30.0, gt=0)
    # Warn (log and metric) when the oldest unstored result is older than this share of
    # the results topic's retention: past it, results are deleted before they are stored.
    retention_warning_ratio: float = Field(0.5, gt=0, le=1)
    # The browser-openable url of each image in completed events and webhooks: the
    # gateway's image URL under this base (e.g. https://gen.example.com) when set, else a
    # presigned GET URL for public_s3_endpoint (None: DIFFSTREAM_S3_ENDPOINT) that expires
    # after presign_expiry_s (S3 allows at most 7 days).
    public_gateway_url: str | None = None
    public_s3_endpoint: str | None = None
    presign_expiry_s: int = Field(7 * 24 * 3600, gt=0, le=7 * 24 * 3600)


class WebhookSettings(BaseModel):
    """How `diffstream sink notify` delivers webhooks (``DIFFSTREAM_WEBHOOKS__*``)."""

    model_config = ConfigDict(frozen=True)

    group_id: str = "diffstream-notifier"
    # Standard Webhooks secret, ``whsec_`` + base64; required to run the notifier.
    signing_secret: SecretStr | None = None
    timeout_s: float = Field(10.0, gt=0)
    initial_backoff_s: float = Field(1.0, gt=0)
    max_backoff_s: float = Field(600.0, gt=0)
    # After this long without success a delivery goes to diffusion.webhooks.dlq.
    give_up_after_s: float = Field(24 * 3600.0, gt=0)
    max_concurrency_per_endpoint: int = Field(4, gt=0)
    # Deliveries one endpoint may hold (waiting for a slot, on the wire or waiting to retry);
    # beyond that, new ones to it are dead-lettered at once (reason "backlog").
    max_queued_per_endpoint: int = Field(1000, gt=0)
    # Memory guard over all endpoints: at this many deliveries under way every partition is
    # paused. One endpoint never gets there on its own (see max_queued_per_endpoint).
    max_in_flight: int = Field(20_000, gt=0)
    # Hostnames, IPs or CIDR networks a callback may reach although they are not public
    # (JSON list, e.g. '["127.0.0.1"]'); allow_private opens every non-public address
    # except cloud metadata endpoints and translated ranges (NAT64, 6to4, Teredo), which
    # only an explicit entry opens.
    allow_hosts: frozenset[str] = frozenset()
    allow_private: bool = False
    # Ports a callback may use besides 80 and 443: ports or ranges, e.g. '[8080, "9000-9100"]'.
    allow_ports: frozenset[str] = frozenset()
    commit_interval_s: float = Field(1.0, gt=0)
    # SIGTERM: how long deliveries under way may take before they are left to a restart.
    shutdown_grace_s: float = Field(5.0, ge=0)
    session_timeout_ms: int = Field(45_000, ge=6000)
    max_poll_interval_ms: int = Field(300_000, ge=6000)
    metrics_port: int | None = Field(None, ge=0, lt=65536)

    @model_validator(mode="after")
    def _one_endpoint_cannot_pause_all(self) -> WebhookSettings:
        if self.max_queued_per_endpoint >= self.max_in_flight:
            raise ValueError(
                f"webhooks.max_queued_per_endpoint ({self.max_queued_per_endpoint}) must be "
                f"below webhooks.max_in_flight ({self.max_in_flight}), or one dead endpoint "
                "pauses every partition; lower the first or raise the second"
            )
        return self

    @field_validator("allow_ports", mode="before")
    @classmethod
    def _port_ranges(cls, value: object) -> object:
        if isinstance(value, str | int):
            value = [value]
        if not isinstance(value, list | tuple | set | frozenset):
            return value  # pydantic names the type error
        return frozenset(canonical_port_range(entry) for entry in value)


class ProducerSettings(BaseModel):
    """How producers publish and wait (``DIFFSTREAM_PRODUCER__*``)."""

    model_config = ConfigDict(frozen=True)

    # A publish not acknowledged by the brokers within this fails (librdkafka's
    # message.timeout.ms): an unreachable Kafka gives an error, never a hang.
    publish_timeout_s: float = Field(30.0, gt=0)
    # How long `wait()` and `publish --wait` wait for an outcome by default.
    wait_timeout_s: float = Field(300.0, gt=0)
    # `wait()` for a request this publisher did not submit reads outcomes this far back.
    wait_lookback_s: float = Field(3600.0, gt=0)
    linger_ms: int = Field(5, ge=0)
    # Admin and metadata calls (offsets reset, replay windows, topic lookups).
    admin_timeout_s: float = Field(30.0, gt=0)


class ViewSettings(BaseModel):
    """The status view, `diffstream view` and `diffstream request` (``DIFFSTREAM_VIEW__*``)."""

    model_config = ConfigDict(frozen=True)

    # The faust app id: its consumer group and the prefix of its changelog topics (both
    # under DIFFSTREAM_TOPIC_PREFIX).
    app_id: str = "diffstream-view"
    # Where the HTTP API listens and where `diffstream request` looks for it.
    host: str = "127.0.0.1"
    port: int = Field(6066, gt=0, lt=65536)
    # /metrics, /healthz and /readyz (``DIFFSTREAM_VIEW__METRICS_PORT``); off when unset.
    metrics_port: int | None = Field(None, ge=0, lt=65536)


class RunSettings(BaseModel):
    """`diffstream run`, every role in one process (``DIFFSTREAM_RUN__*``)."""

    model_config = ConfigDict(frozen=True)

    # /metrics (every role's), /healthz and /readyz (ready once every role is); off when unset.
    metrics_port: int | None = Field(None, ge=0, lt=65536)


class Settings(BaseSettings):
    """Every knob of diffstream; frozen so that a role never sees it change under it."""

    model_config = SettingsConfigDict(
        env_prefix="DIFFSTREAM_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
    )

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_file: Path | None = None
    kafka_ssl_cert_file: Path | None = None
    kafka_ssl_key_file: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    kafka_client_id: str = "diffstream"
    topic_prefix: str = ""
    topic_replication_factor: int = Field(1, gt=0)
    # Overrides every topic's partition count (handy for small test clusters).
    topic_partitions: int | None = Field(None, gt=0)
    schema_registry_url: str | None = None

    # S3 / MinIO
    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_access_key: SecretStr = SecretStr("diffstream")
    s3_secret_key: SecretStr = SecretStr("diffstream-secret")
    s3_bucket: str = "diffstream"
    s3_region: str = "us-east-1"
    s3_ca_file: Path | None = None
    s3_verify_tls: bool = True

    # Local stack
    home: Path = Path("~/.cache/diffstream")
    # Downloads (Kafka jars, MinIO, Maven and Go caches); None: HOME/artifacts (tests share it).
    artifacts_dir: Path | None = None
    kafka_controller_port: int = Field(9093, gt=0, lt=65536)
    kafka_heap: str = "1g"
    # KRaft nodes of the local stack (`stack up --brokers N`), several on the smaller heap.
    kafka_brokers: int = Field(1, ge=1, le=9)
    kafka_cluster_heap: str = "384m"
    stack_start_timeout_s: float = Field(120.0, gt=0)

    limits: RequestLimits = RequestLimits()
    processor: ProcessorSettings = ProcessorSettings()
    engine: EngineSettings = EngineSettings()
    producer: ProducerSettings = ProducerSettings()
    sink: SinkSettings = SinkSettings()
    webhooks: WebhookSettings = WebhookSettings()
    view: ViewSettings = ViewSettings()
    run: RunSettings = RunSettings()
    usage: UsageSettings = UsageSettings()
    models: ModelStoreSettings = ModelStoreSettings()

    @field_validator("home", "artifacts_dir")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @field_validator("s3_endpoint")
    @classmethod
    def _endpoint_has_scheme(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
            raise ValueError(
                f"DIFFSTREAM_S3_ENDPOINT must look like http://host:port, got {value!r}"
            )
        return value.rstrip("/")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(
                    f"DIFFSTREAM_KAFKA_BOOTSTRAP must be host:port[,host:port...], got {value!r}"
                )
        return value

    @property
    def artifacts(self) -> Path:
        """Where downloads are cached."""
        return self.artifacts_dir or self.home / "artifacts"

    @property
    def s3_secure(self) -> bool:
        """Whether the S3 endpoint speaks TLS."""
        return self.s3_endpoint.startswith("https://")

    @property
    def s3_host_port(self) -> str:
        """The endpoint as host:port, the form the minio client wants."""
        return urlsplit(self.s3_endpoint).netloc

    def topic(self, name: str) -> str:
        """The full name of a topic, with the deployment's prefix."""
        return f"{self.topic_prefix}{name}"

    def kafka_config(self, overrides: KafkaConfig | None = None) -> KafkaConfig:
        """The librdkafka configuration for any client, with per-role overrides."""
        config: KafkaConfig = {
            "bootstrap.servers": self.kafka_bootstrap,
            "client.id": self.kafka_client_id,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            config["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password:
            config["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_ssl_ca_file:
            config["ssl.ca.location"] = str(self.kafka_ssl_ca_file)
        if self.kafka_ssl_cert_file:
            config["ssl.certificate.location"] = str(self.kafka_ssl_cert_file)
        if self.kafka_ssl_key_file:
            config["ssl.key.location"] = str(self.kafka_ssl_key_file)
        if self.kafka_ssl_key_password:
            config["ssl.key.password"] = self.kafka_ssl_key_password.get_secret_value()
        config.update(overrides or {})
        return config
