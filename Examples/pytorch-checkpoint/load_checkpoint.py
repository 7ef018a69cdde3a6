#!/usr/bin/env python3
"""Loads a spectrain image-classifier checkpoint into a PyTorch nn.Sequential and measures it on
its test set (Fashion-MNIST by default), as `spectrain eval` does.

    python3 load_checkpoint.py runs/fashion-mlp [--json]       # the run's latest checkpoint
    python3 load_checkpoint.py runs/fashion-mlp/ckpt-000300    # that checkpoint

spectrain's conventions are PyTorch's: NCHW tensors (one greyscale channel), linear weights
[outputs, inputs], conv2d weights [outputs, channels, k, k] (cross-correlation, zero padding),
pooling without padding (partial windows dropped), a linear reads its input flattened in C, H, W
order. Pixels become (pixel / 255 - mean) / std in float32; mean and std are the config's
data.mean and data.std or, when not set, those of all training pixels.
"""
import argparse, gzip, hashlib, json, math, os, re, struct, sys

import torch
from safetensors.torch import load_file
from torch import nn

BATCH = 1000  # test images per forward
SUPPORTED = "flatten, linear, relu, gelu, dropout, layernorm, conv2d, maxpool, avgpool"


def fail(message):
    sys.exit(f"load_checkpoint: {message}")


def checkpoint_folder(path):
    """A checkpoint folder as given, or the one a run folder's `latest` file names."""
    if not os.path.isdir(path):
        fail(f"{path}: no such run or checkpoint folder")
    if os.path.isfile(os.path.join(path, "manifest.json")):
        return path
    try:
        name = open(os.path.join(path, "latest")).read().strip()
    except OSError:
        fail(f"{path}: holds no checkpoint (no manifest.json and no readable 'latest')")
    if not re.fullmatch(r"ckpt-\d+", name):
        fail(f"{path}/latest: does not name a checkpoint folder ({name!r} is not ckpt- and digits)")
    if not os.path.isfile(os.path.join(path, name, "manifest.json")):
        fail(f"{path}/latest: names {name}, which has no manifest.json")
    return os.path.join(path, name)


def build_model(layers, shape):
    """The nn.Sequential of the config's layer list for per-sample input `shape` [C, H, W], and
    for each spectrain tensor name the torch parameter it fills and the shape spectrain gives it."""
    modules, tensors = [], {}
    for index, spec in enumerate(layers):
        kind, name = spec["type"], f"{index}_{spec['type']}"
        if spec.get("over", "sample") != "sample":
            fail(f"model.layers[{index}]: {kind} over {spec['over']!r} is not supported (only over the sample)")
        size = math.prod(shape)
        if kind == "flatten":
            module, shape = nn.Flatten(), [size]
        elif kind == "linear":
            if len(shape) > 1:  # spectrain's linear reads the sample flattened
                modules.append(nn.Flatten())
            module, shape = nn.Linear(size, spec["outputs"]), [spec["outputs"]]
            tensors[name + ".weight"] = (module.weight, [spec["outputs"], size])
            tensors[name + ".bias"] = (module.bias, [spec["outputs"]])
        elif kind in ("relu", "gelu", "dropout"):
            # GELU in its tanh approximation; dropout is the identity in evaluation.
            module = {"relu": nn.ReLU(), "gelu": nn.GELU(approximate="tanh"), "dropout": nn.Identity()}[kind]
        elif kind == "layernorm":  # over the whole sample: one scale and shift per element
            module = nn.LayerNorm(shape, eps=spec["epsilon"])
            tensors[name + ".scale"] = (module.weight, [size])
            tensors[name + ".shift"] = (module.bias, [size])
        elif kind in ("conv2d", "maxpool", "avgpool"):
            if len(shape) != 3:
                fail(f"model.layers[{index}]: {kind} needs a [channels, height, width] input, got {shape}")
            kernel, stride, padding = spec["kernel"], spec.get("stride", spec["kernel"]), spec.get("padding", 0)
            channels = shape[0]
            if kind == "conv2d":
                module = nn.Conv2d(channels, spec["outputs"], kernel, stride=stride, padding=padding)
                channels = spec["outputs"]
                tensors[name + ".weight"] = (module.weight, [channels, shape[0], kernel, kernel])
                tensors[name + ".bias"] = (module.bias, [channels])
            else:
                module = (nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d)(kernel, stride=stride)
            shape = [channels] + [(side + 2 * padding - kernel) // stride + 1 for side in shape[1:]]
        else:
            fail(f"model.layers[{index}]: layer type {kind!r} is not supported by this example ({SUPPORTED})")
        modules.append(module)
    return nn.Sequential(*modules), tensors, shape


def load_parameters(folder, tensors, manifest):
    """Fills the model's parameters from model.safetensors: every tensor used, shapes and
    SHA-256 (against the manifest) checked."""
    try:
        saved = load_file(os.path.join(folder, "model.safetensors"))
    except Exception as error:  # a missing or damaged file; safetensors raises its own error types
        fail(f"{folder}/model.safetensors: {error}")
    names = {name.removeprefix("param/") for name in saved}
    missing, unused = sorted(set(tensors) - names), sorted(names - set(tensors))
    if missing or unused:
        fail(f"{folder}/model.safetensors does not fit the config's model: "
             + "; ".join(f"{what} {', '.join(group)}" for what, group in (("missing", missing), ("unused", unused)) if group))
    with torch.no_grad():
        for name, (parameter, shape) in tensors.items():
            value = saved["param/" + name]
            if value.dtype != torch.float32 or list(value.shape) != shape:
                fail(f"tensor 'param/{name}' is {list(value.shape)} {value.dtype}, the model needs {shape} torch.float32")
            if hashlib.sha256(value.numpy().tobytes()).hexdigest() != manifest["tensors"]["param/" + name]["sha256"]:
                fail(f"tensor 'param/{name}': SHA-256 mismatch with the manifest (the file is corrupt)")
            parameter.copy_(value.reshape(parameter.shape))


def read_idx(path, dimensions):
    """An IDX file of unsigned bytes (plain or gzip) as a uint8 tensor."""
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        hint = " (Fashion-MNIST: install the Debian package dataset-fashion-mnist)" if isinstance(error, FileNotFoundError) else ""
        fail(f"{path}: {getattr(error, 'strerror', None) or error}{hint}")
    header = 4 + 4 * dimensions
    shape = struct.unpack(f">{dimensions}I", data[4:header]) if len(data) >= header else (0,)
    if data[:4] != bytes([0, 0, 8, dimensions]) or 0 in shape or len(data) != header + math.prod(shape):
        fail(f"{path}: not an IDX file of {dimensions}-dimensional unsigned bytes, or truncated")
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).reshape(shape)


def pixel_statistics(images):
    """Mean and population std of pixel / 255 over all pixels, in float64 from a histogram, summed
    in the order spectrain sums them (so they round to the same float32)."""
    histogram, total = torch.bincount(images.flatten(), minlength=256).tolist(), images.numel()
    mean = sum(float(count) * (value / 255) for value, count in enumerate(histogram)) / total
    variance = sum(float(count) * (value / 255 - mean) * (value / 255 - mean) for value, count in enumerate(histogram))
    return mean, math.sqrt(variance / total)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a spectrain run folder (its latest checkpoint) or checkpoint folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    arguments = parser.parse_args()
    folder = checkpoint_folder(arguments.run)
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    config, data = manifest["config"], manifest["config"]["data"]
    images, labels = read_idx(data["testImages"], 3), read_idx(data["testLabels"], 1).long()
    if data.get("mean") is not None:
        mean, std = data["mean"], data["std"]
    else:
        mean, std = pixel_statistics(read_idx(data["trainImages"], 3))
    model, tensors, output = build_model(config["model"]["layers"], [1, *images.shape[1:]])
    if len(output) != 1 or output[0] <= int(labels.max()):
        fail(f"the model gives {output} per image, the test labels need {int(labels.max()) + 1} classes")
    load_parameters(folder, tensors, manifest)
    model.eval()
    mean32, std32 = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
    loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(labels), BATCH):
            x = (images[start:start + BATCH].unsqueeze(1).float() / 255 - mean32) / std32
            y = labels[start:start + BATCH]
            logits = model(x)
            loss += nn.functional.cross_entropy(logits, y, reduction="none").double().sum().item()
            correct += int((logits.argmax(dim=1) == y).sum())  # the first maximum on ties, as spectrain
    result = {"checkpoint": folder, "step": manifest["step"], "loss": loss / len(labels),
              "accuracy": correct / len(labels), "correct": correct, "samples": len(labels)}
    if arguments.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"{folder} (step {result['step']}): PyTorch test loss {result['loss']:.6f}, "
              f"accuracy {100 * result['accuracy']:.2f}% ({correct} of {len(labels)})")


if __name__ == "__main__":
    main()
