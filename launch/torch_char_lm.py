#!/usr/bin/env python3
"""The Shakespeare character model of configs/shakespeare-char-adamw.json, trained in PyTorch on the
CPU: the reference launch/bench-shakespeare.sh compares spectrain against. Not a dependency of
spectrain; it needs torch (and numpy) in its own environment.

Same data, model, initialisation rule, optimizer and schedule as spectrain's character model:

  text        every distinct Unicode scalar of the whole UTF-8 file, sorted by code point; the last
              int(0.1 n) characters are validation
  training    windows of 128 starting anywhere in [0, ntrain - 128): a seeded permutation of the
              starts per epoch, 32 windows per step (spectrain's GlobalSampler draws the same way,
              not the same permutation)
  validation  256 evenly spaced non-overlapping windows, start_i = (i * available // 256) * 128 with
              available = (nval - 1) // 128; loss = mean next-character cross-entropy (nats)
  model       token and learned position embeddings (uniform, std 0.02), 4 pre-LayerNorm blocks of
              width 128 (4 causal heads, MLP 4x with tanh GELU), final LayerNorm (eps 1e-5), untied
              head; every Linear with bias, initialised as nn.Linear (uniform +-1/sqrt(fan-in))
  optimizer   AdamW lr 2e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0; linear warmup over 100
              steps then cosine to 0.1 of the peak, as spectrain's LearningRateSchedule.warmupCosine

Writes RUN/metrics.jsonl with spectrain's fields (step, epoch, loss, accuracy, learningRate,
samplesPerSecond, tokensPerSecond, elapsedSeconds, time, testLoss and testAccuracy on evaluation
lines, skippedSteps), so `spectrain plot` and the bench's analysis read it like a spectrain run.

  python3 launch/torch_char_lm.py --out runs/torch-char-adamw [--steps 3000] [--minutes 15]
  python3 launch/torch_char_lm.py --measure-step 20      (forward+backward tokens/s, no optimizer)
  python3 launch/torch_char_lm.py --measure-train-step 20 (whole steps with AdamW at a constant
      --learning-rate: phase timings as JSON, as launch/torch_models.py; for launch/bench-models.sh)

Stops cleanly at a step boundary on SIGTERM or SIGINT (exit 75, as spectrain) or when --minutes of
wall time (evaluation included, the clock of elapsedSeconds) have passed (exit 0).
"""

import argparse
import json
import math
import os
import signal
import statistics
import sys
import time

EXIT_STOPPED_BY_SIGNAL = 75
VALIDATION_FRACTION = 0.1
MAX_TEXT_BYTES = 1 << 30


def fail(message):
    print(f"torch_char_lm: {message}", file=sys.stderr)
    sys.exit(2)


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer")
    if value < 1 or value > 10**9:
        raise argparse.ArgumentTypeError(f"{value} is outside 1...1000000000")
    return value


def non_negative_int(text):
    if text == "0":
        return 0
    return positive_int(text)


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{value} is not a positive finite number")
    return value


def parse_arguments(argv):
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description="PyTorch CPU reference of spectrain's Shakespeare character model (AdamW).")
    parser.add_argument("--text", default=os.path.join(repository, "data", "shakespeare", "shakespeare.txt"),
                        help="UTF-8 text (default: data/shakespeare/shakespeare.txt, from launch/prepare-shakespeare.sh)")
    parser.add_argument("--out", default="runs/torch-char-adamw", help="run folder for metrics.jsonl, config.json, summary.json")
    parser.add_argument("--steps", type=positive_int, default=3000, help="steps of the schedule, and of the run unless stopped (3000)")
    parser.add_argument("--minutes", type=positive_float, help="stop at the first step boundary after this much wall time")
    parser.add_argument("--eval-every", type=non_negative_int, default=250, help="validate every N steps and after the last (250; 0: only the last)")
    parser.add_argument("--log-every", type=positive_int, default=50, help="a metrics line every N steps (50)")
    parser.add_argument("--seed", type=non_negative_int, default=1)
    parser.add_argument("--threads", type=positive_int, default=2, help="torch.set_num_threads (2)")
    parser.add_argument("--context", type=positive_int, default=128)
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--eval-batch-size", type=positive_int, default=64)
    parser.add_argument("--validation-windows", type=non_negative_int, default=256, help="0: every non-overlapping window")
    parser.add_argument("--blocks", type=positive_int, default=4)
    parser.add_argument("--width", type=positive_int, default=128)
    parser.add_argument("--heads", type=positive_int, default=4)
    parser.add_argument("--mlp-ratio", type=positive_int, default=4)
    parser.add_argument("--learning-rate", type=positive_float, default=2e-3)
    parser.add_argument("--warmup-steps", type=non_negative_int, default=100)
    parser.add_argument("--final-fraction", type=float, default=0.1)
    parser.add_argument("--measure-step", type=positive_int, metavar="N",
                        help="time N forward+backward passes (no optimizer) after warm-up, print tokens/s, and exit")
    parser.add_argument("--measure-train-step", type=positive_int, metavar="N",
                        help="time N training steps (data, forward, backward, AdamW step) after warm-up, print their phase times as JSON, and exit")
    parser.add_argument("--measure-warmup", type=non_negative_int, default=3, help="untimed passes before --measure-step or --measure-train-step (3)")
    args = parser.parse_args(argv)
    if args.measure_step and args.measure_train_step:
        parser.error("--measure-step and --measure-train-step exclude each other")
    if args.width % args.heads != 0:
        parser.error(f"--width {args.width} is not a multiple of --heads {args.heads}")
    if not 0 <= args.final_fraction <= 1:
        parser.error(f"--final-fraction {args.final_fraction} is outside 0...1")
    return args


class CharacterCorpus:
    """The text as tokens: vocabulary of every scalar sorted by code point, the 90/10 split."""

    def __init__(self, path, context, torch):
        try:
            size = os.stat(path).st_size
            if size > MAX_TEXT_BYTES:
                fail(f"{path}: is {size} bytes, more than the {MAX_TEXT_BYTES} a text corpus may hold")
            with open(path, "rb") as handle:
                data = handle.read(MAX_TEXT_BYTES + 1)
        except OSError as error:
            fail(f"{path}: cannot read ({error.strerror or error}); launch/prepare-shakespeare.sh writes the Shakespeare text")
        if not data:
            fail(f"{path}: is empty; a text corpus needs text")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            fail(f"{path}: is not UTF-8 text: byte {error.start} (0x{data[error.start]:02X}) does not start a valid character")
        codes = torch.frombuffer(bytearray(text.encode("utf-32-le")), dtype=torch.int32)
        characters, tokens = torch.unique(codes, sorted=True, return_inverse=True)
        self.vocabulary = "".join(chr(code) for code in characters.tolist())
        tokens = tokens.to(torch.int64)
        validation_count = int(len(tokens) * VALIDATION_FRACTION)
        window = context + 1
        if len(tokens) - validation_count < window or validation_count < window:
            fail(f"{path}: holds {len(tokens)} characters; with 10% held out for validation, each part needs at least one window of {window} (context {context} + 1)")
        self.training = tokens[: len(tokens) - validation_count]
        self.validation = tokens[len(tokens) - validation_count:]

    def validation_starts(self, count, context):
        available = max((len(self.validation) - 1) // context, 0)
        chosen = available if count == 0 else min(count, available)
        return [(index * available // chosen) * context for index in range(chosen)]


def build_model(torch, vocabulary, args):
    nn = torch.nn
    functional = torch.nn.functional
    embedding_bound = 0.02 * math.sqrt(3)

    class CausalSelfAttention(nn.Module):
        def __init__(self, width, heads):
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(width, 3 * width)
            self.proj = nn.Linear(width, width)

        def forward(self, x):
            batch, tokens, width = x.shape
            q, k, v = self.qkv(x).split(width, dim=2)
            shape = (batch, tokens, self.heads, width // self.heads)
            q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
            y = functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.proj(y.transpose(1, 2).reshape(batch, tokens, width))

    class Block(nn.Module):
        def __init__(self, width, heads, ratio):
            super().__init__()
            self.ln1 = nn.LayerNorm(width, eps=1e-5)
            self.attn = CausalSelfAttention(width, heads)
            self.ln2 = nn.LayerNorm(width, eps=1e-5)
            self.fc = nn.Linear(width, ratio * width)
            self.act = nn.GELU(approximate="tanh")
            self.proj = nn.Linear(ratio * width, width)

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.proj(self.act(self.fc(self.ln2(x))))

    class CharacterTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens = nn.Embedding(vocabulary, args.width)
            self.positions = nn.Parameter(torch.empty(args.context, args.width))
            self.blocks = nn.ModuleList(Block(args.width, args.heads, args.mlp_ratio) for _ in range(args.blocks))
            self.ln_f = nn.LayerNorm(args.width, eps=1e-5)
            self.head = nn.Linear(args.width, vocabulary)
            with torch.no_grad():
                self.tokens.weight.uniform_(-embedding_bound, embedding_bound)
                self.positions.uniform_(-embedding_bound, embedding_bound)

        def forward(self, inputs):
            x = self.tokens(inputs) + self.positions[: inputs.shape[1]]
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln_f(x))

    return CharacterTransformer()


def learning_rate(base, step, total_steps, warmup, final_fraction):
    """spectrain's warmupCosine at 0-based `step` of `total_steps`."""
    if step < warmup:
        return base * (step + 1) / warmup
    span = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    return base * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))


class EpochSampler:
    """A seeded permutation of the window starts per epoch, taken `batch` at a time (last partial batch dropped)."""

    def __init__(self, torch, count, batch, seed):
        self.torch, self.count, self.batch, self.seed = torch, count, batch, seed
        self.steps_per_epoch = count // batch
        self.epoch, self.order = -1, None

    def starts(self, step):
        epoch, position = divmod(step, self.steps_per_epoch)
        if epoch != self.epoch:
            generator = self.torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self.order, self.epoch = self.torch.randperm(self.count, generator=generator), epoch
        return self.order[position * self.batch: (position + 1) * self.batch]


def windows(torch, tokens, starts, context):
    index = torch.as_tensor(starts, dtype=torch.int64)[:, None] + torch.arange(context + 1)[None, :]
    block = tokens[index]
    return block[:, :-1], block[:, 1:]


def evaluate(torch, model, corpus, starts, args):
    functional = torch.nn.functional
    loss_sum, correct = 0.0, 0
    model.eval()
    with torch.no_grad():
        for first in range(0, len(starts), args.eval_batch_size):
            inputs, targets = windows(torch, corpus.validation, starts[first: first + args.eval_batch_size], args.context)
            logits = model(inputs)
            flat = logits.reshape(-1, logits.shape[-1])
            loss_sum += functional.cross_entropy(flat, targets.reshape(-1), reduction="sum").item()
            correct += int((flat.argmax(dim=1) == targets.reshape(-1)).sum())
    model.train()
    predictions = len(starts) * args.context
    return loss_sum / predictions, correct / predictions


class StopRequest:
    """Remembers SIGTERM/SIGINT so the loop stops at the next step boundary; a second one ends the process."""

    def __init__(self):
        self.signal = None
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self.handle)

    def handle(self, number, _frame):
        if self.signal is not None:
            signal.signal(number, signal.SIG_DFL)
            os.kill(os.getpid(), number)
        self.signal = number


PHASES = ("data", "forward", "backward", "communication", "curvature", "precondition", "optimizer", "evaluation", "checkpoint")


def measure_step(torch, model, corpus, args):
    """Times forward+backward (no optimizer) on fixed random batches and prints tokens/s."""
    functional = torch.nn.functional
    generator = torch.Generator().manual_seed(args.seed)
    count = len(corpus.training) - args.context
    batches = [windows(torch, corpus.training, torch.randint(count, (args.batch_size,), generator=generator), args.context)
               for _ in range(min(args.measure_step, 8))]

    def one_pass(index):
        inputs, targets = batches[index % len(batches)]
        model.zero_grad(set_to_none=False)
        logits = model(inputs)
        functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).backward()

    for index in range(args.measure_warmup):
        one_pass(index)
    durations = []
    for index in range(args.measure_step):
        start = time.perf_counter()
        one_pass(index)
        durations.append(time.perf_counter() - start)
    tokens = args.batch_size * args.context
    total = sum(durations)
    print(f"forward+backward: {args.measure_step} steps of {args.batch_size}x{args.context} tokens in {total:.3f} s, "
          f"{tokens * args.measure_step / total:.0f} tokens/s (median step {1000 * statistics.median(durations):.1f} ms; "
          f"{torch.get_num_threads()} threads, torch {torch.__version__})")


def measure_train_step(torch, model, corpus, args):
    """Times whole training steps with launch/torch_models.py's harness and prints its JSON: random
    windows gathered from the training text each step, AdamW at a constant --learning-rate."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_models import adamw, time_train_steps
    generator = torch.Generator().manual_seed(args.seed)
    count = len(corpus.training) - args.context

    def next_batch(_step):
        return windows(torch, corpus.training, torch.randint(count, (args.batch_size,), generator=generator), args.context)

    timings = time_train_steps(torch, model, adamw(torch, model, args.learning_rate), next_batch,
                               args.measure_train_step, args.measure_warmup)
    report = {
        "model": "char", "parameters": sum(p.numel() for p in model.parameters()), "batch": args.batch_size,
        "predictionsPerSample": args.context, "steps": args.measure_train_step, "warmup": args.measure_warmup,
        "threads": torch.get_num_threads(), "interopThreads": torch.get_num_interop_threads(), "torch": torch.__version__,
        "milliseconds": timings,
    }
    print(json.dumps(report, sort_keys=True))


def train(torch, model, corpus, args):
    functional = torch.nn.functional
    os.makedirs(args.out, exist_ok=True)
    metrics_path = os.path.join(args.out, "metrics.jsonl")
    if os.path.exists(metrics_path):
        fail(f"{metrics_path}: exists already; give a new --out folder")
    parameters = sum(p.numel() for p in model.parameters())
    settings = {key: value for key, value in vars(args).items() if not key.startswith("measure_")}
    settings.update(parameters=parameters, vocabulary=len(corpus.vocabulary), torch=torch.__version__,
                    threads=torch.get_num_threads())
    with open(os.path.join(args.out, "config.json"), "w") as handle:
        json.dump(settings, handle, indent=2, sort_keys=True)

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    window_count = len(corpus.training) - args.context
    if window_count < args.batch_size:
        fail(f"{args.text}: --batch-size {args.batch_size} exceeds the {window_count} training windows")
    sampler = EpochSampler(torch, window_count, args.batch_size, args.seed)
    validation_starts = corpus.validation_starts(args.validation_windows, args.context)
    print(f"{len(corpus.training)} training / {len(corpus.validation)} validation characters, {len(corpus.vocabulary)} distinct; "
          f"windows of {args.context}; {parameters} parameters; {args.steps} steps of {args.batch_size}; "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}", flush=True)

    stop = StopRequest()
    deadline = args.minutes * 60 if args.minutes else None
    clock = time.perf_counter
    started = clock()
    window = {"loss": 0.0, "correct": 0, "samples": 0, "time": dict.fromkeys(PHASES, 0.0)}
    best = None
    completed = 0
    stopped_by = None
    metrics = open(metrics_path, "w")

    def write_line(step, rate, evaluation):
        nonlocal window
        times = window["time"]
        training_seconds = max(sum(times.values()) - times["evaluation"] - times["checkpoint"], 1e-9)
        tokens_per_second = window["samples"] / training_seconds
        record = {
            "step": step, "epoch": step / sampler.steps_per_epoch,
            "loss": window["loss"] / max(window["samples"], 1), "accuracy": window["correct"] / max(window["samples"], 1),
            "learningRate": rate, "samplesPerSecond": tokens_per_second / args.context, "tokensPerSecond": tokens_per_second,
            "elapsedSeconds": clock() - started, "time": times, "skippedSteps": 0,
        }
        if evaluation is not None:
            record["testLoss"], record["testAccuracy"] = evaluation
        metrics.write(json.dumps(record, sort_keys=True) + "\n")
        metrics.flush()
        line = (f"step {step}/{args.steps}  loss {record['loss']:.4f}  lr {rate:.2e}  {tokens_per_second:.0f} tokens/s  "
                f"{record['elapsedSeconds']:.0f} s")
        if evaluation is not None:
            line += f"  validation {evaluation[0]:.4f} nats/char"
        print(line, flush=True)
        window = {"loss": 0.0, "correct": 0, "samples": 0, "time": dict.fromkeys(PHASES, 0.0)}

    rate = 0.0
    for step in range(args.steps):
        if stop.signal is not None:
            stopped_by = signal.Signals(stop.signal).name
            break
        if deadline is not None and clock() - started >= deadline:
            stopped_by = "time"
            break
        times = window["time"]
        moment = clock()
        inputs, targets = windows(torch, corpus.training, sampler.starts(step), args.context)
        now = clock(); times["data"] += now - moment; moment = now
        logits = model(inputs)
        flat = logits.reshape(-1, logits.shape[-1])
        flat_targets = targets.reshape(-1)
        loss = functional.cross_entropy(flat, flat_targets)
        with torch.no_grad():
            correct = int((flat.argmax(dim=1) == flat_targets).sum())
        now = clock(); times["forward"] += now - moment; moment = now
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        now = clock(); times["backward"] += now - moment; moment = now
        rate = learning_rate(args.learning_rate, step, args.steps, args.warmup_steps, args.final_fraction)
        for group in optimizer.param_groups:
            group["lr"] = rate
        optimizer.step()
        now = clock(); times["optimizer"] += now - moment; moment = now
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            metrics.close()
            fail(f"{args.out}: training diverged: non-finite loss at step {step + 1}")
        positions = flat_targets.numel()
        window["loss"] += loss_value * positions
        window["correct"] += correct
        window["samples"] += positions
        completed = step + 1
        evaluation = None
        if completed == args.steps or (args.eval_every > 0 and completed % args.eval_every == 0) \
                or completed % sampler.steps_per_epoch == 0:
            moment = clock()
            evaluation = evaluate(torch, model, corpus, validation_starts, args)
            times["evaluation"] += clock() - moment
            if best is None or evaluation[0] < best[0]:
                best = (evaluation[0], completed)
        if evaluation is not None or completed % args.log_every == 0 or completed == args.steps:
            write_line(completed, rate, evaluation)
    if window["samples"] > 0:
        write_line(completed, rate, None)
    metrics.close()
    elapsed = clock() - started
    summary = {"steps": completed, "plannedSteps": args.steps, "elapsedSeconds": elapsed, "stoppedBy": stopped_by,
               "bestTestLoss": best[0] if best else None, "bestStep": best[1] if best else None}
    with open(os.path.join(args.out, "summary.json"), "w") as handle:
        json.dump(summary, handle, indent=2, sort_keys=True)
    reason = {None: "finished", "time": f"stopped after --minutes {args.minutes}"}.get(stopped_by, f"stopped on {stopped_by}")
    best_text = f"; best validation {best[0]:.4f} nats/char at step {best[1]}" if best else ""
    print(f"{reason}: {completed} steps in {elapsed:.1f} s{best_text}; metrics in {metrics_path}", flush=True)
    return EXIT_STOPPED_BY_SIGNAL if stopped_by not in (None, "time") else 0


def main(argv):
    args = parse_arguments(argv)
    try:
        import torch
    except ImportError:
        fail("needs torch: run it with the Python of launch/bench-shakespeare.sh's venv (default /tmp/spectrain-bench-venv/bin/python)")
    torch.set_num_threads(args.threads)
    if args.measure_train_step:
        torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    corpus = CharacterCorpus(args.text, args.context, torch)
    model = build_model(torch, len(corpus.vocabulary), args)
    if args.measure_step:
        measure_step(torch, model, corpus, args)
        return 0
    if args.measure_train_step:
        measure_train_step(torch, model, corpus, args)
        return 0
    return train(torch, model, corpus, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
