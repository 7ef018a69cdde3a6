import Foundation

/// A numeric axis: the domain it shows, the ticks along it, and whether it is logarithmic.
struct AxisScale {
    var lower: Double
    var upper: Double
    var logarithmic: Bool
    var ticks: [(value: Double, label: String)]

    /// The position of `value` as a fraction of the axis, 0 at `lower`, or nil when it cannot be
    /// placed (non-finite, or not positive on a logarithmic axis).
    func fraction(_ value: Double) -> Double? {
        guard value.isFinite else { return nil }
        let position: Double
        if logarithmic {
            guard value > 0 else { return nil }
            position = (log10(value) - log10(lower)) / (log10(upper) - log10(lower))
        } else {
            position = (value - lower) / (upper - lower)
        }
        return position.isFinite ? position : nil
    }

    /// A scale for the finite values in `values`: logarithmic when allowed and they are all
    /// positive and span more than 1.5 decades, else linear.
    static func fitting(_ values: [Double], logAllowed: Bool) -> AxisScale {
        let finite = values.filter(\.isFinite)
        if logAllowed, let low = finite.min(), let high = finite.max(), low > 0, log10(high / low) > 1.5 {
            return logarithmic(low: low, high: high)
        }
        return linear(finite)
    }

    /// Round ticks in steps of 1, 2 or 5 times a power of ten, about five of them, with the
    /// domain widened to the ticks just outside the data.
    static func linear(_ values: [Double]) -> AxisScale {
        let finite = values.filter(\.isFinite)
        guard var low = finite.min(), var high = finite.max() else { return linear(low: 0, high: 1) }
        if high == low {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            low -= pad
            high += pad
        }
        return linear(low: low, high: high)
    }

    private static func linear(low: Double, high: Double) -> AxisScale {
        let span = high - low
        guard span.isFinite, span > 0 else { return linear(low: 0, high: 1) }
        let rough = span / 5
        var exponent = Int(floor(log10(rough)))
        let mantissa = rough / pow(10, Double(exponent))
        let multiple: Double
        switch mantissa {
        case ...1.5: multiple = 1
        case ...3.5: multiple = 2
        case ...7.5: multiple = 5
        default:
            multiple = 1
            exponent += 1
        }
        let step = multiple * pow(10, Double(exponent))
        let first = floor(low / step + 1e-9)
        let last = ceil(high / step - 1e-9)
        let decimals = max(0, -exponent)
        let ticks = stride(from: first, through: last, by: 1).map { index -> (Double, String) in
            let value = index == 0 ? 0 : index * step
            return (value, String(format: "%.\(decimals)f", value))
        }
        return AxisScale(lower: first * step, upper: last * step, logarithmic: false, ticks: ticks)
    }

    /// A domain from the largest 1, 2 or 5 times a power of ten at or below `low` to the smallest
    /// at or above `high`; ticks at those values when the span is short, else at powers of ten.
    private static func logarithmic(low: Double, high: Double) -> AxisScale {
        let multiples = [1.0, 2, 5]
        func candidates(_ exponent: Int) -> [Double] { multiples.map { $0 * pow(10, Double(exponent)) } }
        let lowExponent = Int(floor(log10(low)))
        let highExponent = Int(floor(log10(high)))
        let lower = candidates(lowExponent).last { $0 <= low * (1 + 1e-12) } ?? pow(10, Double(lowExponent))
        let upper = (candidates(highExponent) + [pow(10, Double(highExponent + 1))]).first { $0 >= high * (1 - 1e-12) }!
        let decades = highExponent - lowExponent + 1
        let every = max(1, Int((Double(decades) / 6).rounded(.up)))
        var ticks: [(Double, String)] = []
        for exponent in lowExponent...(highExponent + 1) {
            let shown = decades <= 3 ? multiples : (exponent % every == 0 ? [1.0] : [])
            for multiple in shown {
                let value = multiple * pow(10, Double(exponent))
                guard value >= lower * (1 - 1e-12), value <= upper * (1 + 1e-12) else { continue }
                ticks.append((value, logLabel(multiple: multiple, exponent: exponent)))
            }
        }
        return AxisScale(lower: lower, upper: upper, logarithmic: true, ticks: ticks)
    }

    /// `multiple` times ten to `exponent`, in plain decimals near 1 and as `2e-7` far from it.
    private static func logLabel(multiple: Double, exponent: Int) -> String {
        let digit = String(Int(multiple))
        guard (-4...5).contains(exponent) else { return "\(digit)e\(exponent)" }
        return String(format: "%.\(max(0, -exponent))f", multiple * pow(10, Double(exponent)))
    }
}
