"""Results deleted by retention before the image sink stored them are failed, not skipped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from diffstream.settings import Settings
from processors.outcomes import status_record
from schemas.events import EventName, RequestState
from schemas.topics import COMPLETED, FAILED, RESULTS, STATUS, USAGE
from sinks.images import ImageSink
from sinks.retention import CUTOFF_MARGIN_S
from tests.integration.sinks_support import (
    isolate,
    publish,
    publish_results,
    read_committed,
    result_record,
)
from tests.integration.threads import on_threads

pytestmark = pytest.mark.integration


def test_results_deleted_before_storage_fail_expired_in_transit(settings: Settings) -> None:
    own = isolate(settings)
    lost = [result_record(i) for i in range(3)]
    # As a processor writes them: a result and a `generated` status per request; these
    # three are older than anything the topic will still hold.
    for result in lost:
        result["request"]["submitted_at"] -= timedelta(seconds=CUTOFF_MARGIN_S + 60)
    statuses = [
        {
            **status_record(r["request"], RequestState.GENERATED, source=r["source"]),
            "updated_at": r["request"]["submitted_at"],
        }
        for r in lost
    ]
    publish(own, STATUS, EventName.STATUS, statuses)
    publish_results(own, lost)
    # Retention, as the broker applies it: the log start moves past every result so far.
    admin = AdminClient(own.kafka_config())
    topic = own.topic(RESULTS)
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    ends = [TopicPartition(topic, p, -1) for p in partitions]  # -1: up to the high watermark
    for future in admin.delete_records(ends).values():
        future.result(timeout=30)
    kept = result_record(10)
    publish(
        own,
        STATUS,
        EventName.STATUS,
        [status_record(kept["request"], RequestState.GENERATED, source=kept["source"])],
    )
    publish_results(own, [kept])

    sink = ImageSink(own)
    with on_threads(sink.run, join_s=30):
        failed = read_committed(own, FAILED, expected=3, timeout_s=90)
        completed = read_committed(own, COMPLETED, expected=1, timeout_s=60)
        usage = read_committed(own, USAGE, expected=4, timeout_s=30)
    assert sorted(str(f["request_id"]) for f in failed) == sorted(
        str(r["request_id"]) for r in lost
    )
    assert {f["error_code"] for f in failed} == {"expired_in_transit"}
    assert "retention" in failed[0]["message"]
    assert [str(c["request_id"]) for c in completed] == [str(kept["request_id"])]
    # Each outcome is metered once: the lost ones as expired, with nothing delivered.
    metered = {str(u["request_id"]): (u["outcome"], u["images"]) for u in usage}
    assert len(usage) == len(metered) == 4
    assert metered == {
        **{str(r["request_id"]): ("expired", 0) for r in lost},
        str(kept["request_id"]): ("completed", 1),
    }
