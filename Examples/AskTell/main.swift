// Minimises a function you write in Swift with spectrain's gradient-free search, in ask/tell
// form: ask for a population of candidates, evaluate them however you like (here a closure;
// in your code perhaps a simulation or a training run), tell the values back.
import Foundation
import GradientFree

/// Your objective: any function from a point to a number, lower is better. Here the Rosenbrock
/// function, a curved valley whose minimum 0 is at (1, ..., 1).
let objective: ([Double]) -> Double = { x in
    zip(x, x.dropFirst()).reduce(0) { total, pair in
        total + 100 * (pair.1 - pair.0 * pair.0) * (pair.1 - pair.0 * pair.0) + (1 - pair.0) * (1 - pair.0)
    }
}

let dimension = 8
// CMA-ES whose covariance is a spectral factor moved by matmul-only steps (no
// eigendecomposition); `.xnes` and `.spectral` are the other methods.
let search = try makeSearch(
    dimension: dimension, start: [Double](repeating: 0, count: dimension),
    options: AdaptationOptions(method: .cma, initialStepSize: .uniform(0.5)), seed: 42)

var evaluations = 0
while search.best.value > 1e-10 && evaluations < 100_000 {
    let candidates = search.ask()  // population x dimension, one candidate per row
    let values = (0..<candidates.rows).map { row in
        objective((0..<dimension).map { candidates[row, $0] })
    }
    evaluations += values.count
    try search.tell(values)
    if search.iteration % 100 == 0 {
        print("iteration \(search.iteration): best \(search.best.value), step size \(search.stepSize)")
    }
}

print("after \(evaluations) evaluations (\(search.iteration) iterations of \(search.population)):")
print("  best value \(search.best.value) at \(search.best.point.map { String(format: "%.6f", $0) })")
print("  mean \(search.mean.map { String(format: "%.6f", $0) }), step size \(search.stepSize)")
print("  eigendecompositions: \(search.eigendecompositions)")
guard search.best.value <= 1e-10, search.best.point.allSatisfy({ abs($0 - 1) < 1e-3 }) else {
    print("error: the search did not reach the minimum at (1, ..., 1)")
    exit(1)
}
