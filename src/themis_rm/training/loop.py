"""`train(config)`: the whole recipe, read top to bottom.

    themis train examples/train-tiny.yaml                                     # one process
    accelerate launch --config_file examples/accelerate/ddp.yaml -m themis_rm.training CONFIG
    accelerate launch --config_file examples/accelerate/fsdp2.yaml -m themis_rm.training CONFIG

1. Read and validate every stage's pairs before any compute.
2. Build (or resume) the model: backbone + LM head + zero-initialised reward head.
3. Per stage and epoch: draw criteria prompts, tokenise, shuffle, cut into optimiser steps of
   `batch_size` pairs; each process takes its share in micro-batches of `micro_batch_size`.
4. Per micro-batch: chosen and rejected in one forward pass; the loss is this micro-batch's sums
   divided by the whole step's counts, so accumulation and processes give one big batch's gradient.
5. Clip, step AdamW at the schedule's rate, log the physics, checkpoint.
6. Export the final model as an `AutoModelForSequenceClassification` and check it round-trips.

The data order, the criteria draws and the learning rate are pure functions of (seed, stage,
epoch, step), so a checkpoint holds the data position as three integers and a resumed run
replays exactly what the uninterrupted one would have done.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from themis_rm.criteria import CriteriaSampler, load_criteria
from themis_rm.training.checkpoint import TrainerState, checkpoints, save_checkpoint
from themis_rm.training.config import StageConfig, TrainConfig
from themis_rm.training.data import ChatEncoder, EncodedSet, draw_systems
from themis_rm.training.loss import StepSums, micro_objective
from themis_rm.training.meter import ModelShape, peak_flops, peak_memory_gib
from themis_rm.training.model import RewardModel, forward_batch
from themis_rm.training.packing import collate
from themis_rm.training.progress import RunLog
from themis_rm.training.schedule import learning_rate


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path | None
    export_dir: Path | None
    state: TrainerState
    metrics: dict[str, float] = field(default_factory=dict)
    main_process: bool = True


def fsdp_fell_back(accelerator: Any, env: Mapping[str, str] | None = None) -> bool:
    """True when `accelerate launch` was given an FSDP config but the processes run without FSDP."""
    from accelerate.utils import DistributedType

    env = os.environ if env is None else env
    asked = env.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true", "yes")
    return asked and accelerator.distributed_type != DistributedType.FSDP


def train(config: TrainConfig) -> TrainResult:
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    precision = config.precision if config.precision != "auto" else ("bf16" if torch.cuda.is_available() else "fp32")
    unused_heads = any(s.lm_coef == 0 for s in config.stages)  # an untouched LM head must not stall DDP
    _release_accelerator_state()
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),  # without it, CPU processes started by torchrun would not form a group
        mixed_precision="bf16" if precision == "bf16" else "no",
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=unused_heads)],
    )
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:
        raise RuntimeError(f"launched as {launched} processes but accelerate sees {accelerator.num_processes}; "
                           "each would train alone")
    run_dir = Path(config.output_dir)
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    log = RunLog(run_dir, accelerator.is_main_process, config.progress)
    if fsdp_fell_back(accelerator):
        log.say("note: the launch config asks for FSDP, but accelerate runs FSDP only on GPUs and other "
                "accelerators; on CPU these processes train as DDP, each holding the whole model")

    # 1. where to start, and the data of every stage
    state, resume_from = _starting_state(config, log)
    stage_pairs = [_read_stage(stage) for stage in config.stages]
    for stage, pairs in zip(config.stages, stage_pairs):
        log.say(f"stage {stage.name}: {len(pairs.pairs)} pairs"
                + (f", {len(pairs.skipped)} invalid rows skipped {pairs.skipped_by_reason()}" if pairs.skipped else ""))
        state.counts.setdefault(stage.name, {})["invalid_rows_skipped"] = len(pairs.skipped)

    # 2. the model
    torch.manual_seed(config.seed)
    model, tokenizer = _build_model(config, stage_pairs, resume_from, accelerator, run_dir)
    shape = ModelShape.of(model.lm)
    if config.gradient_checkpointing:
        lm = model.lm
        if hasattr(lm, "activation_checkpointing_enable"):  # transformers >= 5.x name
            lm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    optimizer = _optimizer(model, config)
    model, optimizer = accelerator.prepare(model, optimizer)
    if resume_from is not None:
        accelerator.load_state(str(resume_from / "state"))
        log.say(f"resumed from {resume_from} (stage {state.stage}, epoch {state.epoch}, step {state.global_step})")
    state.config = config.as_dict()

    criteria = load_criteria(config.criteria)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    attention = config.attention()
    mask = {"flash_attention_2": "none", "sdpa_segments": "none", "flex_attention": "segments"}.get(attention, "dense")
    world, rank = accelerator.num_processes, accelerator.process_index
    peak = peak_flops(accelerator.device, config.peak_tflops)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    halted = False
    steps_this_run = 0
    last_checkpoint = None
    metrics: dict[str, float] = {}

    # 3. stages, epochs, steps
    for stage_index in range(state.stage, len(config.stages)):
        stage = config.stages[stage_index]
        pairs = stage_pairs[stage_index].pairs
        if stage.batch_size % world:
            raise ValueError(f"stage {stage.name!r}: batch_size {stage.batch_size} must divide by {world} processes")
        sampler = CriteriaSampler(criteria, stage.p_none, stage.p_aspect, stage.p_full)
        encoder = ChatEncoder(tokenizer, stage.max_length, stage.over_length, stage.name)
        counts = Counter(state.counts.get(stage.name, {}))

        def encode(epoch: int, pairs=pairs, sampler=sampler, encoder=encoder, stage=stage,
                   stage_index=stage_index) -> EncodedSet:
            draw_epoch = epoch if stage.resample_every_epoch else 0
            return _encode_epoch(pairs, sampler, encoder, config.seed, stage_index, draw_epoch)

        first = encode(0)
        steps_per_epoch = len(first.examples) // stage.batch_size
        if steps_per_epoch == 0:
            raise ValueError(f"stage {stage.name!r}: {len(first.examples)} usable pairs, fewer than batch_size "
                             f"{stage.batch_size}")
        total = stage.epochs * steps_per_epoch
        if stage.max_steps is not None:
            total = min(total, stage.max_steps)
        if not state.probes:
            state.probes = first.probes
        if state.stage_step == 0 and stage_index > 0 and stage.reset_optimizer:
            optimizer.optimizer.state.clear()
        log.say(f"stage {stage.name}: {len(first.examples)} pairs encoded, {steps_per_epoch} steps/epoch, "
                f"{total} steps; counts {dict(first.counts)}")
        log.start_stage(stage.name, total, state.stage_step)
        model.train()
        window = Window(stage)

        while state.stage == stage_index and not halted:
            encoded = first if state.epoch == 0 or not stage.resample_every_epoch else encode(state.epoch)
            if state.step_in_epoch == 0:  # count each epoch's tokenisation once, even across resumes
                counts.update(encoded.counts)
                state.final_tokens = sorted(set(state.final_tokens) | _final_tokens(encoded))
            order = _epoch_order(len(encoded.examples), steps_per_epoch * stage.batch_size,
                                 config.seed, stage_index, state.epoch)
            while True:
                at = state.step_in_epoch * stage.batch_size
                examples = [encoded.examples[i] for i in order[at:at + stage.batch_size]]
                lr = learning_rate(stage, state.stage_step, total)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                sums, grad_norm = _step(accelerator, model, optimizer, examples[rank::world], examples, stage,
                                        config, attention, pad_id, mask, dtype, window, shape)
                state.step_in_epoch += 1
                state.stage_step += 1
                state.global_step += 1
                state.tokens_seen += int(window.step_tokens)
                steps_this_run += 1
                window.add(sums, grad_norm)
                log.step(f"loss {window.last['loss']:.4f} acc {window.last['accuracy']:.3f} "
                         f"{window.tokens_per_s():,.0f} tok/s")
                if state.stage_step % config.log_every == 0 or state.stage_step == total:
                    metrics = window.report(state, lr, peak, world, accelerator.device)
                    state.last_metrics = metrics
                    log.record(metrics)
                    window.reset()
                epoch_done = state.step_in_epoch == steps_per_epoch
                if epoch_done:
                    state.epoch, state.step_in_epoch = state.epoch + 1, 0
                stage_done = state.stage_step >= total
                if stage_done:
                    state.stage, state.epoch, state.step_in_epoch, state.stage_step = stage_index + 1, 0, 0, 0
                    state.finished = state.stage == len(config.stages)
                halted = config.halt_after_steps is not None and steps_this_run >= config.halt_after_steps
                state.counts[stage.name] = dict(counts)
                if halted or stage_done or (config.save_every and state.global_step % config.save_every == 0):
                    last_checkpoint = save_checkpoint(accelerator, run_dir, state, tokenizer,
                                                      accelerator.unwrap_model(model).lm.config,
                                                      config.keep_checkpoints)
                if halted or stage_done or epoch_done:
                    break
        if halted:
            break
    log.close()

    export_dir = None
    if state.finished and config.export and last_checkpoint is not None:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            from themis_rm.training.export import export_checkpoint

            report = export_checkpoint(last_checkpoint, run_dir / "export", check=config.export_check)
            log.say(f"exported to {report.out_dir} (pad_token_id {report.pad_token_id}; "
                    f"round trip on {report.checked} texts, max |Δreward| {report.max_abs_diff:.2g})")
        accelerator.wait_for_everyone()
        export_dir = run_dir / "export"
    accelerator.end_training()
    return TrainResult(run_dir, last_checkpoint, export_dir, state, metrics, accelerator.is_main_process)


def _release_accelerator_state() -> None:
    """Let this `train()` choose its own settings after an earlier one in the same process (accelerate
    keeps one global state); the process group itself is kept."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()


def _encode_epoch(pairs, sampler: CriteriaSampler, encoder: ChatEncoder, seed: int, stage_index: int,
                  epoch: int) -> EncodedSet:
    """One epoch's criteria draw and tokenisation, with the draw's counters merged into the encoder's."""
    draw: Counter = Counter()
    systems = draw_systems(pairs, sampler, seed, stage_index, epoch, draw)
    encoded = encoder.encode(pairs, systems)
    encoded.counts.update(draw)
    return encoded


def _step(accelerator, model, optimizer, mine, everyone, stage: StageConfig, config: TrainConfig, attention: str,
          pad_id: int, mask: str, dtype, window, shape: ModelShape):
    """One optimiser step: this process's micro-batches, then clip and update. Returns (sums, grad norm)."""
    world = accelerator.num_processes
    lm_on = stage.lm_coef > 0
    step_pairs = len(everyone)
    step_lm_tokens = sum(e.n_lm_tokens for e in everyone) if lm_on else 0
    lm_impl = _lm_impl(config)
    micro = [mine[i:i + stage.micro_batch_size] for i in range(0, len(mine), stage.micro_batch_size)]
    sums = torch.zeros(7, device=accelerator.device)
    local = np.zeros(4)  # seq tokens, real tokens, slots, flops
    started = time.perf_counter()
    for k, examples in enumerate(micro):
        batch = collate(examples, config.layout, config.share_prefix, config.pack_tokens, pad_id, mask)
        batch = batch.to(accelerator.device)
        sync = k == len(micro) - 1
        context = accelerator.no_sync(model) if not sync and world > 1 else contextlib.nullcontext()
        with context:
            r_c, r_r, lm_sum = forward_batch(model, batch, attention, dtype, lm_on, lm_impl)
            loss, micro_sums = micro_objective(
                r_c, r_r, lm_sum, int(batch.lm_index.numel()), step_pairs=step_pairs, step_lm_tokens=step_lm_tokens,
                lm_coef=stage.lm_coef, magnitude_coef=stage.magnitude_coef, magnitude=stage.magnitude,
            )
            accelerator.backward(loss * world)  # the backend averages gradients over processes
        sums += micro_sums
        lm_tokens = int(batch.lm_index.numel()) if lm_on else 0
        local += (batch.seq_tokens, batch.real_tokens, batch.slots,
                  shape.flops(batch.real_tokens, batch.attended, lm_tokens))
    grad_norm = accelerator.clip_grad_norm_(model.parameters(), config.grad_clip) if config.grad_clip > 0 else None
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    totals = accelerator.reduce(torch.cat([sums.double(), torch.tensor(local, device=sums.device)]), "sum")
    elapsed = time.perf_counter() - started
    window.add_time(elapsed, totals[7:].tolist())
    norm = float(grad_norm) if grad_norm is not None else float("nan")
    return totals[:7], norm


class Window:
    """Statistics since the last log line."""

    def __init__(self, stage: StageConfig) -> None:
        self.stage = stage
        self.reset()
        self.last = {"loss": math.nan, "accuracy": math.nan}

    def reset(self) -> None:
        self.sums = torch.zeros(7, dtype=torch.float64)
        self.tokens = np.zeros(4)
        self.seconds = 0.0
        self.steps = 0
        self.norms: list[float] = []
        self.step_tokens = 0.0

    def add_time(self, seconds: float, tokens: list[float]) -> None:
        self.seconds += seconds
        self.tokens += np.asarray(tokens)
        self.step_tokens = tokens[0]

    def add(self, sums: torch.Tensor, grad_norm: float) -> None:
        sums = sums.detach().cpu().double()
        self.sums += sums
        self.steps += 1
        self.norms.append(grad_norm)
        self.last = StepSums.from_tensor(sums).means(self.stage.lm_coef, self.stage.magnitude_coef)

    def tokens_per_s(self) -> float:
        return self.tokens[0] / self.seconds if self.seconds else 0.0

    def report(self, state: TrainerState, lr: float, peak, world: int, device) -> dict[str, Any]:
        stage = self.stage
        parts = StepSums.from_tensor(self.sums).means(stage.lm_coef, stage.magnitude_coef)
        seq, real, slots, flops = self.tokens
        row = {"stage": stage.name, "step": state.global_step, "stage_step": state.stage_step, **parts, "lr": lr,
               "grad_norm": float(np.nanmean(self.norms)) if self.norms else None,
               "tokens": int(seq), "seconds": round(self.seconds, 4), "tokens_per_s": float(seq / self.seconds), "computed_tokens_per_s": float(real / self.seconds),
               "pairs_per_s": self.sums[5].item() / self.seconds,
               "padding_efficiency": float(real / slots) if slots else None,
               "mfu": float(flops / (self.seconds * world * peak)) if peak else None,
               "peak_mem_gib": round(peak_memory_gib(device), 3)}
        return row


def _starting_state(config: TrainConfig, log: RunLog) -> tuple[TrainerState, Path | None]:
    run_dir = Path(config.output_dir)
    found = checkpoints(run_dir)
    if not config.resume:
        if found:
            raise ValueError(f"{run_dir} already holds checkpoints; pass --resume to continue, "
                             "or choose another --output-dir")
        return TrainerState(), None
    if not found:
        log.say(f"--resume: no checkpoint in {run_dir}; starting from the beginning")
        return TrainerState(), None
    latest = found[-1]
    state = TrainerState.load(latest)
    saved = TrainConfig.from_dict(state.config)
    if saved.fingerprint() != config.fingerprint():
        raise ValueError(f"{latest}: the config differs from the run being resumed (only run-control fields "
                         "such as output_dir, save_every or halt_after_steps may change)")
    if state.finished:
        log.say(f"{latest}: the run had finished; nothing to resume")
    return state, latest


def _read_stage(stage: StageConfig):
    from themis_rm.data import read_pairs

    sets = [read_pairs(source, on_invalid=stage.on_invalid, defaults=stage.defaults) for source in stage.data]
    if len(sets) == 1:
        return sets[0]
    merged = sets[0]
    seen = {p.id for p in merged.pairs}
    for extra in sets[1:]:
        clashes = [p.id for p in extra.pairs if p.id in seen]
        if clashes:
            raise ValueError(f"stage {stage.name!r}: pair id {clashes[0]!r} appears in more than one data source")
        seen.update(p.id for p in extra.pairs)
        merged.pairs.extend(extra.pairs)
        merged.skipped.extend(extra.skipped)
    return merged


def _build_model(config: TrainConfig, stage_pairs, resume_from: Path | None, accelerator, run_dir: Path):
    """(RewardModel, tokenizer): from a resumed checkpoint's shape, a Themis checkpoint, scratch, or a backbone."""
    from themis_rm.training.checkpoint import is_checkpoint, load_reward_model, reward_model_skeleton
    from themis_rm.training.model import (
        backbone_from_config,
        load_backbone,
        load_tokenizer,
        with_chat_template,
    )

    if resume_from is not None:  # shape from the checkpoint; weights come with accelerator.load_state
        return reward_model_skeleton(resume_from, config.attention(), config.trust_remote_code)
    if config.model == "scratch":
        from themis_rm.training.scratch import build_config, train_tokenizer

        init_dir = run_dir / "scratch-init"
        if accelerator.is_main_process:
            init_dir.mkdir(parents=True, exist_ok=True)
            train_tokenizer(_scratch_texts(stage_pairs[0].pairs, config), config.scratch.vocab_size, init_dir)
        accelerator.wait_for_everyone()
        tokenizer = load_tokenizer(str(init_dir))
        torch.manual_seed(config.seed)
        lm = backbone_from_config(build_config(config.scratch, tokenizer), config.attention())
        return RewardModel(lm), tokenizer
    if is_checkpoint(config.model):  # stage chaining across runs: backbone and both heads carry over
        model, tokenizer, _ = load_reward_model(config.model, config.attention(), config.trust_remote_code)
        return model, with_chat_template(tokenizer, config.chat_template)
    tokenizer = load_tokenizer(config.tokenizer or config.model, config.chat_template, config.trust_remote_code)
    lm = load_backbone(config.model, config.attention(), config.trust_remote_code)
    return RewardModel(lm), tokenizer


def _scratch_texts(pairs, config: TrainConfig) -> list[str]:
    from themis_rm.schema import prompt_messages

    texts: list[str] = []
    criteria = load_criteria(config.criteria)
    texts.extend([criteria.preamble, criteria.general, *criteria.aspects.values()])
    for pair in pairs[: config.scratch.tokenizer_texts]:
        texts.extend(m["content"] for m in prompt_messages(pair.prompt))
        texts.extend([pair.chosen, pair.rejected])
    return texts


def _optimizer(model: RewardModel, config: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.stages[0].lr, betas=(config.adam_beta1, config.adam_beta2),
                             eps=config.adam_eps, foreach=True)


def _epoch_order(n: int, needed: int, seed: int, stage: int, epoch: int) -> np.ndarray:
    """A seeded shuffle of the epoch's examples, cut (or wrapped) to exactly `needed` entries."""
    rng = np.random.default_rng([seed, stage, epoch])
    order = rng.permutation(n)
    if needed > n:
        order = np.concatenate([order, order[: needed - n]])
    return order[:needed]


def _final_tokens(encoded: EncodedSet) -> set[int]:
    out: set[int] = set()
    for e in encoded.examples:
        out.add(int(e.chosen[-1]))
        out.add(int(e.rejected[-1]))
    return out


def _lm_impl(config: TrainConfig) -> str:
    if config.lm_loss_impl != "auto":
        return config.lm_loss_impl
    from themis_rm.training.linear_ce import liger_available

    return "liger" if liger_available() else "chunked"
