"""How far ahead the agent claims, from run times and round trips."""

from calchub.agent.pace import MAX_ROUNDS, Pace


def test_long_runs_keep_one_round_ahead() -> None:
    pace = Pace(round_trip=0.01, run=30.0)
    assert pace.rounds() == 1


def test_runs_shorter_than_a_round_trip_keep_enough_to_cover_four_trips() -> None:
    pace = Pace(round_trip=0.010, run=0.002)
    assert pace.rounds() == 20


def test_rounds_are_capped() -> None:
    assert Pace(round_trip=1.0, run=0.0001).rounds() == MAX_ROUNDS


def test_estimates_follow_what_is_seen() -> None:
    pace = Pace(round_trip=0.010, run=1.0)
    for _ in range(60):
        pace.saw_run(0.001)
        pace.saw_round_trip(0.004)
    assert abs(pace.run - 0.001) < 1e-4
    assert abs(pace.round_trip - 0.004) < 1e-4
    assert pace.rounds() == 16
