"""The device check (`make gpu-check`) on the CPU, so that the script a GPU run depends on cannot rot."""

import pytest

from tests.device_check import main


@pytest.mark.slow
def test_every_code_path_runs_on_the_cpu(capsys):
    assert main(["--device", "cpu"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "device check on cpu: all passed" in out
    for name in (
        "train mdm --preset gpu",
        "resume flexmdm",
        "vanilla-poisson-uniform (paper)",
        "torchrun",
        "tiny report",
    ):
        assert name in out
