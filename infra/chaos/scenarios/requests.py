"""Faults carried by requests: one that kills its process, duplicates and a bad neighbour
in one batch, and webhooks to a dead endpoint in front of a live one."""

from __future__ import annotations

import time

from infra.chaos.arena import Arena, Check
from infra.chaos.crashing import CRASH_EXIT_STATUS, CRASH_STEPS, build_crashing_digits
from infra.chaos.load import digits_request
from infra.chaos.receiver import WebhookReceiver
from infra.chaos.roles import image_sink, notifier, processor
from infra.chaos.scenario import Scenario, standard_fleet
from infra.chaos.verdict import COMPLETES, Expect, fails

# The default: a request that killed its process this many times is failed.
CRASHES_ALLOWED = 2
CRASH_GOOD_REQUESTS = 50
CRASH_TIMEOUT_S = 150.0


def play_crashing_request(arena: Arena) -> None:
    """One request whose inference ends its process (os._exit, as a segfault would),
    among 50 good ones: it must fail `inference_crash` after at most two crashes, and the
    50 complete."""
    standard_fleet(arena)
    good = arena.expect([digits_request(i) for i in range(CRASH_GOOD_REQUESTS)], COMPLETES)
    crash = arena.expect([digits_request(999, steps=CRASH_STEPS)], fails("inference_crash"))
    arena.allowed_exits = CRASHES_ALLOWED
    half = len(good) // 2
    arena.say(f"publishing {len(good)} good requests and one that exits its process")
    arena.publisher.send([*good[:half], *crash, *good[half:]])
    arena.wait_outcomes(CRASH_TIMEOUT_S)
    crashes = [e for e in arena.fleet.exits if e.returncode == CRASH_EXIT_STATUS]
    arena.checks.append(
        Check(
            "the request made its process exit",
            bool(crashes),
            f"{len(crashes)} exits with status {CRASH_EXIT_STATUS}",
        )
    )


DUPLICATE_TIMEOUT_S = 90.0


def play_duplicates_and_neighbours(arena: Arena) -> None:
    """In one batch: three good requests, one published twice, a different request under
    an id already completed (after a processor restart), and a `digits` request with a
    negative prompt (that model takes none). Only the impostor and the bad neighbour fail."""
    first = processor(1)
    arena.fleet.start_all([first, image_sink()])
    used = arena.expect([digits_request(0)], COMPLETES)[0]
    arena.publisher.send([used])
    arena.outcomes.wait_for([str(used["request_id"])], DUPLICATE_TIMEOUT_S, settle_s=0)
    # Stopped while the batch is published, so that the next life reads it as one batch.
    arena.fleet.stop(first.name)
    good = arena.expect([digits_request(i) for i in (1, 2, 3)], COMPLETES)
    twice = arena.expect([digits_request(4)], COMPLETES)[0]
    impostor = digits_request(5, request_id=used["request_id"])
    arena.expected[str(used["request_id"])] = Expect(completed=1, failed=("duplicate_request_id",))
    neighbour = arena.expect(
        [digits_request(6, negative_prompt="blurry")],
        fails("invalid_request", message_contains="negative_prompt"),
    )[0]
    batch = [good[0], twice, good[1], twice, impostor, neighbour, good[2]]
    arena.records_published += 2  # the second copy and the impostor
    arena.say("publishing one batch: 3 good, 1 twice, 1 impostor id, 1 bad neighbour")
    arena.publisher.send(batch)
    arena.fleet.start_all([first])
    arena.wait_outcomes(DUPLICATE_TIMEOUT_S)


DEAD_ENDPOINT = "http://dead-endpoint.invalid/hook"
DEAD_CALLBACKS = 1000
# "At once": the live webhook may wait for the notifier's next poll, not for the dead ones.
LIVE_WITHIN_S = 5.0
LIVE_TIMEOUT_S = 60.0


def play_dead_webhooks(arena: Arena) -> None:
    """1,000 requests whose callback host does not resolve, then one with a live callback:
    the live webhook must arrive within seconds of its request completing."""
    standard_fleet(arena)
    arena.fleet.start_all([notifier()])
    callback = {"url": DEAD_ENDPOINT, "events": ["completed"]}
    dead = arena.expect(
        [digits_request(i, callback=callback) for i in range(DEAD_CALLBACKS)], COMPLETES
    )
    arena.say(f"publishing {len(dead)} requests with a callback to {DEAD_ENDPOINT}")
    arena.publisher.send(dead)
    arena.wait_outcomes(240.0)
    with WebhookReceiver() as receiver:
        live = digits_request(5000, callback={"url": receiver.url, "events": ["completed"]})
        arena.expect([live], COMPLETES)
        live_id = str(live["request_id"])
        arena.say("publishing one request with a live callback")
        arena.publisher.send([live])
        arena.outcomes.wait_for([live_id], 60.0, settle_s=0)
        completed = min((e.seen_at for e in arena.outcomes.of(live_id)), default=None)
        deadline = time.monotonic() + LIVE_TIMEOUT_S
        while receiver.arrived(live_id) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        arrived = receiver.arrived(live_id)
    if completed is None or arrived is None:
        detail = (
            "its request had no completed event within 60s"
            if completed is None
            else f"not delivered within {LIVE_TIMEOUT_S:.0f}s of its completion"
        )
        arena.checks.append(Check("live webhook delivered at once", False, detail))
        return
    delay = max(arrived - completed, 0.0)
    arena.checks.append(
        Check(
            "live webhook delivered at once",
            delay <= LIVE_WITHIN_S,
            f"delivered {delay:.1f}s after its completed event (limit {LIVE_WITHIN_S:g}s)",
        )
    )


CRASHING_REQUEST = Scenario(
    "crashing-request",
    f"1 request that exits its process (os._exit) among {CRASH_GOOD_REQUESTS} good ones",
    play_crashing_request,
    tweaks=build_crashing_digits,
)
DUPLICATES_AND_NEIGHBOURS = Scenario(
    "duplicates-neighbours",
    "a request_id twice, an impostor under a used id, a negative prompt to digits: one batch",
    play_duplicates_and_neighbours,
)
DEAD_WEBHOOKS = Scenario(
    "dead-webhooks",
    f"{DEAD_CALLBACKS:,} webhooks to an unresolvable host, then one to a live receiver",
    play_dead_webhooks,
)
