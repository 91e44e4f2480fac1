import Foundation
import XCTest
@testable import Suite

final class ProgressTests: XCTestCase {
    func testFormat() {
        XCTAssertEqual(ProgressBar.format(label: "train", completed: 25, total: 100, rate: 2.5, detail: ""),
                       "train  25/100  25.0%  2.50 it/s  ETA 30s")
        XCTAssertEqual(ProgressBar.format(label: "UNet", completed: 25, total: 100, rate: 0.1, detail: "epoch 3"),
                       "UNet  25/100  25.0%  10.0 s/it  ETA 12m30s  epoch 3")
        XCTAssertEqual(ProgressBar.format(label: "x", completed: 0, total: 8, rate: nil, detail: ""), "x  0/8  0.0%  ETA –")
        XCTAssertEqual(ProgressBar.duration(7384), "2h03m")
        XCTAssertEqual(ProgressBar.duration(.infinity), "–")
    }

    /// Writes through a temporary file and a hand-driven clock, then reads what a log would show.
    private final class Clock {
        var now: TimeInterval = 0
    }

    private func capture(isTerminal: Bool, enabled: Bool = true,
                         _ drive: (ProgressBar, Clock) -> Void) throws -> String {
        let url = try makeTemporaryDirectory(self).appendingPathComponent("log")
        XCTAssertTrue(FileManager.default.createFile(atPath: url.path, contents: nil))
        let handle = try FileHandle(forWritingTo: url)
        let clock = Clock()
        let bar = ProgressBar(label: "run", total: 100, enabled: enabled, output: handle, isTerminal: isTerminal, interval: 5,
                              clock: { Date(timeIntervalSince1970: clock.now) })
        drive(bar, clock)
        try handle.close()
        return try String(contentsOf: url, encoding: .utf8)
    }

    func testLogModeWritesALineAtMostEveryInterval() throws {
        let log = try capture(isTerminal: false) { bar, clock in
            for t in [0.0, 1, 2, 6, 7, 12] {
                clock.now = t
                bar.advance(to: Int(t) * 5)
            }
            clock.now = 13
            bar.finish()
            bar.finish()
        }
        let lines = log.split(separator: "\n")
        XCTAssertEqual(lines.count, 4, log)
        XCTAssertEqual(lines[0], "run  0/100  0.0%  ETA –")
        XCTAssertEqual(lines[1], "run  30/100  30.0%  5.00 it/s  ETA 14s")
        XCTAssertEqual(lines[3], "run  60/100  60.0%  4.62 it/s  ETA 9s")
    }

    func testTerminalModeRedrawsInPlace() throws {
        let out = try capture(isTerminal: true) { bar, clock in
            bar.advance(by: 10)
            clock.now = 1
            bar.advance(by: 10)
            bar.finish(detail: "done")
        }
        XCTAssertEqual(out.components(separatedBy: "\r\u{1B}[K").count - 1, 3)
        XCTAssertTrue(out.hasSuffix("run  20/100  20.0%  10.00 it/s  ETA 8s  done\n"))
    }

    func testResumedPositionIsNotCountedAsSpeed() throws {
        let log = try capture(isTerminal: true) { bar, clock in
            bar.advance(to: 50)
            clock.now = 10
            bar.advance(to: 60)
        }
        XCTAssertTrue(log.hasSuffix("run  60/100  60.0%  1.00 it/s  ETA 40s"), log)
    }

    func testDisabledBarIsSilent() throws {
        let out = try capture(isTerminal: false, enabled: false) { bar, _ in
            bar.advance(by: 50)
            bar.finish()
        }
        XCTAssertEqual(out, "")
    }
}
