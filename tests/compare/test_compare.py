"""`verm-rl compare` on offline wandb runs made here (different lengths, a metric one arm lacks)."""

from __future__ import annotations

import math
import random
import shutil
import types

import pytest

from verm_rl.compare import CompareError, compare, find_offline_runs, load_api_runs, load_runs, read_offline_run

RUNS = [  # name, steps, metrics logged
    ("chart2code__structural__tiny__s0", 5, ("val-common/all/ssim", "verm/all/render_rate", "verm/all/severity/total")),
    ("chart2code__structural__tiny__s1", 4, ("val-common/all/ssim", "verm/all/render_rate", "verm/all/severity/total")),
    ("chart2code__ssim__tiny__s0", 3, ("val-common/all/ssim", "verm/all/render_rate")),
]


@pytest.fixture(scope="module")
def offline_runs(tmp_path_factory):
    import wandb

    root = tmp_path_factory.mktemp("runs")
    rng = random.Random(7)
    logged = {}
    for name, steps, metrics in RUNS:
        arm, seed = name.split("__")[1], int(name[-1])
        run = wandb.init(project="verm-compare-test", name=name, group="sweep-1", tags=[f"arm:{arm}"], dir=str(root),
                         mode="offline", config={"verm": {"summary": {"arm": arm, "seed": seed}}})
        values = {m: [round(rng.uniform(0, 1), 6) for _ in range(steps)] for m in metrics}
        for step in range(steps):
            run.log({m: v[step] for m, v in values.items()} | {"verm/by_candidate/x": 1.0}, step=step)
        run.finish()
        logged[name] = values
    return root, logged


def cell(table: str, metric: str) -> list[str]:
    line = next(row for row in table.splitlines() if row.startswith(f"| `{metric}`"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def test_offline_runs_are_read_back_exactly(offline_runs):
    root, logged = offline_runs
    runs = {r.name: r for r in map(read_offline_run, find_offline_runs([root]))}
    assert set(runs) == {n for n, _, _ in RUNS}
    for name, values in logged.items():
        r = runs[name]
        assert r.group == "sweep-1" and r.arm == name.split("__")[1] and r.seed == name[-1]
        for metric, series in values.items():
            assert [r.history[metric][s] for s in range(len(series))] == series


def test_table_has_the_logged_final_and_best_values_and_dashes(offline_runs, tmp_path):
    root, logged = offline_runs
    result = compare(load_runs([str(root)]), tmp_path / "out")
    table = result.table
    header = [c.strip() for c in next(r for r in table.splitlines() if r.startswith("| metric")).strip("|").split("|")]
    assert header[1:] == ["ssim final", "ssim best", "structural final", "structural best"]
    ssim = logged["chart2code__ssim__tiny__s0"]
    row = cell(table, "val-common/all/ssim")
    assert row[0] == f"{ssim['val-common/all/ssim'][-1]:.4g}" and row[1] == f"{max(ssim['val-common/all/ssim']):.4g}"
    s0, s1 = logged["chart2code__structural__tiny__s0"], logged["chart2code__structural__tiny__s1"]
    finals = [s0["verm/all/render_rate"][-1], s1["verm/all/render_rate"][-1]]
    mean = sum(finals) / 2
    std = math.sqrt(sum((f - mean) ** 2 for f in finals))
    assert cell(table, "verm/all/render_rate")[2] == f"{mean:.4g} ± {std:.2g}"
    sev = cell(table, "verm/all/severity/total")  # lower is better: best = min; the ssim arm lacks it
    assert sev[0] == sev[1] == "—"
    best = [min(s0["verm/all/severity/total"]), min(s1["verm/all/severity/total"])]
    assert sev[3].startswith(f"{sum(best) / 2:.4g}")
    assert "verm/by_candidate/x" not in table  # not a comparison metric
    assert "| structural | 2 (0, 1) | 5, 4 |" in table and "| ssim | 1 (0) | 3 |" in table
    for png in result.pngs:
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert {p.name for p in result.pngs} == {"val-common.png", "verm.png", "severity.png"}
    page = result.html.read_text()
    assert all(p.name in page for p in result.pngs) and "<table>" in page and "—" in page
    assert (tmp_path / "out" / "compare.md").read_text().endswith(table)


def test_cli_writes_the_folder_and_prints_the_page(offline_runs, tmp_path, capsys):
    from verm_rl.cli import main

    root, _ = offline_runs
    assert main(["compare", str(root), "--out", str(tmp_path / "c"), "--group", "sweep-1", "--open"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == str((tmp_path / "c" / "index.html").resolve())
    assert main(["compare", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "d")]) == 2


def test_a_torn_log_reads_up_to_the_tear(offline_runs, tmp_path):
    root, logged = offline_runs
    src = next(p for p in find_offline_runs([root]) if "ssim" in read_offline_run(p).name)
    torn = tmp_path / "run-torn.wandb"
    data = src.read_bytes()
    torn.write_bytes(data[: len(data) * 2 // 3])
    run = read_offline_run(torn)
    assert run.name == "chart2code__ssim__tiny__s0"  # the run record comes first
    shutil.copy(src, tmp_path / "not-wandb.wandb")
    (tmp_path / "not-wandb.wandb").write_bytes(b"hello")
    with pytest.raises(CompareError, match="not a wandb transaction log"):
        read_offline_run(tmp_path / "not-wandb.wandb")


def test_api_runs_are_read_through_scan_history():
    """The wandb cloud cannot be reached here: a stand-in with the public API's shape."""
    rows = {"a": [{"_step": 0, "val-common/all/ssim": 0.5, "note": "x"}, {"_step": 1, "val-common/all/ssim": 0.7}]}

    def mk(i):
        return types.SimpleNamespace(id=i, name=f"t__verm__m__s{i}" if i != "a" else "t__ssim__m__s0", group="g",
                                     tags=[], config={}, scan_history=lambda: iter(rows.get(i, [])))

    api = types.SimpleNamespace(runs=lambda path, filters: [mk("a"), mk("1")], run=lambda path: mk(path[-1]))
    runs = load_api_runs("p", group="g", api=api)
    assert [r.arm for r in runs] == ["ssim", "verm"] and runs[0].history["val-common/all/ssim"] == {0: 0.5, 1: 0.7}
    with pytest.raises(CompareError):
        load_api_runs("p", api=api)


def test_runs_within_an_arm_are_listed_by_seed_whatever_order_they_were_found_in(offline_runs, tmp_path):
    root, _ = offline_runs
    runs = load_runs([str(root)])
    tables = {order: compare(list(rs), tmp_path / order).table
              for order, rs in (("found", runs), ("reversed", runs[::-1]))}
    assert tables["found"] == tables["reversed"]
    assert "| structural | 2 (0, 1) | 5, 4 | chart2code__structural__tiny__s0, chart2code__structural__tiny__s1 |" \
        in tables["reversed"]
