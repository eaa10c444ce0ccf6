"""The speaker's account across devices at other rates: waiters wake exactly when all is settled."""

import asyncio

from voiceloop.audio.playledger import PlaybackLedger


async def test_audio_queued_at_one_rate_and_played_after_a_reopen_at_another_settles_once_all_is_out():
    ledger = PlaybackLedger()
    ledger.queued(48_000, 48_000)  # one second on a 48 kHz speaker
    ledger.rendered_block(44_100 // 3, 48_000)
    waiter = asyncio.create_task(ledger.wait_played())
    await asyncio.sleep(0)
    assert not waiter.done()
    ledger.lose_in_flight()  # the device vanished with the rest in flight
    await asyncio.wait_for(waiter, 1)
    assert ledger.rendered == round(44_100 / 3 / 3)

    ledger.queued(44_100 * 3, 44_100)  # three seconds on the reopened 44.1 kHz device
    waiter = asyncio.create_task(ledger.wait_played())
    for _ in range(299):
        ledger.rendered_block(441, 44_100)
    await asyncio.sleep(0)
    assert not waiter.done(), "10 ms still unplayed"
    assert ledger.dropped(441, 44_100) == 160
    await asyncio.wait_for(waiter, 1)
    assert ledger.settled and ledger.rendered == round(44_100 / 9) + 299 * 160


async def test_a_writer_waiting_for_room_wakes_on_the_next_report_and_release_frees_every_waiter():
    ledger = PlaybackLedger()
    ledger.queued(1000, 16_000)
    room = asyncio.create_task(ledger.wait_moved())
    played = asyncio.create_task(ledger.wait_played())
    await asyncio.sleep(0)
    assert not room.done() and not played.done()
    ledger.rendered_block(0, 16_000)  # a block of silence: no audio out, but the buffer was read
    await asyncio.wait_for(room, 1)
    assert not played.done()
    ledger.release()
    await asyncio.wait_for(played, 1)
