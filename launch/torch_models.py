#!/usr/bin/env python3
"""Times PyTorch's CPU training step of the image models launch/bench-models.sh sets beside
`spectrain bench model`, and prints the timings as one JSON object on stdout. Not a dependency of
spectrain; it needs torch in its own environment (launch/torch-venv.sh).

  mlp1024   flatten, linear 1024, relu, linear 1024, relu, linear 10       (1,863,690 parameters)
  cnn       conv2d 32 k3, relu, maxpool 2, conv2d 64 k3, relu, maxpool 2, flatten,
            linear 128, relu, linear 10 (no padding; the small CNN of issue 17, about 2 GFLOP per step) (225,034)

Input is Fashion-MNIST-shaped, 1x28x28 with 10 classes, but random: a pool of 60,000 random byte
images with random labels (as many as Fashion-MNIST's training set, as spectrain keeps its images
as bytes), from which each step gathers `--batch` random samples and normalises them to float as
spectrain's ImageDataset does. One step, timed phase by phase with time.perf_counter as spectrain's
PhaseRunner splits it:

  data       gather the batch from the pool, bytes to normalised floats
  forward    logits, mean cross-entropy, the loss as a Python float and the count of correct argmaxes
  backward   optimizer.zero_grad(), loss.backward()
  optimizer  AdamW step (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0, constant rate)

The JSON holds the mean and the median over the timed steps of each phase, of `compute` (forward +
backward + optimizer) and of `step` (all four), in milliseconds. spectrain's bench reports means
(a phase's total over the timed steps / steps), so the means are what to set beside it.

  python launch/torch_models.py --model mlp1024 --steps 50 --warmup 5 --threads 2 --batch 128

`time_train_steps` is shared with launch/torch_char_lm.py --measure-train-step.
"""

import argparse
import json
import math
import statistics
import sys
import time

IMAGE_SHAPE = (1, 28, 28)
CLASSES = 10
POOL_SAMPLES = 60_000
PHASES = ("data", "forward", "backward", "optimizer")
MODELS = ("mlp1024", "cnn")


def fail(message):
    print(f"torch_models: {message}", file=sys.stderr)
    sys.exit(2)


def bounded_int(low, high):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}...{high}")
        return value
    return parse


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description="Time PyTorch's CPU training step (AdamW) of an image model on random Fashion-MNIST-shaped data.")
    parser.add_argument("--model", required=True, choices=MODELS)
    parser.add_argument("--steps", type=bounded_int(1, 100_000), default=20, help="steps timed (20)")
    parser.add_argument("--warmup", type=bounded_int(0, 100_000), default=3, help="untimed steps first (3)")
    parser.add_argument("--threads", type=bounded_int(1, 1024), default=2, help="torch.set_num_threads (2); one inter-op thread")
    parser.add_argument("--batch", type=bounded_int(1, 65_536), default=128, help="samples per step (128)")
    parser.add_argument("--seed", type=bounded_int(0, 2**31 - 1), default=1)
    return parser.parse_args(argv)


def build_model(torch, name):
    nn = torch.nn
    if name == "mlp1024":
        return nn.Sequential(
            nn.Flatten(), nn.Linear(28 * 28, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, CLASSES))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, CLASSES))


def adamw(torch, model, learning_rate=1e-3):
    return torch.optim.AdamW(model.parameters(), lr=learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)


def summary(values):
    return {"mean": 1000 * statistics.fmean(values), "median": 1000 * statistics.median(values)}


def time_train_steps(torch, model, optimizer, next_batch, steps, warmup):
    """Runs `warmup` untimed and `steps` timed training steps; returns each phase's, compute's
    (forward + backward + optimizer) and the whole step's mean and median milliseconds.
    `next_batch(step)` returns (inputs, targets); a model's logits may carry extra leading axes
    (a language model's positions), flattened before the cross-entropy."""
    functional = torch.nn.functional
    clock = time.perf_counter
    durations = {phase: [] for phase in PHASES}
    model.train()
    for step in range(warmup + steps):
        start = clock()
        inputs, targets = next_batch(step)
        after_data = clock()
        logits = model(inputs)
        flat = logits.reshape(-1, logits.shape[-1])
        flat_targets = targets.reshape(-1)
        loss = functional.cross_entropy(flat, flat_targets)
        loss_value = loss.item()
        with torch.no_grad():
            _correct = int((flat.argmax(dim=1) == flat_targets).sum())
        after_forward = clock()
        optimizer.zero_grad()
        loss.backward()
        after_backward = clock()
        optimizer.step()
        end = clock()
        if not math.isfinite(loss_value):
            fail(f"non-finite loss at step {step + 1}")
        if step >= warmup:
            for phase, seconds in zip(PHASES, (after_data - start, after_forward - after_data,
                                               after_backward - after_forward, end - after_backward)):
                durations[phase].append(seconds)
    compute = [f + b + o for f, b, o in zip(durations["forward"], durations["backward"], durations["optimizer"])]
    whole = [d + c for d, c in zip(durations["data"], compute)]
    result = {phase: summary(values) for phase, values in durations.items()}
    result["compute"] = summary(compute)
    result["step"] = summary(whole)
    return result


def image_batches(torch, batch, seed):
    """A function of the step giving `batch` random samples of a random byte pool, normalised."""
    generator = torch.Generator().manual_seed(seed)
    pool = torch.randint(0, 256, (POOL_SAMPLES, *IMAGE_SHAPE), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, CLASSES, (POOL_SAMPLES,), generator=generator)
    scaled = pool.float().div_(255)
    mean, std = scaled.mean().item(), scaled.std().item()
    del scaled

    def next_batch(_step):
        index = torch.randint(0, POOL_SAMPLES, (batch,), generator=generator)
        return pool[index].float().div_(255).sub_(mean).div_(std), labels[index]
    return next_batch


def main(argv):
    args = parse_arguments(argv)
    try:
        import torch
    except ImportError:
        fail("needs torch: run it with the Python of the venv launch/torch-venv.sh sets up (default /tmp/spectrain-bench-venv/bin/python)")
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    model = build_model(torch, args.model)
    optimizer = adamw(torch, model)
    timings = time_train_steps(torch, model, optimizer, image_batches(torch, args.batch, args.seed), args.steps, args.warmup)
    report = {
        "model": args.model, "parameters": sum(p.numel() for p in model.parameters()), "batch": args.batch,
        "predictionsPerSample": 1, "steps": args.steps, "warmup": args.warmup, "threads": torch.get_num_threads(),
        "interopThreads": torch.get_num_interop_threads(), "torch": torch.__version__, "milliseconds": timings,
    }
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
