"""Self-play's summary.md: the change each phase made, against the goals, with its uncertainty."""

from agents.report import attack_success, write_summary


def last_phase_line(rows, tmp_path) -> str:
    return [line for line in write_summary(rows, tmp_path).splitlines() if line.startswith("- round")][-1]


def _row(round_index, phase, clean, attacked, valid_rate, tasks=100):
    return {"round": round_index, "phase": phase, "eval/fc_clean_success": clean,
            "eval/fc_attacked_success": attacked, "eval/query_valid_rate": valid_rate,
            "eval/tasks": tasks, "eval/valid_queries": round(valid_rate * tasks)}


def test_summary_states_each_change_its_margin_and_the_goal(tmp_path):
    rows = [_row(0, "start", 0.5, 0.5, 1.0), _row(1, "query", 0.5, 0.4, 0.95), _row(1, "fc", 0.47, 0.45, 0.95)]
    text = write_summary(rows, tmp_path)
    assert (tmp_path / "summary.md").read_text() == text
    query_line, fc_line = [line for line in text.splitlines() if line.startswith("- round 1")]
    # 1.96 * sqrt(0.5 * 0.5 / 100 + 0.4 * 0.6 / 95) = 0.1390
    assert "FC success vs the query model -10.0 points (+/- 13.9) (should fall: yes)" in query_line
    assert "valid queries 95.0 % (should stay >= 90 %: yes)" in query_line
    assert "(should rise: yes)" in fc_line and "clean tasks -3.0 points" in fc_line
    assert "(should not fall by more than 2: no)" in fc_line
    assert "| 1 | fc | 47.0 % | 45.0 % | 95.0 % |" in text
    start, final = [line for line in text.splitlines() if line.startswith("python -m agents.benchmark agent.")]
    assert f"+agent.run={tmp_path} +agent.round=0 opponent.kind=checkpoint +opponent.run={tmp_path}" in start
    assert f"+agent.run={tmp_path} opponent.kind=checkpoint" in final


def test_changes_on_the_same_tasks_get_a_paired_margin_and_their_flips(tmp_path):
    before = {**_row(1, "query", 0.5, 0.5, 0.5, tasks=4), "eval/clean_outcomes": [True, True, False, False],
              "eval/attacked_outcomes": [True, None, False, None]}
    after = {**_row(1, "fc", 0.75, 1.0, 0.5, tasks=4), "eval/clean_outcomes": [True, True, True, False],
             "eval/attacked_outcomes": [True, None, True, None]}
    fc_line = last_phase_line([before, after], tmp_path)
    # clean: 1 of 4 tasks flipped up, (1/4 - (1/4) ** 2) / 4 -> 1.96 * sqrt(0.046875) = 0.424; attacked: 1 of 2 -> 0.693
    assert "clean tasks +25.0 points (+/- 42.4 paired: 1 newly solved, 0 newly failed)" in fc_line
    assert "FC success vs the query model +50.0 points (+/- 69.3 paired: 1 newly solved, 0 newly failed)" in fc_line
    requery = {**after, "phase": "query", "eval/attacked_outcomes": [None, True, True, None]}
    query_line = last_phase_line([after, requery], tmp_path)
    # other queries, other valid tasks: an independent-samples margin, and the flips on the task valid both times
    assert ("FC success vs the query model +0.0 points (+/- 0.0; tasks scored both times: 1, 0 newly solved, "
            "0 newly failed)") in query_line
    beaten = {**requery, "eval/fc_attacked_success": 0.5, "eval/attacked_outcomes": [False, True, False, None]}
    query_line = last_phase_line([after, beaten], tmp_path)
    assert "tasks scored both times: 2, 0 newly solved, 2 newly failed)" in query_line


def test_query_phases_give_the_operator_mix_of_the_queries_that_won(tmp_path):
    start = _row(0, "start", 0.5, 0.5, 1.0)
    query = {**_row(1, "query", 0.5, 0.4, 0.95), "train/adversarial_queries": 5,
             "train/operator_mix": {"long_context": 3, "none": 2}}
    line = last_phase_line([start, query], tmp_path)
    assert line.endswith("5 training queries beat the FC model, by operator: long_context 3, none 2.")


def test_fc_phases_say_how_many_of_the_winning_training_queries_they_repaired(tmp_path):
    query = _row(1, "query", 0.5, 0.4, 0.95)
    fc = {**_row(1, "fc", 0.5, 0.45, 0.95), "train/lost_queries": 6, "train/lost_answered_before": 0,
          "train/lost_answered_after": 5}
    line = last_phase_line([query, fc], tmp_path)
    assert line.endswith("of the 6 training queries that beat the FC model in the query phase, it answers 0 before "
                         "this phase and 5 after (greedy, same task and query).")


def test_attack_success_counts_only_the_tasks_solved_clean_that_got_a_valid_query(tmp_path):
    before = {**_row(1, "query", 0.75, 0.5, 0.75, tasks=4), "eval/clean_outcomes": [True, True, True, False],
              "eval/attacked_outcomes": [True, None, False, False]}
    after = {**_row(1, "fc", 0.75, 0.67, 0.75, tasks=4), "eval/clean_outcomes": [True, True, True, False],
             "eval/attacked_outcomes": [True, None, True, False]}
    assert attack_success(before) == (2, 1)  # task 1 had no valid query, task 3 fails even clean
    assert attack_success(after) == (2, 0)
    assert attack_success(_row(0, "start", 0.5, 0.5, 1.0)) is None  # older rows without per-task outcomes
    text = write_summary([_row(0, "start", 0.5, 0.5, 1.0), before, after], tmp_path)
    assert "| 1 | query | 75.0 % | 50.0 % | 75.0 % | 50.0 % (1 of 2) |" in text
    assert "| 0 | start | 50.0 % | 50.0 % | 100.0 % | - |" in text
    query_line, fc_line = [line for line in text.splitlines() if line.startswith("- round 1")]
    assert "attack success on clean-solved tasks" not in query_line  # the start row has no outcomes
    assert "(should rise: yes), attack success on clean-solved tasks 50.0 % (1 of 2) -> 0.0 % (0 of 2)," in fc_line
