/// The sizes a run's data files declare: samples in each split and the image size.
package struct DataShape: Sendable, Equatable {
    package var trainingCount: Int
    package var testCount: Int
    package var rows: Int
    package var columns: Int

    package init(trainingCount: Int, testCount: Int, rows: Int, columns: Int) {
        self.trainingCount = trainingCount
        self.testCount = testCount
        self.rows = rows
        self.columns = columns
    }

    /// The per-sample model input, one channel of `rows x columns`.
    package var sampleShape: [Int] { [1, rows, columns] }
}
