#!/usr/bin/env python3
"""spectrain es (method "cma") against pycma, like with like; run by launch/bench-es-pycma.sh,
which makes the venv (cma, numpy) and passes --spectrain.

Part 1, evaluations: for each function and dimension, per seed (interleaved: pycma, then
spectrain), both start at x0 (3 in every coordinate; 0 for Rosenbrock) with step size 1 and
population 4 + floor(3 ln n) (pycma's default), and stop when f(mean) < target (f(mean) is not
counted as an evaluation) or when another iteration would exceed the budget. pycma runs with its
defaults except the termination tolerances, which are switched off; it is driven by hand (ask,
tell, f(mean)); a stop that es.stop() reports all the same counts as a failure and is listed.
Prints successes and the median evaluations over the successful runs, and their ratio.

Part 2, time per iteration (--timing, on by default): sphere (unrotated, cheap) at large n, one
BLAS thread on both sides; pycma's ask + tell time (the objective excluded) over N iterations
after warm-up, against spectrain's seconds / iterations of a run with an unreachable target
(which includes its f(mean) evaluation and the objective, both O(n) per point here). Each
measurement lasts >= --timing-seconds; repeats interleaved; medians and ratio spectrain/pycma.

Functions (no factor 1/2; z = Q x, Q a seeded random orthogonal matrix when rotated):
sphere sum z_i^2, ellipsoid sum c^((i-1)/(n-1)) z_i^2 (c = 1e6), rosenbrock, all rotated
sum 100 (z_{i+1} - z_i^2)^2 + (1 - z_i)^2. CMA-ES is rotation invariant, so the two sides need
not use the same rotation.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")  # before numpy loads: one BLAS thread

import numpy as np  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "Could not import matplotlib.pyplot"
    import cma  # noqa: E402

FUNCTIONS = ("sphere", "ellipsoid", "rosenbrock")

# pycma's termination tolerances, switched off (the names as in cma.CMAOptions() of cma 3.x/4.x;
# checked against the installed version at start). Left on: ftarget (-inf, i.e. off anyway),
# timeout (inf), tolupsigma, noeffectcoord and noeffectaxis (not options), whose firing is a
# failure.
DISABLED_TOLERANCES = {
    "tolfun": 0,
    "tolfunhist": 0,
    "tolfunrel": 0,
    "tolflatfitness": 1e12,
    "tolx": 0,
    "tolxstagnation": False,  # cma >= 3.3: stop when the mean moves < 1e-9 for ~20 iterations
    "tolstagnation": 10**12,
    "tolconditioncov": 1e30,
    "tolfacupx": 1e30,
    "maxfevals": 1e15,
    "maxiter": 1e15,
}


def population(n):
    """pycma's default population size, 4 + floor(3 ln n); also spectrain's default."""
    return 4 + int(3 * math.log(n))


def start_value(function):
    return 0.0 if function == "rosenbrock" else 3.0


def rotated(function):
    """Every function is rotated (the issue's rotated ellipsoid and rotated Rosenbrock)."""
    return True


def rotation(n, seed):
    """A random orthogonal matrix: QR of a Gaussian matrix, columns' signs fixed by diag(R)."""
    gaussian = np.random.default_rng(seed).standard_normal((n, n))
    q, r = np.linalg.qr(gaussian)
    return q * np.sign(np.diag(r))


def objective(function, n, condition, rotation_seed, rotate=None):
    """f(X) for the rows of X (one point per row)."""
    rotate = rotated(function) if rotate is None else rotate
    q = rotation(n, rotation_seed) if rotate else None
    weights = condition ** (np.arange(n) / (n - 1)) if function == "ellipsoid" else None

    def values(points):
        z = np.atleast_2d(np.asarray(points, dtype=float))
        if q is not None:
            z = z @ q.T
        if function == "sphere":
            return np.einsum("ij,ij->i", z, z)
        if function == "ellipsoid":
            return (z * z) @ weights
        if function == "rosenbrock":
            head, tail = z[:, :-1], z[:, 1:]
            return np.sum(100.0 * (tail - head * head) ** 2 + (1.0 - head) ** 2, axis=1)
        raise ValueError(function)

    return values


def pycma_options(popsize, seed):
    options = dict(DISABLED_TOLERANCES)
    options.update(popsize=popsize, seed=seed, verbose=-9, verb_log=0, verb_disp=0)
    return options


def run_pycma(function, n, seed, args):
    """One pycma run driven by hand; the record for the JSON lines."""
    popsize = population(n)
    f = objective(function, n, args.condition, seed)
    started = time.perf_counter()
    es = cma.CMAEvolutionStrategy(np.full(n, start_value(function)), 1.0, pycma_options(popsize, seed))
    evaluations = iterations = 0
    mean_value = float(f(es.mean)[0])
    stop = None
    while mean_value >= args.target and evaluations + popsize <= args.budget and math.isfinite(mean_value):
        points = es.ask()
        es.tell(points, f(np.asarray(points)).tolist())
        evaluations += popsize
        iterations += 1
        mean_value = float(f(es.mean)[0])
        if mean_value < args.target:
            break
        reasons = es.stop()
        if reasons:
            stop = {key: (value if isinstance(value, (int, float, str, bool)) or value is None else str(value))
                    for key, value in dict(reasons).items()}
            break
    reached = mean_value < args.target
    return {
        "part": "evaluations", "side": "pycma", "function": function, "n": n, "popsize": popsize, "seed": seed,
        "reachedTarget": reached, "evaluations": evaluations, "iterations": iterations,
        "finalValue": mean_value, "seconds": time.perf_counter() - started,
        "stop": stop if stop else (None if reached else ("budget" if math.isfinite(mean_value) else "non-finite f(mean)")),
    }


def spectrain_command(args, function, n, seed, popsize, target, budget, rotate=None, blas_threads=1):
    rotate = rotated(function) if rotate is None else rotate
    sets = [
        "methods=[\"cma\"]",
        f"objective.type={function}",
        f"objective.dimension={n}",
        f"objective.start={start_value(function):g}",
        "search.initialStepSize=1",
        f"search.populationSize={popsize}",
        f"target={target!r}",
        f"maxEvaluations={budget}",
        f"seed={seed}",
    ]
    if function == "ellipsoid":
        sets.append(f"objective.condition={args.condition:g}")
    if not args.spectrain_legacy:
        sets.append(f"objective.rotated={'true' if rotate else 'false'}")
    if rotate or args.spectrain_legacy:
        sets.append(f"objective.rotationSeed={seed}")
    command = [args.spectrain, "es", args.base_config, "--json", "--blas-threads", str(blas_threads)]
    for item in sets:
        command += ["--set", item]
    return command


def shell_words(command):
    return " ".join(word if all(c.isalnum() or c in "-_./=:,+" for c in word) else "'" + word.replace("'", "'\\''") + "'"
                    for word in command)


def run_spectrain_command(command):
    """The method's JSON line from stdout, whatever the exit code (spectrain exits non-zero when the
    target is not reached); (record, None) or (None, error message)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=24 * 3600)
    except OSError as error:
        return None, f"could not run: {error}"
    for line in done.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("method") == "cma":
                return record, None
    message = (done.stderr.strip() or done.stdout.strip() or "(no output)").splitlines()
    return None, f"exit code {done.returncode}, no JSON line; " + " | ".join(message[-5:])


def spectrain_target(args, function):
    # The legacy binary computes sphere and ellipsoid with a factor 1/2: f/2 < target/2.
    return args.target / 2 if args.spectrain_legacy and function != "rosenbrock" else args.target


def run_spectrain(function, n, seed, args, errors):
    popsize = population(n)
    command = spectrain_command(args, function, n, seed, popsize, spectrain_target(args, function), args.budget)
    started = time.perf_counter()
    record, error = run_spectrain_command(command)
    result = {"part": "evaluations", "side": "spectrain", "function": function, "n": n, "popsize": popsize, "seed": seed,
              "wallSeconds": time.perf_counter() - started}
    if record is None:
        note_error(errors, command, error)
        result.update(error=error, reachedTarget=False, command=shell_words(command))
        return result
    result.update({key: record.get(key) for key in ("reachedTarget", "evaluations", "iterations", "finalValue", "seconds", "eigendecompositions")})
    result["reachedTarget"] = bool(result["reachedTarget"])
    return result


def note_error(errors, command, message):
    """Print an error the first time it is seen, with the invocation; count repeats."""
    if message not in errors:
        print(f"spectrain failed: {shell_words(command)}\n  {message}", file=sys.stderr, flush=True)
        errors[message] = 0
    errors[message] += 1


def median_or_none(values):
    return statistics.median(values) if values else None


def fmt_count(value):
    return "–" if value is None else (f"{value:.0f}" if value == int(value) else f"{value:.1f}")


def evaluations_table(records, functions, dimensions_of, seeds):
    print()
    print(f"| function | n | popsize | pycma success | pycma median evals | spectrain success | spectrain median evals | spectrain/pycma |")
    print("|---|---|---|---|---|---|---|---|")
    for function in functions:
        for n in dimensions_of(function):
            row = [r for r in records if r["function"] == function and r["n"] == n]
            if not row:
                continue
            cells = []
            medians = []
            for side in ("pycma", "spectrain"):
                runs = [r for r in row if r["side"] == side]
                wins = [r["evaluations"] for r in runs if r.get("reachedTarget")]
                failed = sum(1 for r in runs if "error" in r)
                success = f"{len(wins)}/{len(runs)}" + (f" ({failed} errors)" if failed else "")
                median = median_or_none(wins)
                medians.append(median)
                cells += [success, fmt_count(median)]
            ratio = f"{medians[1] / medians[0]:.2f}" if medians[0] and medians[1] is not None else "–"
            print(f"| {function} | {n} | {population(n)} | " + " | ".join(cells) + f" | {ratio} |")
    misses = [r for r in records if not r.get("reachedTarget") and "error" not in r]
    if misses:
        print()
        print("Runs that missed the target:")
        for r in misses:
            why = r.get("stop") or "budget"
            value = r.get("finalValue")
            value_text = f", f(mean) {value:.3e}" if isinstance(value, (int, float)) else ""
            print(f"- {r['side']} {r['function']} n={r['n']} seed {r['seed']}: {why}"
                  f" after {r.get('evaluations', '?')} evaluations{value_text}")
    failed = {}
    for r in records:
        if "error" in r:
            failed.setdefault((r["side"], r["error"]), []).append(f"{r['function']} n={r['n']} seed {r['seed']}")
    if failed:
        print()
        print("Runs that failed (no result):")
        for (side, error), runs in failed.items():
            print(f"- {side}, {len(runs)} run(s) ({', '.join(runs)}): {error}")


# ---- timing -------------------------------------------------------------------------------------

def pycma_iterations(es, f, iterations):
    """Seconds in ask + tell over `iterations` iterations (the objective's time excluded)."""
    spent = 0.0
    for _ in range(iterations):
        t0 = time.perf_counter()
        points = es.ask()
        t1 = time.perf_counter()
        values = f(np.asarray(points)).tolist()
        t2 = time.perf_counter()
        es.tell(points, values)
        t3 = time.perf_counter()
        spent += (t1 - t0) + (t3 - t2)
    return spent


def pycma_timing(n, seed, args, warmup=5):
    """ask + tell seconds per iteration over as many iterations as last >= args.timing_seconds."""
    f = objective("sphere", n, args.condition, seed, rotate=False)
    es = cma.CMAEvolutionStrategy(np.full(n, 3.0), 1.0, pycma_options(population(n), seed))
    pycma_iterations(es, f, warmup)
    iterations, spent = 0, 0.0
    while spent < args.timing_seconds or iterations < 3:
        spent += pycma_iterations(es, f, 1)
        iterations += 1
    return {"part": "timing", "side": "pycma", "function": "sphere", "n": n, "popsize": population(n), "seed": seed,
            "iterations": iterations, "warmupIterations": warmup, "seconds": spent, "secondsPerIteration": spent / iterations}


def spectrain_iterations_for(n, args, errors):
    """Iterations for a spectrain run of >= args.timing_seconds, from short runs (doubling until one
    lasts >= 0.5 s); None if spectrain fails."""
    popsize, count = population(n), 2
    while True:
        command = spectrain_command(args, "sphere", n, 1, popsize, -1, popsize * count, rotate=False)
        record, error = run_spectrain_command(command)
        if record is None:
            note_error(errors, command, error)
            return None
        if record["seconds"] >= min(0.5, args.timing_seconds / 2) or count >= 1 << 20:
            return max(3, math.ceil(1.2 * args.timing_seconds * record["iterations"] / max(record["seconds"], 1e-9)))
        count *= 2


def spectrain_timing(n, seed, iterations, args, errors):
    """seconds / iterations of a run of `iterations` iterations (unreachable target -1); redone
    with more iterations if it lasted < args.timing_seconds. The record has the iterations used."""
    popsize = population(n)
    result = {"part": "timing", "side": "spectrain", "function": "sphere", "n": n, "popsize": popsize, "seed": seed}
    for _ in range(5):
        command = spectrain_command(args, "sphere", n, seed, popsize, -1, popsize * iterations, rotate=False)
        record, error = run_spectrain_command(command)
        if record is None:
            note_error(errors, command, error)
            result.update(error=error, command=shell_words(command))
            return result
        if record["seconds"] >= args.timing_seconds:
            break
        iterations = math.ceil(1.2 * iterations * args.timing_seconds / max(record["seconds"], 1e-9))
    result.update(iterations=record["iterations"], evaluations=record["evaluations"], seconds=record["seconds"],
                  secondsPerIteration=record["seconds"] / max(1, record["iterations"]))
    return result


def timing_part(args, write, errors):
    print()
    print(f"Time per iteration, sphere (not rotated), one BLAS thread, {args.timing_repeats} interleaved repeats, "
          f"each >= {args.timing_seconds:g} s; pycma: ask + tell only (objective excluded; after 5 warm-up iterations); "
          "spectrain: seconds / iterations of its run, which include f(mean) and the objective (O(n) per point).",
          flush=True)
    counts = {}
    for n in args.timing_dimensions:
        print(f"  calibrating spectrain at n = {n} ...", file=sys.stderr, flush=True)
        counts[n] = spectrain_iterations_for(n, args, errors)
    results = []
    for repeat in range(1, args.timing_repeats + 1):
        for n in args.timing_dimensions:
            done = [pycma_timing(n, repeat, args)]
            if counts[n] is not None:
                done.append(spectrain_timing(n, repeat, counts[n], args, errors))
                counts[n] = done[-1].get("iterations", counts[n])
            for record in done:
                write(record)
            results += done
            print(f"  timing repeat {repeat}, n = {n}: " + ", ".join(
                f"{r['side']} {r['secondsPerIteration'] * 1e3:.3f} ms/iteration ({r['iterations']} iterations)"
                for r in done if "secondsPerIteration" in r), file=sys.stderr, flush=True)
    print()
    print("| n | popsize | pycma iterations | pycma ms/iteration | spectrain iterations | spectrain ms/iteration | spectrain/pycma |")
    print("|---|---|---|---|---|---|---|")
    for n in args.timing_dimensions:
        medians, iterations = [], []
        for side in ("pycma", "spectrain"):
            runs = [r for r in results if r["n"] == n and r["side"] == side and "secondsPerIteration" in r]
            medians.append(median_or_none([r["secondsPerIteration"] for r in runs]))
            iterations.append("/".join(str(r["iterations"]) for r in runs) or "–")
        ratio = f"{medians[1] / medians[0]:.2f}" if medians[0] and medians[1] is not None else "–"
        cells = [f"{m * 1e3:.3f}" if m is not None else "–" for m in medians]
        print(f"| {n} | {population(n)} | {iterations[0]} | {cells[0]} | {iterations[1]} | {cells[1]} | {ratio} |")


# ---- main ---------------------------------------------------------------------------------------

def int_list(text):
    values = []
    for part in text.replace(",", " ").split():
        if "-" in part.strip("-"):
            low, high = part.split("-", 1)
            values += list(range(int(low), int(high) + 1))
        else:
            values.append(int(part))
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spectrain", default=os.environ.get("SPECTRAIN", "/tmp/spectrain-es"), help="the spectrain binary")
    parser.add_argument("--seeds", default="1-10", help="seeds, e.g. \"1 2 3\" or 1-10 (default 1-10)")
    parser.add_argument("--functions", default=" ".join(FUNCTIONS), help="subset of: " + " ".join(FUNCTIONS))
    parser.add_argument("--dimensions", default="10 20 40", help="dimensions for part 1 (default \"10 20 40\")")
    parser.add_argument("--rosenbrock-40", action="store_true", help="run Rosenbrock at n = 40 too (slow)")
    parser.add_argument("--budget", type=float, default=1e6, help="evaluations per run (default 1e6)")
    parser.add_argument("--target", type=float, default=1e-10, help="f(mean) target (default 1e-10)")
    parser.add_argument("--condition", type=float, default=1e6, help="ellipsoid condition number (default 1e6)")
    parser.add_argument("--timing", dest="timing", action="store_true", default=True, help="part 2 (default on)")
    parser.add_argument("--no-timing", dest="timing", action="store_false", help="skip part 2")
    parser.add_argument("--no-evaluations", dest="evaluations", action="store_false", default=True, help="skip part 1")
    parser.add_argument("--timing-dimensions", default="200 500 1000", help="dimensions for part 2 (default \"200 500 1000\")")
    parser.add_argument("--timing-repeats", type=int, default=3)
    parser.add_argument("--timing-seconds", type=float, default=2.0, help="minimum length of each timed measurement")
    parser.add_argument("--quick", action="store_true", help="smoke test: seeds 1 2, n = 10, no timing")
    parser.add_argument("--out", help="JSON lines of every run (default: a new temporary file)")
    parser.add_argument("--spectrain-legacy", action="store_true",
                        help="for binaries before objective.rotated and the factor-free objectives: omit "
                             "objective.rotated and halve spectrain's target on sphere and ellipsoid")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.dimensions, args.timing = "1 2", "10", False
    args.seeds = int_list(args.seeds)
    args.dimensions = int_list(args.dimensions)
    args.timing_dimensions = int_list(args.timing_dimensions)
    args.budget = int(args.budget)
    functions = args.functions.split()
    unknown = [f for f in functions if f not in FUNCTIONS]
    if unknown or not args.seeds or min(args.seeds) < 1 or min(args.dimensions + [2]) < 2:
        parser.error(f"functions from {FUNCTIONS}, seeds >= 1 (pycma takes 0 for 'time'), dimensions >= 2")
    if not (os.path.isfile(args.spectrain) and os.access(args.spectrain, os.X_OK)):
        sys.exit(f"es_pycma: spectrain binary {args.spectrain} not found or not executable")

    known = cma.CMAOptions()
    missing = [key for key in DISABLED_TOLERANCES if key not in known]
    if missing:
        sys.exit(f"es_pycma: cma {cma.__version__} has no option(s) {missing}; adjust DISABLED_TOLERANCES")

    def dimensions_of(function):
        if function == "rosenbrock" and not args.rosenbrock_40:
            return [n for n in args.dimensions if n != 40]
        return args.dimensions

    workdir = tempfile.mkdtemp(prefix="es-pycma-")
    args.base_config = os.path.join(workdir, "es-base.json")
    with open(args.base_config, "w") as file:
        json.dump({"objective": {"type": "sphere", "dimension": 10}, "seed": 1, "methods": ["cma"],
                   "target": args.target, "maxEvaluations": args.budget}, file)
    if args.out is None:
        args.out = os.path.join(workdir, "runs.jsonl")
    out = open(args.out, "w")

    def write(record):
        out.write(json.dumps(record) + "\n")
        out.flush()

    example = spectrain_command(args, "ellipsoid", 10, 1, population(10), spectrain_target(args, "ellipsoid"), args.budget)
    print(f"# pycma {cma.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
    print(f"# pycma options: defaults, popsize = 4 + floor(3 ln n) (its default, passed explicitly), seed = the run's seed, "
          f"verbose=-9 (no files), and off: " + ", ".join(f"{k}={v!r}" for k, v in DISABLED_TOLERANCES.items())
          + "; still on: tolupsigma, noeffectcoord, noeffectaxis (a stop by them is a failure)")
    print(f"# start 3 (Rosenbrock 0) in every coordinate, sigma0 = 1, target f(mean) < {args.target:g} "
          f"(f(mean) not counted), budget {args.budget} evaluations, ellipsoid condition {args.condition:g}; "
          "all rotated (rotation seed = seed)")
    print(f"# spectrain, e.g.: {shell_words(example)}")
    if args.spectrain_legacy:
        print("# --spectrain-legacy: objective.rotated omitted (that binary: ellipsoid rotated, sphere and Rosenbrock not), "
              "and spectrain's target halved on sphere and ellipsoid (that binary computes f/2)")
    print(f"# seeds {' '.join(map(str, args.seeds))}; raw results (JSON lines): {args.out}", flush=True)

    errors = {}
    if args.evaluations:
        records = []
        for function in functions:
            for n in dimensions_of(function):
                for seed in args.seeds:
                    try:
                        p = run_pycma(function, n, seed, args)
                    except Exception as error:  # a bug or numerical failure on the pycma side: record, go on
                        p = {"part": "evaluations", "side": "pycma", "function": function, "n": n,
                             "popsize": population(n), "seed": seed, "reachedTarget": False, "error": repr(error)}
                        errors.setdefault("pycma: " + repr(error), 0)
                        print(f"pycma failed: {function} n={n} seed {seed}: {error!r}", file=sys.stderr, flush=True)
                    write(p)
                    s = run_spectrain(function, n, seed, args, errors)
                    write(s)
                    records += [p, s]
                    print(f"  {function} n={n} seed {seed}: pycma {p.get('evaluations', '?')} evaluations"
                          f"{'' if p.get('reachedTarget') else ' (missed)'}, spectrain {s.get('evaluations', '?')}"
                          f"{'' if s.get('reachedTarget') else (' (error)' if 'error' in s else ' (missed)')}",
                          file=sys.stderr, flush=True)
        evaluations_table(records, functions, dimensions_of, args.seeds)
    if args.timing:
        timing_part(args, write, errors)
    out.close()
    print()
    print(f"# raw results: {args.out}")
    if errors:
        print(f"# errors: " + "; ".join(f"{count} x {message}" for message, count in errors.items()))
        sys.exit(1)


if __name__ == "__main__":
    main()
