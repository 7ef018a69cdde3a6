import Foundation
import Support
#if canImport(Glibc)
import Glibc
#endif

/// A command running as a child of this process and talking through pipes on its standard input
/// and output, built so that it can neither hang this process nor outlive it: every write and
/// read has a deadline, a line has a size limit, and the command runs in a process group of its
/// own with a parent-death signal.
///
/// Stopping it kills its whole group (the command and whatever it started that stayed in the
/// group). The parent-death signal (SIGKILL) comes from util-linux's `setpriv --pdeathsig KILL`
/// when the installed one supports it: however this process ends, even by SIGKILL, the kernel
/// then kills the command. The kernel sends it when the *thread* that started the command ends,
/// so start it from a thread that lives as long as the command is needed (the main thread of
/// `spectrain`). Without a suitable `setpriv` the command starts through `/usr/bin/env`, and
/// only an orderly stop (or its input closing) ends it.
///
/// Nothing here changes how this process handles signals: SIGPIPE is blocked on the writing
/// thread alone while it writes, and a SIGPIPE the write raised is consumed there.
final class CommandProcess {
    /// Why talking to the command failed.
    enum Failure: Error, Equatable {
        /// The deadline passed.
        case timedOut
        /// It closed its standard input (or exited) before taking all of a write.
        case inputClosed
        /// More bytes than the limit without a newline.
        case lineTooLong
        /// A system call failed, worded for a message.
        case system(String)
    }

    /// What a read returns.
    enum Line: Equatable {
        /// A line, without its newline.
        case line(String)
        /// The command closed its output; what it wrote after its last newline, if anything.
        case end(unterminated: String?)
    }

    /// The process id of the command, which is also the id of its process group.
    let pid: pid_t
    private var input: Int32
    private var output: Int32
    private var buffer: [UInt8] = []
    /// Where the unread part of `buffer` begins: the bytes before it were returned as lines
    /// (dropped before the next read, so that reading many lines at once stays linear).
    private var consumed = 0
    /// Where the unread part of `buffer` may hold a newline: none before this index.
    private var scanned = 0
    private var outputEnded = false
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)
    /// The wait status once the command has been reaped.
    private var waitStatus: Int32?

    /// What the command runs behind: `setpriv` setting the parent-death signal, or `env` when
    /// this system's `setpriv` cannot (util-linux before 2.33). Both look the program up in
    /// `PATH` and exit 127 when it is missing.
    static let launcher: [String] = {
        for path in ["/usr/bin/setpriv", "/bin/setpriv"] where FileManager.default.isExecutableFile(atPath: path) {
            let candidate = [path, "--pdeathsig", "KILL", "--"]
            guard let probe = try? CommandProcess(launcher: candidate, command: ["true"]) else { continue }
            probe.closeInput()
            if probe.waitForExit(upTo: .seconds(5)), let status = probe.reap(upTo: .seconds(1)), status == 0 {
                return candidate
            }
            probe.stop(grace: .zero)
        }
        return ["/usr/bin/env", "--"]
    }()

    /// Whether commands get the parent-death signal on this system.
    static var diesWithParent: Bool { launcher.first?.hasSuffix("setpriv") == true }

    /// Starts `command` (program and arguments, the program looked up in `PATH`); its standard
    /// error is this process's.
    convenience init(command: [String]) throws(Failure) {
        try self.init(launcher: Self.launcher, command: command)
    }

    private init(launcher: [String], command: [String]) throws(Failure) {
        let toCommand = try Self.pipeClosedOnExec()
        let fromCommand: [Int32]
        do {
            fromCommand = try Self.pipeClosedOnExec()
        } catch {
            close(toCommand[0])
            close(toCommand[1])
            throw error
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toCommand[0], STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, fromCommand[1], STDOUT_FILENO)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group (to stop it with its children), no signal blocked (whatever this
        // thread blocks), and SIGPIPE at its default even where this process ignores it.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        sigaddset(&defaultSignals, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)

        let arguments = (launcher + command).map { strdup($0) } + [nil]
        defer { for argument in arguments { free(argument) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, launcher[0], &actions, &attributes, arguments, environ)
        close(toCommand[0])
        close(fromCommand[1])
        guard result == 0 else {
            close(toCommand[1])
            close(fromCommand[0])
            throw .system("cannot start: \(String(cString: strerror(result)))")
        }
        self.pid = pid
        input = toCommand[1]
        output = fromCommand[0]
        _ = fcntl(input, F_SETFL, fcntl(input, F_GETFL) | O_NONBLOCK)
        _ = fcntl(output, F_SETFL, fcntl(output, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        stop(grace: .zero)
        if output >= 0 { close(output) }
    }

    /// A pipe (read end, write end) whose ends a spawned command does not inherit (Glibc's
    /// `pipe2` is not visible to Swift; only this process's own spawns run between the calls).
    private static func pipeClosedOnExec() throws(Failure) -> [Int32] {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw .system("cannot make a pipe: \(errorText())") }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return ends
    }

    /// Bytes read after the last line returned, not yet returned.
    var pendingBytes: Int { buffer.count - consumed }

    /// Writes all of `bytes` to the command's standard input by `deadline`. With
    /// `collectingOutputUpTo` above 0, output the command writes meanwhile is read and kept
    /// for `readLine` (while fewer than that many unread bytes are held), so that a command
    /// answering as it reads a long message cannot block on a full output pipe while this
    /// process blocks on a full input pipe.
    func write(_ bytes: [UInt8], by deadline: ContinuousClock.Instant, collectingOutputUpTo collectLimit: Int = 0) throws(Failure) {
        guard input >= 0 else { throw .inputClosed }
        var blockPipe = sigset_t()
        sigemptyset(&blockPipe)
        sigaddset(&blockPipe, SIGPIPE)
        var previousMask = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blockPipe, &previousMask)
        var pendingBefore = sigset_t()
        sigpending(&pendingBefore)
        defer {
            var pendingNow = sigset_t()
            sigpending(&pendingNow)
            if sigismember(&pendingNow, SIGPIPE) == 1 && sigismember(&pendingBefore, SIGPIPE) != 1 {
                var noWait = timespec(tv_sec: 0, tv_nsec: 0)
                _ = sigtimedwait(&blockPipe, nil, &noWait)
            }
            pthread_sigmask(SIG_SETMASK, &previousMask, nil)
        }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.write(input, base + offset, raw.count - offset)
            }
            if written > 0 {
                offset += written
                continue
            }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK:
                if collectLimit > 0 {
                    try waitUntilWritable(by: deadline, collectingOutputUpTo: collectLimit)
                } else {
                    try waitUntilReady(input, for: Int16(POLLOUT), by: deadline)
                }
            case EPIPE: throw .inputClosed
            default: throw .system("writing to its input failed: \(Self.errorText(code))")
            }
        }
    }

    /// The next line of the command's output, read by `deadline`; a line longer than
    /// `maximumBytes` (without its newline) is an error once that many bytes are in, so at most
    /// `maximumBytes + 1` bytes are ever held.
    func readLine(by deadline: ContinuousClock.Instant, maximumBytes: Int) throws(Failure) -> Line {
        while true {
            if let newline = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[consumed..<newline], as: UTF8.self)
                consumed = newline + 1
                scanned = consumed
                return .line(line)
            }
            scanned = buffer.count
            if pendingBytes > maximumBytes { throw .lineTooLong }
            if outputEnded {
                let rest = pendingBytes == 0 ? nil : String(decoding: buffer[consumed...], as: UTF8.self)
                buffer.removeAll()
                consumed = 0
                scanned = 0
                return .end(unterminated: rest)
            }
            try waitUntilReady(output, for: Int16(POLLIN), by: deadline)
            try readAvailable(upTo: maximumBytes + 1)
        }
    }

    /// Forgets the bytes already returned as lines.
    private func dropConsumed() {
        guard consumed > 0 else { return }
        buffer.removeSubrange(..<consumed)
        scanned -= consumed
        consumed = 0
    }

    /// One read of whatever output is there, appended to `buffer` while it holds fewer than
    /// `limit` unread bytes; the end of the output sets `outputEnded`.
    private func readAvailable(upTo limit: Int) throws(Failure) {
        dropConsumed()
        let room = Swift.min(chunk.count, limit - buffer.count)
        guard room > 0 else { return }
        let count = chunk.withUnsafeMutableBytes { Glibc.read(output, $0.baseAddress, room) }
        if count > 0 {
            buffer.append(contentsOf: chunk[..<count])
        } else if count == 0 {
            outputEnded = true
        } else {
            let code = errno
            if code == EINTR || code == EAGAIN || code == EWOULDBLOCK { return }
            throw .system("reading its output failed: \(Self.errorText(code))")
        }
    }

    /// Waits until the command's input takes more bytes (or is hung up), reading its output
    /// meanwhile while fewer than `limit` unread bytes are held; throws `timedOut`.
    private func waitUntilWritable(by deadline: ContinuousClock.Instant, collectingOutputUpTo limit: Int) throws(Failure) {
        while true {
            let collecting = !outputEnded && pendingBytes < limit
            guard collecting else { return try waitUntilReady(input, for: Int16(POLLOUT), by: deadline) }
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero { throw .timedOut }
            let milliseconds = Int32(clamping: Int64((remaining.inSeconds * 1000).rounded(.up)))
            var entries = [pollfd(fd: input, events: Int16(POLLOUT), revents: 0), pollfd(fd: output, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&entries, 2, milliseconds)
            if ready < 0 {
                let code = errno
                if code != EINTR { throw .system("waiting for it failed: \(Self.errorText(code))") }
                continue
            }
            if entries[1].revents != 0 { try readAvailable(upTo: limit) }
            if entries[0].revents != 0 { return }
        }
    }

    /// Waits until `descriptor` is ready for `events` (or hung up), or throws `timedOut`.
    private func waitUntilReady(_ descriptor: Int32, for events: Int16, by deadline: ContinuousClock.Instant) throws(Failure) {
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero { throw .timedOut }
            let milliseconds = Int32(clamping: Int64((remaining.inSeconds * 1000).rounded(.up)))
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&entry, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0 {
                let code = errno
                if code != EINTR { throw .system("waiting for it failed: \(Self.errorText(code))") }
            }
        }
    }

    /// Closes the command's standard input: a command reading it sees the end.
    func closeInput() {
        if input >= 0 { close(input) }
        input = -1
    }

    /// Whether the command has exited, waiting up to `limit` (checked after 1 ms, then ever
    /// less often, at most every 10 ms); it stays
    /// a zombie (not reaped) so that its process group id cannot be reused before `stop`.
    func waitForExit(upTo limit: Duration) -> Bool {
        let deadline = ContinuousClock.now + limit
        var pause: UInt32 = 1000
        while true {
            if hasExited() { return true }
            if ContinuousClock.now >= deadline { return false }
            usleep(pause)
            pause = Swift.min(2 * pause, 10_000)
        }
    }

    private func hasExited() -> Bool {
        if waitStatus != nil { return true }
        var info = siginfo_t()
        while true {
            if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 {
                return info._sifields._sigchld.si_pid != 0
            }
            if errno != EINTR { return true }
        }
    }

    /// Reaps the command once it has exited (waiting up to `limit`): its wait status, or nil if
    /// it is still running.
    @discardableResult
    private func reap(upTo limit: Duration) -> Int32? {
        if let waitStatus { return waitStatus }
        let deadline = ContinuousClock.now + limit
        var pause: UInt32 = 1000
        while true {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                waitStatus = status
                return status
            }
            if result < 0 && errno == ECHILD {
                waitStatus = -1
                return waitStatus
            }
            if result < 0 && errno == EINTR { continue }
            if ContinuousClock.now >= deadline { return nil }
            usleep(pause)
            pause = Swift.min(2 * pause, 10_000)
        }
    }

    /// "exited with status N" or "was killed by signal N" once the command has exited (waiting
    /// up to `limit`), else nil. Kills what is left of its process group and reaps it.
    func exitDescription(waitingUpTo limit: Duration) -> String? {
        guard waitForExit(upTo: limit) else { return nil }
        killGroup()
        guard let status = reap(upTo: .seconds(1)), status >= 0 else { return nil }
        let signal = status & 0x7f
        if signal == 0 {
            let code = (status >> 8) & 0xff
            return "exited with status \(code)" + (code == 127 ? " (program not found?)" : "")
        }
        return "was killed by signal \(signal)"
    }

    /// Closes the command's input, gives it `grace` to exit, then kills its process group and
    /// reaps it. Never blocks for long: a command that will not die (stuck in the kernel) is
    /// left after 5 seconds.
    func stop(grace: Duration) {
        closeInput()
        if waitStatus != nil { return }
        if grace > .zero { _ = waitForExit(upTo: grace) }
        killGroup()
        reap(upTo: .seconds(5))
    }

    private func killGroup() {
        guard waitStatus == nil else { return }
        kill(-pid, SIGKILL)
        // In case it left its group (setsid, setpgid).
        kill(pid, SIGKILL)
    }

    private static func errorText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }
}
