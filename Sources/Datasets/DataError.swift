import Support

/// A data file that cannot be used, named with its problem (see `FileError`).
package typealias DataError = FileError
