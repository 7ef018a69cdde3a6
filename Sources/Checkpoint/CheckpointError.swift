import Support

/// A checkpoint file that cannot be written or used, named with its problem (see `FileError`).
public typealias CheckpointError = FileError
