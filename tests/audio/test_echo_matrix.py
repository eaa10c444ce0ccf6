"""The echo matrix, reduced (bench/echo_matrix.py runs all of it): long replies with nobody talking
are never paused or cut, the user barging in is heard, and drift the timestamps do not show never
restarts the cancellers."""

from __future__ import annotations

import pytest

from support.echo_cells import Cell, run_cell
from voiceloop.audio.echopath import EchoPath, PathChange

pytestmark = pytest.mark.slow  # long simulated rooms through the whole front end


@pytest.mark.parametrize("cell", [Cell(0.05, 0.0, False, 0.0), Cell(0.4, 300.0, True, 0.0),
                                  Cell(0.15, 300.0, False, 6.0)], ids=str)
async def test_replies_with_nobody_talking_are_never_paused_and_the_user_is_heard(cell):
    result = await run_cell(cell, replies=2)
    assert result.idle_s > 60
    assert result.idle_possible == [] and result.idle_onsets == [], result
    assert all(d is not None for d in result.barge_onset_s), result  # neither barge-in was missed
    assert result.barge_onset_s[1] <= 0.4, result  # the reply after a barge-in: the path is known


def test_jitter_is_ignored_a_shift_and_a_new_path_each_take_two_agreeing_estimates():
    path = EchoPath()
    assert path.update(0.400) is PathChange.NEW and path.path_s == 0.400
    for k in range(40):  # +-2.5 ms of estimator jitter
        assert path.update(0.400 + (0.0025 if k % 2 else -0.0025)) is PathChange.SAME
    assert path.update(0.100) is PathChange.SAME  # one estimate far off: not yet
    assert path.update(0.4001) is PathChange.SAME
    assert path.update(0.380) is PathChange.SAME and path.update(0.381) is PathChange.SHIFTED  # a dropped block
    assert path.path_s == 0.381
    assert path.update(0.150) is PathChange.SAME and path.update(0.1515) is PathChange.NEW
    assert path.path_s == 0.1515
