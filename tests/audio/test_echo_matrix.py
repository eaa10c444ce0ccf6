"""The echo matrix, reduced (bench/echo_matrix.py runs all of it): long replies with nobody talking
are never paused or cut, and the user barging in is heard, all of their words, with slow speakers
and drift the timestamps do not show."""

from __future__ import annotations

import pytest

from support.echo_cells import Cell, run_cell

pytestmark = pytest.mark.slow  # long simulated rooms through the whole front end


@pytest.mark.parametrize("cell", [Cell(0.05, 0.0, False, 0.0), Cell(0.4, 300.0, True, 0.0),
                                  Cell(0.15, 300.0, False, 6.0)], ids=str)
async def test_replies_with_nobody_talking_are_never_paused_and_the_user_is_heard(cell):
    result = await run_cell(cell, replies=2)
    assert result.idle_s > 60
    assert result.idle_possible == [] and result.idle_onsets == [], result
    assert all(d is not None for d in result.barge_onset_s), result  # neither barge-in was missed
    # nothing the user said is lost: in the first reply too, heard late (hindsight) but whole
    assert all(m is not None and m <= 0.1 for m in result.barge_missed_s), result
    # The reply after a barge-in, the path known: the speaker is turned down at the first sign
    # (`SpeechPossible`, as the daemon ducks it), which is what the user hears as being listened to.
    assert result.barge_possible_s[1] <= 0.4, result


@pytest.mark.parametrize("cell", [Cell(0.05, 1000.0, True, 0.0), Cell(0.05, -1000.0, True, 6.0)], ids=str)
async def test_an_echo_path_wandering_a_millisecond_a_second_never_hands_its_echo_to_recognition(cell):
    """Beyond the matrix (`bench/echo_matrix.py --wander`): here AEC3 alone leaves echo that reads as
    speech (the known weak cell) while the double-talk detector, relearning the moving path, is
    blind. Such speech only turns the reply down: its onset waits for a canceller that learnt the
    path from the seconds around it (`audio.doubt`), which hears no speech in the echo, so the reply
    is never stopped for it and nothing goes to recognition (before: 9 and 3 utterances of its own
    echo per cell, each a cut), while the user, under an echo 6 dB louder too, stops it and is heard."""
    result = await run_cell(cell, replies=2)
    assert result.idle_utterances == [] and result.idle_onsets == [], result
    assert all(d is not None for d in result.barge_onset_s), result
    assert all(m is not None and m <= 0.1 for m in result.barge_missed_s), result
