"""scripts/gpu_check.sh, run here with a stand-in nvidia-smi and stand-in steps: the script itself
(its flow, exit status, files brought back) is checked without a GPU, in about a second.

The measurement it runs is tested where it lives (tests/test_zoo.py measures a profile on this
machine); here `plcore measure` writes a committed measured profile to the path it is given, and
the GPU tests are recorded, not run, so each case costs a Python start-up, not a torch import and
a measurement (which took 70 s of `make test`). `plcore profile --check` runs for real.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


MEASURED = ROOT / "data" / "profiles" / "cpu-epyc-2core.json"


def _run_script(tmp_path: Path, measure: str, gpu_tests: str = "exit 0") -> tuple[
        subprocess.CompletedProcess, Path]:
    """Run the script with a stand-in nvidia-smi and an interpreter whose ``-m plcore measure``
    runs the bash lines ``measure`` instead (``$@``: its arguments) and whose ``-m pytest`` records
    its arguments in ``pytest.args`` and runs ``gpu_tests``. Returns the run and $OUT."""
    bin_dir, out_dir = tmp_path / "bin", tmp_path / "out"
    bin_dir.mkdir()
    out_dir.mkdir()
    _executable(bin_dir / "nvidia-smi", "#!/bin/sh\necho 'Stand-in GPU'\n")
    _executable(bin_dir / "py", f"""#!/bin/bash
if [ "$1 $2 $3" = "-m plcore measure" ]; then
    shift 3
{measure}
fi
if [ "$1 $2" = "-m pytest" ]; then
    echo "$@" > {tmp_path / "pytest.args"}
{gpu_tests}
fi
exec {sys.executable} "$@"
""")
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", PY=str(bin_dir / "py"),
               OUT=str(out_dir))
    run = subprocess.run(["bash", "scripts/gpu_check.sh", str(tmp_path / "profile.json")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return run, out_dir


# A stand-in measurement: the committed measured profile, written where --out says.
COPY_PROFILE = f"""    [ "$1" = "--out" ] || exit 9
    cp {MEASURED} "$2"
    exit 0"""


def test_gpu_check_script_measures_reports_and_brings_files_back(tmp_path):
    run, out_dir = _run_script(tmp_path, COPY_PROFILE)
    assert "Stand-in GPU" in run.stdout
    assert (tmp_path / "pytest.args").read_text().split()[:3] == ["-m", "pytest",
                                                                  "tests/test_gpu.py"]
    prof = json.loads((out_dir / "profile.json").read_text())          # brought back
    assert prof == json.loads(MEASURED.read_text())
    assert prof == json.loads((tmp_path / "profile.json").read_text())
    log = (out_dir / "gpu_check.log").read_text()
    # The real targets check of that profile decides the exit status.
    check = subprocess.run([sys.executable, "-m", "plcore", "profile", str(MEASURED), "--check"],
                           cwd=ROOT, capture_output=True, text=True)
    assert check.returncode in (0, 1), check.stderr
    assert f"gpu tests exit 0, targets check exit {check.returncode}" in log
    assert run.returncode == check.returncode, run.stdout + run.stderr


def test_gpu_check_script_measures_even_when_a_gpu_test_fails(tmp_path):
    run, out_dir = _run_script(tmp_path, COPY_PROFILE, gpu_tests="exit 1")
    assert (out_dir / "profile.json").exists()                        # measured all the same
    assert "gpu tests exit 1" in (out_dir / "gpu_check.log").read_text()
    assert run.returncode != 0


def test_gpu_check_script_brings_back_a_partial_profile_when_measuring_fails(tmp_path):
    # A measurement that fails late, leaving its partial profile ($2 is the --out path).
    run, out_dir = _run_script(tmp_path, """\
    echo '{"stage": "validation"}' > "$2.partial"
    exit 1""")
    assert run.returncode == 3, run.stdout + run.stderr
    assert json.loads((out_dir / "profile.json.partial").read_text()) == {"stage": "validation"}
    assert (out_dir / "gpu_check.log").exists()
