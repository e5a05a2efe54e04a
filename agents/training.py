"""One training loop for both planners: AdamW with warm-up, EMA weights, low-discrepancy times,
length-sorted batches, bf16 autocast where the hardware has it, checked atomic checkpoints, exact
resume, a clean stop on Ctrl-C / SIGTERM, and no host synchronisation inside a step (GPU-friendly)."""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from pathlib import Path

import torch

from agents.batching import TokenizedSplit, epoch_batches
from agents.checkpoints import read_checkpoint, save_checkpoint
from agents.config import TrainConfig, saved_settings
from agents.distributed import join_process_group
from agents.loading import CHECKPOINT, LEGACY_CHECKPOINT, build_method, build_model, checkpoint_file, pick_device
from agents.tokenizer import CellTokenizer
from mazebench.progress import progress_bar

# The narrowest model whose training does not lose by bf16 autocast on a CPU with native bf16 instructions
# (avx512_bf16, no AMX; K = 12, one thread): at d_model 64 (mini) it ran at 0.55-0.76x fp32 (FlexMDM, MDM),
# at 128 (cpu) level (0.93x FlexMDM, 1.03x MDM, 1.11x AR), at 256 (paper) 1.4-1.6x (FlexMDM). Below it the
# casts around the small matrix products cost more than they save (reports/mini/trainer-speed.md).
CPU_BF16_MIN_WIDTH = 128


def bf16_autocast_supported(device: torch.device) -> bool:
    """The device has native bf16 matrix arithmetic: CUDA with bf16, or a CPU with bf16 instructions."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def bf16_autocast_pays(device: torch.device, d_model: int) -> bool:
    """bf16 autocast speeds up training of a model ``d_model`` wide on ``device``: where the hardware
    has native bf16 and, on a CPU, the model is at least ``CPU_BF16_MIN_WIDTH`` wide."""
    return bf16_autocast_supported(device) and (device.type == "cuda" or d_model >= CPU_BF16_MIN_WIDTH)


class EMA:
    """Exponential moving average of the weights with the warm-up decay min(decay, (1 + n) / (10 + n))."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(list(self.model.parameters()), [p.detach() for p in model.parameters()], 1 - decay)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = state["updates"]


def learning_rate(cfg: TrainConfig, step: int, steps_per_epoch: int, total_steps: int) -> float:
    """Linear warm-up, then constant or cosine down to lr / 10 at ``total_steps``: a function of the step alone."""
    warmup = max(1, int(cfg.warmup_epochs * steps_per_epoch))
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    if cfg.lr_schedule == "constant":
        return cfg.lr
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@contextmanager
def stop_requests():
    """A flag set by the first SIGINT or SIGTERM (the run then stops cleanly after its current step);
    a second one acts as usual. Outside the main thread no handler is installed."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, _frame):
        requested.set()
        signal.signal(signum, previous[signum])

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


RUN_FILES = (CHECKPOINT, "metrics.jsonl", "config.json", "summary.json")


def train(dataset, agent: str, cfg: TrainConfig, out_dir: str | Path, **options) -> dict:
    """Train ``agent`` on ``dataset`` into ``out_dir`` (checkpoint.safetensors, metrics.jsonl, config.json); the
    run folder's lock (``mazebench.folders``) is held by the writing process (rank 0) throughout.

    ``quick_eval(planner_model, method) -> float`` (held-out success) is called periodically with the
    EMA model. ``stop_after`` ends this call after that many steps (as an interruption would; the
    run can be resumed). SIGINT / SIGTERM stop the run after the current step with a checkpoint
    (``stopped_by`` "interrupted", no summary.json). Returns a summary of the run.

    Under torchrun (WORLD_SIZE > 1) every process calls this: each batch of ``cfg.batch_size`` is
    split across the ranks (same noise as one process would draw), gradients are averaged by
    DistributedDataParallel, and rank 0 alone writes the run folder and shows progress. Every
    decision of a step (learning rate, skipping a non-finite step, stopping) is the same on every
    rank; a run whose replicas end apart raises ``ReplicaDriftError``. ``options``: device ("auto"),
    resume (False), progress (True), quick_eval (None), stop_after (None).
    """
    from mazebench.folders import folder_lock

    writer = int(os.environ.get("RANK", "0")) == 0
    with folder_lock(out_dir) if writer else nullcontext():
        return _train(dataset, agent, cfg, out_dir, **options)


def _train(
    dataset,
    agent: str,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
    quick_eval=None,
    stop_after: int | None = None,
) -> dict:
    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT
    if (out / LEGACY_CHECKPOINT).exists() and not ckpt_path.exists():
        checkpoint_file(out)  # a FileNotFoundError with the command that converts the run
    if not resume and ckpt_path.exists():
        raise ValueError(
            f"{out} already holds a run; pass --resume to continue it, or remove it or choose another --out"
        )
    if resume and not ckpt_path.exists():
        raise ValueError(
            f"--resume: no checkpoint at {ckpt_path} (the run stopped before its first one, or never "
            f"started); run the same command without --resume to start it afresh"
        )
    world, dev = join_process_group(pick_device(device))
    if cfg.batch_size % world.size:
        raise ValueError(
            f"batch size {cfg.batch_size} does not split over {world.size} processes; choose a multiple of {world.size}"
        )
    world.barrier()  # every rank has checked the run folder before rank 0 writes into it
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
        _clear_leftovers(out, fresh=not resume)
    height, width = dataset.maze.shape
    tokenizer = CellTokenizer(height, width)
    data = TokenizedSplit.from_split(dataset.train, tokenizer)
    max_path_len = int(max(data.lengths.max(), TokenizedSplit.from_split(dataset.val, tokenizer).lengths.max()))
    method = build_method(agent, tokenizer, dataset.num_subgoals, max_path_len)
    torch.manual_seed(cfg.seed)
    model = build_model(method, tokenizer, cfg).to(dev)
    trained = model if world.size == 1 else torch.nn.parallel.DistributedDataParallel(model)
    ema = EMA(model, cfg.ema_decay)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99), fused=True
    )
    steps_per_epoch = math.ceil(len(data) / cfg.batch_size)
    total_steps = max(1, int(cfg.epochs * steps_per_epoch))
    step, elapsed, tokens_seen = 0, 0.0, 0
    if resume:
        state = read_checkpoint(ckpt_path, dev)
        _check_resumable(state, agent, dataset, cfg)
        if state["step"] > total_steps:
            raise ValueError(
                f"the run in {out} has trained {state['step'] / steps_per_epoch:.2f} epochs, more than "
                f"--epochs {cfg.epochs:g}: resume with --epochs {math.ceil(state['step'] / steps_per_epoch)} "
                f"or more"
            )
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed, tokens_seen = state["step"], state["elapsed"], state["tokens_seen"]
        torch.set_rng_state(state["torch_rng"].cpu())
        if world.is_main:
            _truncate_metrics(out / "metrics.jsonl", step)
    use_bf16 = cfg.bf16 and bf16_autocast_pays(dev, cfg.d_model)
    run_info = {
        "agent": agent,
        "train_config": asdict(cfg),
        "model_config": model.cfg.to_dict(),
        "parameters": model.num_parameters(),
        "device": str(dev),
        "bf16_autocast": use_bf16,
        "dataset_id": dataset.meta["dataset_id"],
        "dataset_path": str(dataset.path),
        "num_subgoals": dataset.num_subgoals,
        "max_path_len": max_path_len,
        "steps_per_epoch": steps_per_epoch,
        "total_steps": total_steps,
        "processes": world.size,
    }
    if world.is_main:
        (out / "config.json").write_text(json.dumps(run_info, indent=2) + "\n")

    def checkpoint():
        if not world.is_main:
            return
        save_checkpoint(
            {
                **run_info,
                "tokenizer": tokenizer.to_dict(),
                "model": model.state_dict(),
                "ema": ema.state_dict(),
                "optimizer": optimizer.state_dict(),
                "step": step,
                "elapsed": elapsed,
                "tokens_seen": tokens_seen,
                "torch_rng": torch.get_rng_state(),
                "maze": torch.from_numpy(dataset.maze.copy()),
            },
            ckpt_path,
        )

    epoch_data = data  # this epoch's (possibly augmented) training paths

    def batch_stream():
        # Each epoch's batches and augmentation depend only on (seed, epoch): a resumed run skips the ones it did.
        nonlocal epoch_data
        epoch, offset = divmod(step, steps_per_epoch)
        while True:
            if cfg.reverse_paths or cfg.redraw_subgoals:
                epoch_data = data.augmented(
                    torch.Generator().manual_seed(cfg.seed * 100_019 + epoch),
                    reverse=cfg.reverse_paths,
                    redraw=cfg.redraw_subgoals,
                )
            batches = epoch_batches(
                len(data),
                cfg.batch_size,
                lambda idx, t: method.expected_length(data, idx, t),
                cfg.t_max,
                torch.Generator().manual_seed(cfg.seed * 100_003 + epoch),
                group=cfg.time_group,
            )
            yield from batches[offset:]
            epoch, offset = epoch + 1, 0

    log = (out / "metrics.jsonl").open("a") if world.is_main else open(os.devnull, "w")
    deadline = None if cfg.max_minutes is None else cfg.max_minutes * 60
    last_eval = last_ckpt = last_label = elapsed
    model.train()
    stopped_by = "epochs"
    first_step = step
    window = _LogWindow()
    clock = time.perf_counter()

    def tick() -> float:
        """Training seconds so far (held-out checks excluded)."""
        nonlocal elapsed, clock
        now = time.perf_counter()
        elapsed, clock = elapsed + now - clock, now
        return elapsed

    def write_record(evaluate: bool = False) -> dict:
        """The window's record, with the periodic held-out success when due (rank 0)."""
        nonlocal tokens_seen, last_eval, clock
        record = {
            "step": step,
            "epoch": step / steps_per_epoch,
            **window.flush(world),
            "lr": optimizer.param_groups[0]["lr"],
            "elapsed_s": tick(),
        }
        tokens_seen += record.pop("tokens")
        if evaluate and world.is_main and quick_eval is not None and elapsed - last_eval >= cfg.eval_every_minutes * 60:
            record["val_success"] = quick_eval(ema.model, method)
            last_eval, clock = elapsed, time.perf_counter()  # the check's time is not training time
        log.write(json.dumps(record) + "\n")
        return record

    with progress_bar(total_steps, f"train {agent}", progress and world.is_main) as bar, stop_requests() as interrupted:
        bar.update(step)
        for indices, t in batch_stream():
            if step >= total_steps:
                break
            if stop_after is not None and step - first_step >= stop_after:
                stopped_by = "stop_after"
                break
            # One collective answers both questions, so every rank stops at the same step.
            stop = world.any_true([interrupted.is_set(), deadline is not None and tick() >= deadline])
            if any(stop):
                stopped_by = "interrupted" if stop[0] else "max_minutes"
                break
            if len(indices) < world.size:  # an epoch's last batch too small to split: skipped by all ranks
                step += 1
                bar.update(1)
                continue
            noise = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)  # per step: exact resume
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, step, steps_per_epoch, total_steps)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss, metrics, n_tokens = method.loss(
                    trained, epoch_data, indices, t, noise, shard=world.shard(len(indices)), shards=world.size
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            # A non-finite gradient (the same on every rank after DDP's average) skips the update on the
            # device itself: fused AdamW reads found_inf, so no host synchronisation is needed.
            optimizer.found_inf = (~torch.isfinite(grad_norm)).float()
            optimizer.step()
            ema.update(model)
            step += 1
            window.add(loss, metrics, grad_norm, optimizer.found_inf, n_tokens)
            bar.update(1)
            if step % cfg.log_every and step < total_steps:
                continue
            record = write_record(evaluate=True)
            if elapsed - last_label >= 10:
                bar.label = f"train {agent} loss {record['loss']:.3f} {record['tokens_per_s']:.0f} tok/s"
                last_label = elapsed
            if elapsed - last_ckpt >= cfg.checkpoint_every_minutes * 60:
                checkpoint()
                log.flush()
                last_ckpt = elapsed
        if window.steps:
            write_record()
    tick()
    checkpoint()
    log.close()
    drift = world.first_difference(model)
    summary = {
        **run_info,
        "steps": step,
        "epochs_done": step / steps_per_epoch,
        "train_minutes": elapsed / 60,
        "tokens_seen": tokens_seen,
        "stopped_by": stopped_by,
        "ranks_in_sync": drift is None,
    }
    if drift is not None:
        raise ReplicaDriftError(f"data-parallel replicas ended out of sync: parameter {drift} differs between ranks")
    if world.is_main and stopped_by != "interrupted":
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    world.barrier()  # the run folder is complete when any rank returns
    return summary


class ReplicaDriftError(RuntimeError):
    """Data-parallel replicas that should be identical are not."""


class _LogWindow:
    """Sums of the steps' numbers, kept on the device since the last record and read back (one
    synchronisation) when the record is written."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.steps, self.tokens, self.started = 0, 0, time.perf_counter()

    def add(self, loss, metrics: dict, grad_norm, skipped, n_tokens: int) -> None:
        values = {"loss": loss.detach(), **metrics, "grad_norm": grad_norm.detach(), "skipped_steps": skipped}
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0) + value.float()
        self.steps += 1
        self.tokens += n_tokens

    def flush(self, world) -> dict:
        """Means over the window's steps (averaged over the ranks), skipped steps, tokens of all ranks
        and their rate; then an empty window."""
        names = list(self.sums)
        values = (
            world.mean(
                (torch.stack([self.sums[name] for name in names]) / max(1, self.steps)).tolist() + [float(self.tokens)]
            )
            if names
            else world.mean([float(self.tokens)])
        )
        tokens = round(values[-1] * world.size)
        record = dict(zip(names, values[:-1]))
        if "skipped_steps" in record:
            record["skipped_steps"] = round(record["skipped_steps"] * self.steps)
        record.update(tokens=tokens, tokens_per_s=tokens / max(time.perf_counter() - self.started, 1e-9))
        self.__init__()
        return record


def _clear_leftovers(out: Path, fresh: bool) -> None:
    """Remove the temporary files a killed run left in ``out`` and, for a ``fresh`` start, the files of a run
    that stopped before its first checkpoint (nothing in them can be resumed)."""
    for name in (CHECKPOINT + ".tmp", "metrics.jsonl.tmp") + (RUN_FILES if fresh else ()):
        (out / name).unlink(missing_ok=True)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop the records after ``step`` (written after the last checkpoint of an interrupted run); ValueError
    naming the file and line of a damaged record."""
    if not path.exists():
        return
    lines = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            if line.strip() and json.loads(line)["step"] <= step:
                lines.append(line)
        except (ValueError, KeyError, TypeError):
            raise ValueError(
                f"{path} line {number} is not a training record: remove that line (or the file) and resume again"
            ) from None
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines))
    os.replace(tmp, path)


def _check_resumable(state: dict, agent: str, dataset, cfg: TrainConfig) -> None:
    if state["agent"] != agent:
        raise ValueError(f"the run to resume trained {state['agent']!r}, not {agent!r}")
    if state["dataset_id"] != dataset.meta["dataset_id"]:
        raise ValueError("the run to resume was trained on another dataset")
    budget = {"epochs", "max_minutes", "eval_every_minutes", "checkpoint_every_minutes", "log_every"}  # may change
    saved = saved_settings(state["train_config"])
    changed = sorted(k for k, v in asdict(cfg).items() if k not in budget and saved[k] != v)
    if changed:
        raise ValueError(
            f"the run to resume used other training settings ({', '.join(changed)}); resume with the same options"
        )
