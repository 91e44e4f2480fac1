import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on one run, held by the process that trains it: an advisory `flock` on a file beside the run's
/// checkpoint. Several table processes can then share a store and a list of cells: a process that finds a cell
/// locked leaves it to its holder and goes on to the next, so two processes split a table between them without
/// a plan, and never train one run twice at once. The kernel releases the lock when its holder exits or is killed,
/// so a killed run is free to be resumed.
final class RunLock {
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }
    deinit { flock(fd, LOCK_UN); close(fd) }

    /// The lock for `checkpoint`, or nil when another process holds it and `wait` is false.
    static func acquire(checkpoint: URL, wait: Bool) throws -> RunLock? {
        let path = checkpoint.path + ".lock"
        try FileManager.default.createDirectory(at: checkpoint.deletingLastPathComponent(), withIntermediateDirectories: true)
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunError("cannot open the run lock \(path): \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
            if errno == EINTR { continue }
            let busy = errno == EWOULDBLOCK
            close(fd)
            if busy { return nil }
            throw RunError("cannot lock \(path): \(String(cString: strerror(errno)))")
        }
        return RunLock(fd: fd)
    }
}
