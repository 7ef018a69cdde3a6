import Foundation
import Glibc
import Support
import Train

/// Where `spectrain plot` writes its SVG, checked first so that a plot only ever replaces an
/// earlier plot: never one of the metrics files it reads, never a file of another kind.
package enum PlotOutput {
    /// Throws one line naming `output` unless it ends in `.svg`, is none of the files `inputs`
    /// (through any symbolic or hard link), and is new, empty, or an SVG that `plot` drew.
    package static func check(_ output: String, inputs: [String]) throws(TrainError) {
        guard output.lowercased().hasSuffix(".svg") else {
            throw TrainError("\(output): not an .svg path; the plot is an SVG file (give -o NAME.svg)")
        }
        var status = stat()
        guard stat(output, &status) == 0 else { return }
        for input in inputs {
            var inputStatus = stat()
            if stat(input, &inputStatus) == 0 && inputStatus.st_dev == status.st_dev && inputStatus.st_ino == status.st_ino {
                throw TrainError("\(output): is \(input), which the plot reads; choose another output path")
            }
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw TrainError("\(output): exists and is not a regular file; refusing to replace it")
        }
        guard status.st_size > 0 else { return }
        let opening: [UInt8]
        do {
            opening = try RegularFile.readOpening(output, count: 512)
        } catch {
            throw TrainError(error.description)
        }
        guard isPlot(prefix: Data(opening)) else {
            throw TrainError("\(output): exists and is not a plot spectrain drew; refusing to replace it (remove it or choose another path)")
        }
    }

    /// Writes `svg` to `output` atomically (a reader never sees half a plot), creating its folder.
    package static func write(_ svg: String, to output: String) throws(TrainError) {
        let url = URL(fileURLWithPath: output)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(svg.utf8).write(to: url, options: .atomic)
        } catch {
            let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
            throw TrainError("\(output): cannot write the plot (\((underlying ?? error as NSError).localizedDescription))")
        }
    }

    /// Whether `prefix`, the first bytes of a file, opens an SVG that `MetricsPlot.svg` drew.
    static func isPlot(prefix: Data) -> Bool {
        guard let end = prefix.firstIndex(of: UInt8(ascii: "\n")) else { return false }
        let firstLine = String(decoding: prefix[prefix.startIndex..<end], as: UTF8.self)
        return firstLine.hasPrefix(MetricsPlot.openingStart) && firstLine.hasSuffix(MetricsPlot.openingEnd)
    }
}
