#!/usr/bin/env bash
# A GPU session for issue 9 in two device calls: the device check and the trainer's tokens/s, then the
# gpu-preset report (both planners, K = 2, 7, 12, six trainings sharing the GPU). Logs and results land in $OUT.
#
# Here, once (gymnasium is missing on the device machines; it travels as wheels):
#   echo /.whl/ >> "$(git rev-parse --git-path info/exclude)"
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl gymnasium==1.4.0 farama-notifications==0.0.6 cloudpickle==3.1.3
# Then two device calls, each with carry [".whl"] and timeout_s 600:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD && bash benchmarks/gpu_session.sh check throughput
#   (the same) ... && REPORT_MINUTES=4 bash benchmarks/gpu_session.sh report
#
# REPORT_MINUTES caps each training of the report (default 4; the six share the GPU) so that the report,
# its evaluations included, ends inside one call. A stage that fails is logged and the next one runs.
set -uo pipefail
out=${OUT:-gpu-session}
minutes=${REPORT_MINUTES:-4}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
step() {  # step NAME SECONDS COMMAND...: run COMMAND under a time limit, its output in $out/NAME.log
    local name=$1 seconds=$2; shift 2
    echo "== $name ($(date -u +%T), limit ${seconds}s)"
    timeout "$seconds" "$@" >"$out/$name.log" 2>&1
    echo "== $name: exit $? after ${SECONDS}s of the session"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/device.txt"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/device.txt"
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(check throughput report)
for stage in "${stages[@]}"; do
    case $stage in
    check) step gpu-check 150 python -m tests.device_check --device cuda ;;
    throughput) step throughput 150 python benchmarks/trainer_throughput.py --device cuda --preset gpu \
        --batch-sizes 256,1024,2048 --steps 100 --out "$out/throughput.json" ;;
    report) step report $((minutes * 60 + 180)) python -m mazebench report --preset gpu --jobs 6 --quiet \
        --sweep-steps 16,64,256 --sweep-limit 150 --max-minutes "$minutes"
        tar czf "$out/report-gpu.tgz" reports/gpu-*min runs/gpu-*min/*/metrics.jsonl runs/gpu-*min/*/summary.json ;;
    *) echo "unknown stage $stage (check, throughput, report)"; exit 2 ;;
    esac
done
tail -n 3 "$out"/*.log
