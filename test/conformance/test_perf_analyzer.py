"""Triton's perf_analyzer, unchanged, against Modelport over REST and gRPC: it must run to the end
(model metadata, config, server metadata, statistics and inference all as it expects) and report
a throughput at every concurrency level. Figures are not judged here; bench/ measures speed."""
import csv
import os
import subprocess

import pytest

PERF_ANALYZER = os.environ.get("PERF_ANALYZER", "perf_analyzer")
CONCURRENCY = [1, 5, 9, 13]  # --concurrency-range 1:16:4


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize("model", ["mlp", "text_direction"])
def test_perf_analyzer_runs_and_reports_throughput(server, tmp_path, protocol, model):
    report = tmp_path / "report.csv"
    command = [
        PERF_ANALYZER, "-m", model, "-i", protocol, "-u", server.http if protocol == "http" else server.grpc,
        "--concurrency-range", "1:16:4", "--measurement-interval", "1000",
        # Two shared cores make windows noisy; the run must finish, not be precise.
        "--stability-percentage", "100", "--max-trials", "10",
        "-f", str(report),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"perf_analyzer exited {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}"
    assert "Server:" in run.stdout, "perf_analyzer printed no server-side statistics"
    with open(report, newline="") as handle:
        rows = list(csv.DictReader(handle))
    # perf_analyzer sorts the report by throughput, not by concurrency.
    assert sorted(int(r["Concurrency"]) for r in rows) == CONCURRENCY, rows
    for row in rows:
        assert float(row["Inferences/Second"]) > 0, row
