/// How a JSON number that an integer field cannot hold is reported: the decoder throws its
/// internal number error for 1e30, 99999999999999999999, 2.5 or -1 (unsigned), which reaches the
/// user as "The given data was not valid JSON", so the field's decoding restates it as the
/// field's range, "must be an integer in 1...1000000, got 1e+30".
enum IntegerRange {
    /// `error` from decoding a `Value` at `key`, reworded when `Value` is an integer type and the
    /// JSON holds a number it cannot represent; otherwise `error` itself.
    static func rephrase<Value>(
        _ error: any Error, decoding _: Value.Type, at key: AnyCodingKey,
        in container: KeyedDecodingContainer<AnyCodingKey>, rules: [FieldRule<Value>]
    ) -> any Error {
        if let decodingError = error as? DecodingError, case .dataCorrupted = decodingError {} else if error is DecodingError { return error }
        guard let integerType = Value.self as? any FixedWidthInteger.Type else { return error }
        let stated = rules.compactMap(\.requirement)
        let typeRange = "in \(bounds(integerType))"
        let requirement = stated.isEmpty ? typeRange
            : stated.joined(separator: " and ") + (stated.contains { $0.contains("...") } ? "" : " and \(typeRange)")
        let got = (try? container.decode(Double.self, forKey: key)).map(numberText) ?? "a number outside that range"
        return DecodingError.dataCorrupted(.init(
            codingPath: container.codingPath + [key], debugDescription: "must be an integer \(requirement), got \(got)"))
    }

    private static func bounds<Integer: FixedWidthInteger>(_: Integer.Type) -> String {
        "\(Integer.min)...\(Integer.max)"
    }

    /// `number` as the user wrote it, near enough: integers without ".0".
    private static func numberText(_ number: Double) -> String {
        if number.rounded() == number, abs(number) < 1e15 { return String(Int64(number)) }
        return "\(number)"
    }
}
