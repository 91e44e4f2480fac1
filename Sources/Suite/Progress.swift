import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line progress display on stderr: percent, rate and ETA. On a terminal the line is redrawn in place; in a
/// log file (CI, nohup) a fresh line is written at most every `interval` seconds, so logs stay short but alive.
/// A disabled bar prints nothing, so callers need no `if` around each update.
public final class ProgressBar {
    public let label: String
    public let total: Int
    private let output: FileHandle
    private let enabled: Bool
    private let redraw: Bool
    private let interval: TimeInterval
    private let clock: () -> Date
    /// Where rate measurement starts: the first update. A run resumed from a checkpoint first jumps to the
    /// restored position, and that jump is not speed.
    private var baseline: (count: Int, time: Date)? = nil
    private let lock = NSLock()
    private var completed = 0
    private var lastPrint: Date? = nil
    private var finished = false

    /// `isTerminal` defaults to whether stderr is a tty; `clock` is injectable for tests.
    public init(label: String, total: Int, enabled: Bool = true, output: FileHandle = .standardError,
                isTerminal: Bool? = nil, interval: TimeInterval = 5, clock: @escaping () -> Date = Date.init) {
        self.label = label
        self.enabled = enabled
        self.total = max(0, total)
        self.output = output
        self.redraw = isTerminal ?? (isatty(STDERR_FILENO) != 0)
        self.interval = interval
        self.clock = clock
    }

    public func advance(by count: Int = 1, detail: String = "") {
        lock.lock()
        defer { lock.unlock() }
        set(completed + count, detail: detail)
    }

    public func advance(to done: Int, detail: String = "") {
        lock.lock()
        defer { lock.unlock() }
        set(done, detail: detail)
    }

    /// Called with the lock held.
    private func set(_ done: Int, detail: String) {
        guard !finished else { return }
        completed = min(max(0, done), total)
        let now = clock()
        if baseline == nil { baseline = (completed, now) }
        if !redraw, let last = lastPrint, now.timeIntervalSince(last) < interval { return }
        lastPrint = now
        emit(Self.format(label: label, completed: completed, total: total, rate: rate(at: now), detail: detail))
    }

    /// Items per second since the baseline; nil until something has been measured.
    private func rate(at now: Date) -> Double? {
        guard let baseline else { return nil }
        let elapsed = now.timeIntervalSince(baseline.time)
        let done = completed - baseline.count
        return elapsed > 0 && done > 0 ? Double(done) / elapsed : nil
    }

    /// Prints the final state once, always on its own line.
    public func finish(detail: String = "") {
        lock.lock()
        defer { lock.unlock() }
        guard !finished else { return }
        finished = true
        let line = Self.format(label: label, completed: completed, total: total, rate: rate(at: clock()), detail: detail)
        emit(line)
        if redraw && enabled { output.write(Data("\n".utf8)) }
    }

    private func emit(_ line: String) {
        guard enabled else { return }
        let text = redraw ? "\r\u{1B}[K" + line : line + "\n"
        output.write(Data(text.utf8))
    }

    // MARK: Pure formatting

    /// "label  42/100  42.0%  1.50 it/s  ETA 38s  detail"; slow work shows seconds per item instead.
    public static func format(label: String, completed: Int, total: Int, rate: Double?, detail: String) -> String {
        let percent = total > 0 ? 100 * Double(completed) / Double(total) : 100
        var parts = [label, "\(completed)/\(total)", String(format: "%.1f%%", percent)]
        if let rate, rate > 0 {
            parts.append(rate >= 1 ? String(format: "%.2f it/s", rate) : String(format: "%.1f s/it", 1 / rate))
            parts.append("ETA " + duration(Double(total - completed) / rate))
        } else {
            parts.append("ETA –")
        }
        if !detail.isEmpty { parts.append(detail) }
        return parts.joined(separator: "  ")
    }

    /// 38s, 4m05s, 2h03m.
    public static func duration(_ seconds: TimeInterval) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "–" }
        let whole = Int(seconds.rounded())
        if whole < 60 { return "\(whole)s" }
        if whole < 3600 { return String(format: "%dm%02ds", whole / 60, whole % 60) }
        return String(format: "%dh%02dm", whole / 3600, (whole % 3600) / 60)
    }
}
