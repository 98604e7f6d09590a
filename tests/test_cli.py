"""The command line: validate, info, run, zoo, --version; one-line errors with exit code 2."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xbarsim import __version__
from xbarsim.cli.main import main
from xbarsim.config import load_arch
from xbarsim.mapping.blocks import map_workload
from xbarsim.mapping.encoding import Encoding
from xbarsim.timing.simulate import LAYER_COLUMNS, SUMMARY_COLUMNS
from xbarsim.workload import ZOO, load_workload

ROOT = Path(__file__).resolve().parent.parent
ARCHS = sorted((ROOT / "arch_configs").glob("*.yaml"))
WORKLOADS = sorted((ROOT / "workloads").glob("*.yaml"))
TINY = str(ROOT / "arch_configs" / "tiny.yaml")
ISAAC = str(ROOT / "arch_configs" / "isaac_like.yaml")
MLP = str(ROOT / "workloads" / "mlp_digits.yaml")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m xbarsim`` in a real process (the package is importable from the repo root)."""
    return subprocess.run([sys.executable, "-m", "xbarsim", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)


def assert_one_error_line(stderr: str, *fragments: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def header(path: Path) -> tuple[str, ...]:
    with path.open(newline="", encoding="utf-8") as handle:
        return tuple(next(csv.reader(handle)))


# --- validate ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ARCHS, ids=lambda p: p.stem)
def test_validate_every_shipped_arch(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, out, err = run_cli(capsys, "validate", str(path))
    assert (code, err) == (0, "")
    assert out == f"{path}: ok (architecture {load_arch(path).name})\n"


@pytest.mark.parametrize("path", WORKLOADS, ids=lambda p: p.stem)
def test_validate_every_shipped_workload(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, out, err = run_cli(capsys, "validate", str(path))
    workload = load_workload(path)
    assert (code, err) == (0, "")
    assert out == f"{path}: ok (workload {workload.name}, {len(workload.layers)} layers)\n"


def test_validate_several_files_prints_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "validate", TINY, MLP)
    assert code == 0
    assert out.splitlines() == [f"{TINY}: ok (architecture tiny)",
                                f"{MLP}: ok (workload mlp_digits, 3 layers)"]


@pytest.mark.parametrize("text", ["foo: 1\nbar: [1, 2]\n", "- 1\n- 2\n"], ids=["dict", "list"])
def test_validate_file_that_is_neither(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       text: str) -> None:
    path = tmp_path / "neither.yaml"
    path.write_text(text)
    code, out, err = run_cli(capsys, "validate", str(path))
    assert (code, out) == (2, "")
    assert err == (f"error: {path}: not an architecture (needs a 'crossbar' key) nor a workload "
                   "(needs a 'layers' key)\n")


def test_validate_bad_arch_names_file_and_key(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    data = yaml.safe_load(Path(TINY).read_text())
    data["crossbar"]["adc"]["bitz"] = data["crossbar"]["adc"].pop("bits")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    code, out, err = run_cli(capsys, "validate", str(path))
    assert (code, out) == (2, "")
    assert_one_error_line(err, f"error: {path}: crossbar.adc.bitz: unknown key",
                          "(did you mean 'bits'?)")


# --- info --------------------------------------------------------------------------------------


def _numbers(line: str) -> list[int]:
    return [int(tok.replace(",", "")) for tok in line.split()[1:]]


def test_info_isaac_resnet50_totals_equal_mapping(capsys: pytest.CaptureFixture[str]) -> None:
    workload_path = ROOT / "workloads" / "resnet50_imagenet.yaml"
    code, out, err = run_cli(capsys, "info", "--arch", ISAAC, "--workload", str(workload_path))
    assert (code, err) == (0, "")
    enc = Encoding.from_arch(load_arch(ISAAC))
    maps = map_workload(load_workload(workload_path), enc)
    blocks = sum(m.blocks for m in maps)
    lines = out.splitlines()
    assert lines[0] == ("resnet50_imagenet on isaac_like: 128x128 crossbars, "
                        "8 slices x 1 per weight, 16 reads per vector")
    (total,) = [line for line in lines if line.startswith("total ")]
    assert _numbers(total) == [blocks, sum(m.cells for m in maps), sum(m.macs for m in maps)]
    # fc by hand: K = 2048, O = 1000, s*d = 8 -> 16 row blocks x ceil(8000/128) = 63 column
    # blocks = 1008 crossbars; cells 2048*1000*8 = 16,384,000; MACs 2048*1000.
    (fc,) = [line for line in lines if line.startswith("fc ")]
    assert _numbers(fc) == [2048, 1000, 1, 1, 1008, 16_384_000, 2_048_000]
    # One row per MVM layer plus the total.
    assert len([m for m in maps if m.name in {ln.split()[0] for ln in lines}]) == len(maps) == 54
    assert lines[-2] == (f"crossbars needed to hold the whole network: {blocks:,} "
                         "(chip has 16,128: fits)")
    assert lines[-1].startswith("static copies for one image (mapping.replication: balance; a "
                               "batch may get more, in lanes): conv1 x")


def test_info_tiny_mlp_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "info", "--arch", TINY, "--workload", MLP)
    assert code == 0
    # fc1 64 + fc2 10 = 74 blocks (see test_mapping); tiny has 32 crossbars.
    assert out.splitlines()[-1] == ("crossbars needed to hold the whole network: 74 "
                                    "(chip has 32: does not fit)")
    code, out, _ = run_cli(capsys, "info", "--arch", TINY, "--workload", MLP,
                           "--set", "chip.crossbars=74")
    assert out.splitlines()[-2].endswith("(chip has 74: fits)")
    assert out.splitlines()[-1].endswith("all layers x1, 74 crossbars used")


def test_info_bad_set_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "info", "--arch", TINY, "--workload", MLP,
                             "--set", "crossbar.adcs.bits=3")
    assert (code, out) == (2, "")
    assert err == ("error: --set: crossbar.adcs.bits: no such key 'adcs' under crossbar "
                   "(did you mean 'adc'?)\n")


def test_info_missing_workload(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    code, out, err = run_cli(capsys, "info", "--arch", TINY, "--workload", str(missing))
    assert (code, out) == (2, "")
    assert err == f"error: {missing}: file not found\n"


def test_info_bad_set_value_in_a_real_process() -> None:
    proc = run_process("info", "--arch", TINY, "--workload", MLP, "--set", "crossbar.rows=abc")
    assert proc.returncode == 2
    assert proc.stdout == ""
    line = assert_one_error_line(proc.stderr)
    assert line == "error: --set: crossbar.rows: got 'abc' (expected an integer)"


# --- run ---------------------------------------------------------------------------------------


def test_run_static_with_too_few_crossbars_in_a_real_process() -> None:
    proc = run_process("run", "--arch", TINY, "--workload", MLP, "--dataflow", "static",
                       "--crossbars", "4")
    assert proc.returncode == 2
    assert proc.stdout == ""
    # mlp_digits needs 64 + 10 = 74 crossbars on tiny.
    assert_one_error_line(proc.stderr, "static needs 74 crossbars", "the chip has 4",
                          "reprogram")


def test_run_static_with_too_few_crossbars_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "run", "--arch", TINY, "--workload", MLP,
                             "--dataflow", "static", "--crossbars", "4")
    assert (code, out) == (2, "")
    assert_one_error_line(err, "74", "4")


def _run_to(capsys: pytest.CaptureFixture[str], out_dir: Path, seed: int,
            *extra: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    code, out, err = run_cli(capsys, "run", "--arch", TINY, "--workload", MLP,
                             "--dataflow", "reprogram", "--crossbars", "16", "--seed", str(seed),
                             "--out", str(out_dir), *extra)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == (f"wrote {out_dir}/summary.csv, layers.csv, utilization.csv "
                                    "and area.csv")
    return read_csv(out_dir / "summary.csv"), read_csv(out_dir / "layers.csv")


def test_run_out_writes_summary_and_layers(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    summary, layers = _run_to(capsys, tmp_path / "out", 0)
    assert header(tmp_path / "out" / "summary.csv") == SUMMARY_COLUMNS
    assert header(tmp_path / "out" / "layers.csv") == LAYER_COLUMNS
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "area.csv", "layers.csv", "summary.csv", "utilization.csv"]
    (row,) = summary
    assert {k: row[k] for k in ("workload", "arch", "dataflow", "crossbars", "batch", "seed",
                                "version")} == {
        "workload": "mlp_digits", "arch": "tiny", "dataflow": "reprogram", "crossbars": "16",
        "batch": "1", "seed": "0", "version": __version__}
    # Hand counts (see test_mapping): 74 blocks in 256 + 40 reads, 4096 + 640 conversions,
    # 16384 + 2560 = 18944 cells written once per batch at 3 fixed pulses each = 56832 pulses.
    assert int(row["xbar_reads"]) == 296
    assert int(row["adc_conversions"]) == 4736
    assert int(row["cells_written"]) == 18944
    assert int(row["write_pulses"]) == 3 * 18944
    assert [r["layer"] for r in layers] == ["flatten", "fc1", "fc2"]
    assert [int(r["blocks"]) for r in layers] == [0, 64, 10]
    assert [int(r["xbar_reads"]) for r in layers] == [0, 256, 40]


def _without_wall(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def test_same_seed_gives_identical_csvs(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    # Sampled pulse counts make the seed matter (tiny's fixed model would not exercise it).
    measured = ("--set", "write_verify.pulse_model=measured")
    first = _run_to(capsys, tmp_path / "a", 7, *measured)
    second = _run_to(capsys, tmp_path / "b", 7, *measured)
    other = _run_to(capsys, tmp_path / "c", 8, *measured)
    assert _without_wall(first[0]) == _without_wall(second[0])
    assert first[1] == second[1]
    assert "wall_s" not in LAYER_COLUMNS
    assert (tmp_path / "a" / "layers.csv").read_bytes() == (tmp_path / "b" / "layers.csv"
                                                            ).read_bytes()
    # A different seed samples different pulses: the comparison above is not vacuous.
    assert first[0][0]["write_pulses"] != other[0][0]["write_pulses"]


# --- zoo, --version ----------------------------------------------------------------------------


def test_zoo_regenerates_the_shipped_workloads(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, "zoo", "--out", str(tmp_path))
    assert (code, err) == (0, "")
    assert out.startswith(f"wrote {len(ZOO)} workloads to {tmp_path}/")
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(f"{name}.yaml" for name in ZOO)
    for name in written:
        assert (tmp_path / name).read_bytes() == (ROOT / "workloads" / name).read_bytes(), name


def test_version_in_a_real_process() -> None:
    proc = run_process("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"xbarsim {__version__}\n"
    assert proc.stderr == ""


def test_run_into_an_unwritable_directory_leaves_nothing(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = main(["run", "--arch", "arch_configs/tiny.yaml", "--workload",
                 "workloads/mlp_digits.yaml", "--dataflow", "reprogram", "--crossbars", "16",
                 "--out", str(blocker / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_unknown_granularity_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--arch", "arch_configs/tiny.yaml", "--workload",
              "workloads/mlp_digits.yaml", "--dataflow", "reprogram", "--granularity", "cycle"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "granularity" in err and err.count("\n") == 1


def test_workload_by_zoo_name(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    by_path = run_cli(capsys, "info", "--arch", TINY, "--workload", MLP)
    by_name = run_cli(capsys, "info", "--arch", TINY, "--workload", "mlp_digits")
    assert by_name == by_path and by_name[0] == 0
    # an installed package has no workloads/ folder: the network is generated into the cache
    monkeypatch.setattr("xbarsim.io.zoo_files.SHIPPED", tmp_path / "absent")
    monkeypatch.setenv("XBARSIM_CACHE", str(tmp_path / "cache"))
    assert run_cli(capsys, "info", "--arch", TINY, "--workload", "mlp_digits") == by_path
    assert (tmp_path / "cache" / "zoo" / "mlp_digits.yaml").is_file()
    code, out, err = run_cli(capsys, "info", "--arch", TINY, "--workload", "mlp_digitz")
    assert (code, out) == (2, "")
    assert err.startswith("error: --workload: no file 'mlp_digitz' and no zoo network of that "
                          "name (zoo: densenet121_cifar100,")


def test_zoo_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "zoo", "--list")
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    # LeNet-5: 8 layers, 5 of them conv or linear, 61,470 weights, 416,520 MACs
    assert rows["lenet5_mnist"] == ["8", "5", "61,470", "416,520"]
    # ResNet-20: 0.27M weights (He et al. 2016, table 6)
    assert rows["resnet20_fashion"] == ["32", "22", "270,608", "31,021,952"]
    assert len(rows) == len(ZOO)
