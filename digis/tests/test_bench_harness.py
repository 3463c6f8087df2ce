"""The benchmark harness keeps its promises (bench/servers.py, bench/summary.py):
results are only ever appended, web processes start as the Procfile says, and
`make bench`'s summary says met / not met for every recorded target."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def servers(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import servers

    return servers


def test_a_run_is_appended_under_its_section_and_older_runs_stay(servers, tmp_path):
    # given a results file with two sections and an earlier run in each
    results = tmp_path / "RESULTS.md"
    earlier = "# Benchmark results\n\n## ledger\n\nold ledger run: 0.54\n\n## payments\n\nold payments run\n"
    results.write_text(earlier)

    # when a new ledger run and a run of a benchmark with no section yet are appended
    servers.append_run("## ledger", "### Run, today\n\nnew ledger run: 0.71\n", path=results)
    servers.append_run("## calls", "## calls\n\n### Run\n\nnew calls run\n", path=results)

    # then every earlier line is still there, in order, and the new runs follow their section's old ones
    text = results.read_text()
    assert text.index("old ledger run: 0.54") < text.index("new ledger run: 0.71") < text.index("## payments")
    assert text.index("old payments run") < text.index("## calls") < text.index("new calls run")
    kept = [line for line in earlier.splitlines() if line]
    assert [line for line in text.splitlines() if line in kept] == kept
    assert text.count("## calls") == 1


def test_the_web_command_is_the_procfiles_bound_to_loopback(servers):
    command = servers.web_command(8123, python="/py")
    assert command[:3] == ["/py", "-m", "digis.server"]
    assert "127.0.0.1" in command and "8123" in command and "0.0.0.0" not in command


def test_a_run_heading_names_date_commit_and_load(servers):
    run = servers.Run("bench/x.py --quick").finish()
    heading = run.heading("Run")
    assert "commit" in heading and run.load_before in heading and run.load_after in heading
    assert "`bench/x.py --quick`" in heading


def test_summary_prints_every_target_with_its_verdict(servers, tmp_path, monkeypatch):
    summary = tmp_path / "summary.jsonl"
    monkeypatch.setenv("BENCH_SUMMARY", str(summary))
    servers.record_target("ledger", "transfer/floor", "0.72 (0.69-0.75)", ">= 0.7", True)
    servers.record_target("explore", "signed_api p95", "61 ms", "< 50 ms", False)
    servers.record_target("payments", "sustained", "150/s", "reported", None)
    assert len([json.loads(line) for line in summary.read_text().splitlines()]) == 3

    out = subprocess.run([sys.executable, str(BENCH / "summary.py"), str(summary)], capture_output=True, text=True,
                         check=True).stdout
    assert "| ledger " in out and "| met " in out
    assert "| explore " in out and "NOT MET" in out
    assert "1 of 2 targets met" in out
