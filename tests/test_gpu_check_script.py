"""scripts/gpu_check.sh, run here with a stand-in nvidia-smi and a small measurement: the script
itself (its flow, exit status, files brought back) is checked without a GPU."""

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


def _run_script(tmp_path: Path, measure: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the script with a stand-in nvidia-smi and an interpreter whose ``-m plcore measure``
    runs the bash lines ``measure`` instead (``$@``: its arguments). Returns the run and $OUT."""
    bin_dir, out_dir = tmp_path / "bin", tmp_path / "out"
    bin_dir.mkdir()
    out_dir.mkdir()
    _executable(bin_dir / "nvidia-smi", "#!/bin/sh\necho 'Stand-in GPU'\n")
    _executable(bin_dir / "py", f"""#!/bin/bash
if [ "$1 $2 $3" = "-m plcore measure" ]; then
    shift 3
{measure}
fi
exec {sys.executable} "$@"
""")
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", PY=str(bin_dir / "py"),
               OUT=str(out_dir))
    run = subprocess.run(["bash", "scripts/gpu_check.sh", str(tmp_path / "profile.json")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return run, out_dir


def test_gpu_check_script_measures_reports_and_brings_files_back(tmp_path):
    # The real measurement, shrunk to a tiny network (seconds, not minutes).
    run, out_dir = _run_script(tmp_path, f"""\
    exec {sys.executable} -m plcore measure "$@" --archs resnet18 --scale 0.125 --repeats 2 \\
        --warmup 1 --batches 1""")
    assert "Stand-in GPU" in run.stdout
    prof = json.loads((out_dir / "profile.json").read_text())          # brought back
    assert prof == json.loads((tmp_path / "profile.json").read_text())
    log = (out_dir / "gpu_check.log").read_text()
    met = prof["validation"]["makespan_rel_err"] <= 0.05
    assert f"targets check exit {0 if met else 1}" in log
    assert run.returncode == (0 if met else 1), run.stdout + run.stderr


def test_gpu_check_script_brings_back_a_partial_profile_when_measuring_fails(tmp_path):
    # A measurement that fails late, leaving its partial profile ($2 is the --out path).
    run, out_dir = _run_script(tmp_path, """\
    echo '{"stage": "validation"}' > "$2.partial"
    exit 1""")
    assert run.returncode == 3, run.stdout + run.stderr
    assert json.loads((out_dir / "profile.json.partial").read_text()) == {"stage": "validation"}
    assert (out_dir / "gpu_check.log").exists()
