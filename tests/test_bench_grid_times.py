import re

import pytest

from benchmarks import bench_grid_times


def test_grid_time_is_extrapolated_from_cpu_seconds_and_states_the_load(capsys, monkeypatch):
    monkeypatch.setattr(bench_grid_times.os, "getloadavg", lambda: (7.5, 7.0, 6.0))
    monkeypatch.setattr(bench_grid_times.os, "cpu_count", lambda: 2)
    grid = bench_grid_times.main(["--methods", "random", "evolution", "--seeds-per-dataset", "1"])
    out = capsys.readouterr().out
    assert set(grid) == {"random", "evolution"} and all(0 < s < bench_grid_times.LIMIT_S for s in grid.values())
    assert "extrapolated from 3 runs" in out and "load 7.5 on 2 cores, shared machine" in out
    assert "slowest:" in out
    # the host's speed, read off a fixed workload at the start and the end
    references = re.findall(r"reference fit (\d+) CPU-ms", out)
    assert len(references) == 2 and all(int(ms) > 0 for ms in references)


def test_unknown_method_is_one_error_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench_grid_times.main(["--methods", "nosuch"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: unknown method(s) nosuch") and err.count("\n") == 1
