/// The sizes a run's data files declare: samples in each split and the image size.
public struct DataShape: Sendable, Equatable {
    public var trainingCount: Int
    public var testCount: Int
    public var rows: Int
    public var columns: Int

    public init(trainingCount: Int, testCount: Int, rows: Int, columns: Int) {
        self.trainingCount = trainingCount
        self.testCount = testCount
        self.rows = rows
        self.columns = columns
    }

    /// The per-sample model input, one channel of `rows x columns`.
    public var sampleShape: [Int] { [1, rows, columns] }
}
