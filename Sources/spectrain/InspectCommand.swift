import ArgumentParser
import Checkpoint
import Foundation
import Linalg
import Support

/// `spectrain inspect CKPT`: what a checkpoint holds, after validating it.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a checkpoint: step, configuration, tensors, and the spectrum of every curvature factor.")

    @Argument(help: "A checkpoint folder, or a run folder (its latest checkpoint).")
    var checkpoint: String

    func run() throws {
        let folder = try CheckpointStore.resolve(checkpoint)
        let contents = try CheckpointStore.read(folder)
        let manifest = contents.manifest
        let config = manifest["config"]
        var lines = ["checkpoint \(folder) (checksums verified)"]
        lines.append(String(
            format: "step %d, epoch %.2f, saved by %d rank(s), spectrain %@",
            manifest["step"]?.integer ?? -1, manifest["epoch"]?.number ?? .nan, manifest["worldSize"]?.integer ?? -1,
            manifest["versions"]?["spectrain"]?.string ?? "?"))
        if let optimizer = config?["optimizer"], let training = config?["training"] {
            let preconditioner = optimizer["preconditioner"]
            var summary = "optimizer \(optimizer["type"]?.string ?? "?"), learning rate \(optimizer["learningRate"]?.number ?? .nan)"
            if let mode = preconditioner?["mode"]?.string, ["spectral", "eigenShampoo"].contains(optimizer["type"]?.string ?? "") {
                summary += ", mode \(mode), p = \(preconditioner?["power"]?.number ?? .nan)"
            }
            lines.append(summary + "; batch \(training["batchSize"]?.integer ?? -1), seed \(manifest["seed"]?.string.map { String($0.prefix(24)) } ?? "?")")
        }
        if case .array(let layers)? = config?["model"]?["layers"] {
            lines.append("model: " + layers.map { $0["type"]?.string ?? "?" }.joined(separator: " -> "))
        }
        lines.append("")
        var table = [["tensor", "dtype", "shape"]]
        for tensor in contents.model + contents.optimizer {
            table.append([tensor.name, tensor.dtype.rawValue, "\(tensor.shape)"])
        }
        lines += TextTable.render(table)
        let factors = Self.factorSpectra(contents.optimizer)
        if !factors.isEmpty {
            lines.append("")
            lines.append("curvature factors:")
            lines += TextTable.render([["factor", "k", "min d", "max d", "condition", "||B^T B - I||_F"]] + factors)
            lines.append(Self.factorStateBytes(contents.optimizer))
        }
        print(lines.joined(separator: "\n"))
    }

    /// A row per spectral factor (an `.eigenvalues` tensor with its `.eigenvectors`): the spectrum
    /// and, measured here, the orthogonality of B.
    static func factorSpectra(_ tensors: [StoredTensor]) -> [[String]] {
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        var rows: [[String]] = []
        for tensor in tensors where tensor.name.hasSuffix(".eigenvalues") && tensor.dtype == .float32 {
            let prefix = String(tensor.name.dropLast(".eigenvalues".count))
            let values = tensor.floats
            guard let smallest = values.min(), let largest = values.max() else { continue }
            var orthogonality = "-"
            if let vectors = byName[prefix + ".eigenvectors"], let elements = vectors.realValues,
               vectors.shape == [values.count, values.count], !byName.keys.contains(prefix + ".statistic") {
                let basis = Matrix<Float>(rows: values.count, columns: values.count, elements: elements)
                var gram = Matrix<Float>(rows: values.count, columns: values.count)
                BLAS.syrk(basis, transpose: true, into: &gram)
                gram.addToDiagonal(-1)
                orthogonality = String(format: "%.2e", gram.frobeniusNorm)
            }
            rows.append([prefix, "\(values.count)", String(format: "%.3e", smallest), String(format: "%.3e", largest),
                         String(format: "%.3e", largest / smallest), orthogonality])
        }
        return rows
    }

    /// The bytes of the curvature factors' learned matrices (every `.eigenvectors`, `.eigenvalues`
    /// and `.statistic` tensor), by element type: what `stateDType` halves.
    static func factorStateBytes(_ tensors: [StoredTensor]) -> String {
        var bytes: [TensorDType: Int] = [:]
        for tensor in tensors where [".eigenvectors", ".eigenvalues", ".statistic"].contains(where: tensor.name.hasSuffix) {
            bytes[tensor.dtype, default: 0] += tensor.bytes.count
        }
        let total = bytes.values.reduce(0, +)
        let parts = TensorDType.allCases.compactMap { dtype in bytes[dtype].map { "\(dtype.rawValue) \($0)" } }
        return "factor state: \(total) bytes (\(parts.joined(separator: ", ")))"
    }
}
