"""`diffstream process`: consume requests, run micro-batched inference, write results exactly once.

A role of the exactly-once loop (``diffstream.exactly_once``): the loop gathers, keeps the
member alive while inference runs on its worker thread, commits and recovers; this module
decides what each request becomes. Per cycle:

- gather from the two lanes (``processors.lanes``);
- admit each request (``processors.intake``): undecodable bytes become dead letters (or, when
  the failure is transient, the partition is read again later), invalid, expired and
  cancelled requests fail without GPU time;
- check each against the status table (``processors.ledger``): a request_id processed before
  is a duplicate (dropped) or, with other content, a conflict (fails alone); a request whose
  inference was under way when ``max_crashes`` workers died fails ``inference_crash``;
- run inference (``processors.inference``), then write results, failures, status changes and
  dead letters with the consumed offsets in one transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaException, Message, TopicPartition
from prometheus_client import CollectorRegistry

from diffstream import tracing
from diffstream.exactly_once import ExactlyOnceLoop
from diffstream.exceptions import DroppedBatch
from diffstream.health import Health
from diffstream.identity import claim_instance_id
from diffstream.loop_contract import Admission, Loop, LoopOptions, Output
from diffstream.settings import Settings
from processors.cancellations import CancellationView
from processors.decisions import (
    CONFLICT,
    CRASHED,
    DEAD_LETTER,
    REFUSE,
    RUN,
    Cycle,
    Decisions,
    source_of,
)
from processors.engine.results import StepProgress
from processors.engine_load import EngineLoad
from processors.exceptions import InferenceCrashError
from processors.gpu_metrics import GpuCollector
from processors.inference import InferenceRun, Outcome, PassFailure
from processors.intake import Admitted, Intake, Refused, Undecodable, admit, coordinates
from processors.lag import LaneLag
from processors.lanes import REQUEST_FETCH, LaneGatherer
from processors.ledger import SYNC_TIMEOUT_S, RequestLedger
from processors.metrics import ProcessorMetrics
from processors.outcomes import (
    duplicate_failed,
    inference_failed,
    result_record,
    status_record,
)
from processors.progress import ProgressReporter
from processors.store.source import StoreModels
from processors.tracing import trace_request
from schemas.codec import Codec
from schemas.decode_retries import DecodeRetries
from schemas.dlq import dead_letter
from schemas.event_output import event_output
from schemas.events import EventName, RequestState
from schemas.topics import (
    DLQ,
    FAILED,
    REQUESTS,
    REQUESTS_BATCH,
    RESULTS,
    RESULTS_MAX_MESSAGE_BYTES,
    STATUS,
)
from schemas.usage import failed_usage, lane_of
from schemas.usage_events import UsageEvents

if TYPE_CHECKING:
    from processors.engine.engine import InferenceEngine

log = logging.getLogger(__name__)

ROLE = "processor"
CANCELLATIONS_CATCH_UP_S = 10.0


class StreamProcessor:
    """One worker of the processors' consumer group (a role of the exactly-once loop)."""

    def __init__(
        self,
        settings: Settings,
        engine: InferenceEngine,
        *,
        registry: CollectorRegistry | None = None,
        codec: Codec | None = None,
        before_load: Callable[[], object] | None = None,
    ) -> None:
        """``engine`` may be loaded already; if not, ``run`` loads it (``before_load`` first)
        while the consumer joins."""
        self.settings = settings
        self.config = settings.processor
        self.engine = engine
        self.codec = codec or Codec(settings)
        registry = registry or CollectorRegistry()
        self.metrics = ProcessorMetrics.create(registry)
        self.usage = UsageEvents(settings, self.codec, registry)
        registry.register(GpuCollector())  # empty without CUDA
        self._claim = claim_instance_id(ROLE, settings.home, self.config.instance_id)
        self.instance_id = self._claim.instance_id
        self._tracer = tracing.tracer(ROLE, self.instance_id)
        self.lanes = LaneGatherer(settings.topic(REQUESTS), settings.topic(REQUESTS_BATCH))
        self.lag = LaneLag(self.lanes.batch_topic, self.metrics.lag)
        self.ledger = RequestLedger(settings, self.codec)
        # Synced on the polling thread (a rebalance callback): for at most half of
        # max.poll.interval.ms, or a starved member leaves the group it has just joined.
        self._sync_s = min(SYNC_TIMEOUT_S, self.config.max_poll_interval_ms / 2000)
        self.models = StoreModels(settings, codec=self.codec) if settings.models.enabled else None
        self.decisions = Decisions(self.ledger, self.config.max_crashes, self.models)
        self.cancellations = CancellationView(settings, self.codec)
        self._decode_retries = DecodeRetries(self.config.decode_retry_s)
        self._progress: ProgressReporter | None = None
        self._abort = threading.Event()
        self.health = Health()
        self._before_load = before_load
        self._load: EngineLoad | None = None
        self.pipeline_depth = self.config.pipeline_depth or default_pipeline_depth(engine)
        self.loop: ExactlyOnceLoop[Cycle] = ExactlyOnceLoop(
            settings,
            LoopOptions.of(
                ROLE,
                self.instance_id,
                [self.lanes.interactive_topic, self.lanes.batch_topic],
                self.config,
                shutdown_grace_s=self.config.shutdown_grace_s,
                pipeline_depth=self.pipeline_depth,
                consumer_overrides=REQUEST_FETCH,
                producer_overrides={"message.max.bytes": RESULTS_MAX_MESSAGE_BYTES},
            ),
            self,
        )

    def run(self, stop: threading.Event) -> None:
        """Process until ``stop`` is set; the cycle under way finishes or is dropped."""
        if self.config.progress_interval_ms > 0:
            self._progress = ProgressReporter(
                self.settings, self.codec, self.config.progress_interval_ms
            )
        self.cancellations.start()
        self.ledger.start()
        if self.models is not None:
            self.models.start()  # the preloaded models' aliases are read before loading
        if not self.engine.loaded:  # loaded beside the join; a failed load stops the loop
            self._load = EngineLoad(
                self.engine,
                self.models,
                before=self._before_load,
                on_loaded=self.metrics.model_load_seconds.observe,
                on_failed=lambda _: stop.set(),
            ).start()
        self.cancellations.caught_up.wait(CANCELLATIONS_CATCH_UP_S)
        try:
            self.loop.run(stop)
        finally:
            self.health.stopped()
            if self.models is not None:
                self.models.stop()
            self.cancellations.stop()
            self.ledger.stop()
            if self._progress is not None:
                self._progress.close()
            self._claim.release()
        if self._load is not None and self._load.error is not None:
            raise self._load.error

    # -- the loop's hooks (polling thread) ------------------------------------------------

    def gather(self, loop: Loop[Cycle]) -> list[Message]:
        """The interactive lane first; the backfill lane while it is idle."""
        messages = self.lanes.gather(loop)  # type: ignore[arg-type]  # the hook takes any loop
        if loop.consumer is not None:
            self.lag.report(loop.consumer)
        return messages

    def admit(self, message: Message) -> Intake:
        """Decode and check one request (a transient decode failure defers its partition)."""
        item = admit(
            message,
            codec=self.codec,
            limits=self.settings.limits,
            is_cancelled=self.cancellations.is_cancelled,
        )
        if isinstance(item, Undecodable):
            self._decode_retries.check(message, item.error)
        else:
            self._decode_retries.decoded(message)
        return item

    def prepare(self, admitted: Sequence[Admission]) -> Cycle:
        """Decide, before any GPU time, what each request becomes."""
        cycle = Cycle()
        self.decisions.decide(cycle, [entry.item for entry in admitted])  # type: ignore[misc]
        cycle.run = InferenceRun(
            self.engine,
            self.ledger,
            self.metrics,
            max_attempts=self.config.max_attempts,
            max_batch_size=self.config.max_batch_size,
            on_step=self._on_step,
            locator=self.models,
        )
        if (self._load is None or self._load.loaded) and self.decisions.safe_ahead():
            # While the batch before still runs (not during a load): no wait before the model.
            cycle.run.record_ahead(cycle.candidates)
        return cycle

    def held_while_working(self, assignment: list[TopicPartition]) -> list[TopicPartition]:
        """The backfill lane: only interactive requests are carried meanwhile."""
        return self.lanes.backfill(assignment)

    def assigned(self, partitions: list[TopicPartition]) -> None:
        """Read what the previous owner wrote before deciding on its requests."""
        self.ledger.sync(self._sync_s)
        self.lag.reassigned()
        # Joined (called with no partitions too, when there are none left); ready once the
        # models are loaded as well.
        if self._load is None:
            self.health.ready()
        else:
            self._load.when_joined(self.health.ready)

    def committed(self, prepared: Cycle, outputs: Sequence[Output]) -> None:
        """Take the committed statuses into the table at once."""
        self.decisions.settled(prepared)
        for status in prepared.statuses:
            self.ledger.note(status)
        self.usage.committed(outputs)

    def dropped(self, prepared: Cycle, reason: str) -> None:
        """Attempts of a cycle given up on purpose are no crashes."""
        self.decisions.settled(prepared)
        if prepared.run is not None:
            try:
                prepared.run.release()
            except KafkaException as exc:
                log.warning("attempts not released: %s", exc)
        self.ledger.sync(self._sync_s)

    # -- the work (worker thread) ---------------------------------------------------------

    def work(self, prepared: Cycle, abort: threading.Event) -> list[Output]:
        """Both stages on one thread (a pipeline depth of 1)."""
        self.accelerate(prepared, abort)
        return self.finish(prepared, abort)

    def accelerate(self, prepared: Cycle, abort: threading.Event) -> None:
        """Inference for the candidates, images left unencoded (accelerator thread)."""
        assert prepared.run is not None
        if self._load is not None:
            self._load.wait(abort)  # before any attempt is recorded
        self._abort = abort
        prepared.started = datetime.now(UTC)
        prepared.drawn = prepared.run.run(prepared.candidates, abort)
        prepared.finished = datetime.now(UTC)

    def finish(self, prepared: Cycle, abort: threading.Event) -> list[Output]:
        """The images encoded, then every event of the cycle, in order (finishing thread)."""
        assert prepared.run is not None
        started, finished = prepared.started, prepared.finished
        assert started is not None
        assert finished is not None
        if self.pipeline_depth > 1:
            # The next batch's passes may start before this one commits: a worker dying in
            # them must not count as a crash of these (done with inference).
            prepared.run.release()
        outcomes = iter(prepared.run.encode(prepared.drawn))
        n = len(prepared.candidates)
        outputs: list[Output] = []
        for item, decision in prepared.decisions:
            if decision == RUN:
                assert isinstance(item, Admitted)
                outcome = next(outcomes)
                outputs += self._admitted_events(prepared, item, outcome, started)
                trace_request(self._tracer, item.request, started, finished, outcome, n)
            elif decision == DEAD_LETTER or isinstance(item, Undecodable):
                outputs.append(self._dead_letter(item.message, getattr(item, "error", None)))
            elif decision == REFUSE:
                assert isinstance(item, Refused)
                outputs += self._failed_events(prepared, item, item.failed, item.state)
            elif decision == CONFLICT:
                failed = duplicate_failed(item.request, source=source_of(item))
                outputs.append(self._failed_event(failed))
                outputs.append(self._usage_event(item, failed))
                self._count_failure(failed, item.message)
            elif decision == CRASHED:
                assert isinstance(item, Admitted)
                error = InferenceCrashError.after(self.config.max_crashes)
                failed = inference_failed(
                    item.request, error, source=item.source, attempt=self.config.max_crashes
                )
                outputs += self._failed_events(prepared, item, failed, RequestState.FAILED)
                outputs.append(self._dead_letter(item.message, error))
            else:
                self.metrics.requests.labels("duplicate").inc()
                log.info(
                    "dropping a duplicate of request %s at %s",
                    item.request["request_id"],
                    coordinates(item.message),
                )
        return outputs

    def _on_step(self, attempt: int, model: str, progress: StepProgress) -> None:
        if self._abort.is_set():
            raise DroppedBatch(f"aborted at step {progress.step}/{progress.steps}")
        if self._progress is not None:
            self._progress.report(progress, attempt=attempt, model=model)

    def _admitted_events(
        self, cycle: Cycle, item: Admitted, outcome: Outcome, started: datetime
    ) -> list[Output]:
        request = item.request
        queued = (started - request["submitted_at"]).total_seconds()
        self.metrics.queue_wait_seconds.labels(lane_of(item.message.topic())).observe(
            max(queued, 0.0)
        )
        if isinstance(outcome, PassFailure):
            failed = inference_failed(
                request, outcome.error, source=item.source, attempt=max(outcome.attempts, 1)
            )
            return self._failed_events(cycle, item, failed, RequestState.FAILED, queued)
        record = result_record(
            request, outcome, source=item.source, attempt=1, inference_started=started
        )
        result = event_output(
            self.codec, self.settings.topic(RESULTS), EventName.RESULT, record, trace=request
        )
        status = status_record(request, RequestState.GENERATED, source=item.source)
        self.metrics.requests.labels("generated").inc()
        return [result, self._status_event(cycle, status)]

    def _failed_events(
        self,
        cycle: Cycle,
        item: Admitted | Refused,
        failed: dict[str, Any],
        state: RequestState,
        queued: float | None = None,
    ) -> list[Output]:
        status = status_record(
            item.request, state, source=failed["source"], attempt=failed["attempt"], failed=failed
        )
        self._count_failure(failed, None)
        usage = self._usage_event(item, failed, queued)
        return [self._failed_event(failed), self._status_event(cycle, status), usage]

    def _usage_event(
        self, item: Admitted | Refused, failed: dict[str, Any], queued: float | None = None
    ) -> Output:
        """Metered in the failure's transaction: exactly one per GenerationFailed."""
        lane = lane_of(item.message.topic())
        return self.usage.output(failed_usage(item.request, failed, lane=lane, queue_s=queued))

    def _failed_event(self, failed: dict[str, Any]) -> Output:
        return event_output(self.codec, self.settings.topic(FAILED), EventName.FAILED, failed)

    def _count_failure(self, failed: dict[str, Any], message: Message | None) -> None:
        self.metrics.requests.labels("failed").inc()
        self.metrics.errors.labels(failed["error_code"]).inc()
        log.info(
            "request %s failed (%s)%s",
            failed["request_id"],
            failed["error_code"],
            f" at {coordinates(message)}" if message is not None else "",
        )

    def _status_event(self, cycle: Cycle, status: dict[str, Any]) -> Output:
        cycle.statuses.append(status)
        return event_output(self.codec, self.settings.topic(STATUS), EventName.STATUS, status)

    def _dead_letter(self, message: Message, error: BaseException | None) -> Output:
        self.metrics.requests.labels("dead_letter").inc()
        return dead_letter(self.settings.topic(DLQ), message, error or ValueError("undecodable"))


def default_pipeline_depth(engine: InferenceEngine) -> int:
    """2 where the model runs on an accelerator or on cores of its own (``cpu_cores``): the
    cores encoding needs are free while it computes. 1 on a shared CPU, where the next model
    call would take them."""
    from processors.engine.devices import resolve_device  # noqa: PLC0415  # torch

    device = engine.device if engine.loaded else resolve_device(engine.settings.device)
    return 1 if device.type == "cpu" and engine.settings.cpu_cores is None else 2
