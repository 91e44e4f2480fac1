import XCTest
@testable import Suite

/// Table processes that share a store split its cells through run locks: a locked run is left to its holder, and
/// the lock goes with the holder.
final class RunLockTests: XCTestCase {
    func testALockedRunIsLeftToItsHolderAndFreedWithIt() throws {
        let dir = try makeTemporaryDirectory(self)
        let checkpoint = dir.appendingPathComponent("checkpoints/run.safetensors")
        var first = try RunLock.acquire(checkpoint: checkpoint, wait: false)
        XCTAssertNotNil(first)
        XCTAssertNil(try RunLock.acquire(checkpoint: checkpoint, wait: false), "a second holder is refused")
        XCTAssertNotNil(try RunLock.acquire(checkpoint: dir.appendingPathComponent("checkpoints/other.safetensors"), wait: false))
        first = nil
        XCTAssertNotNil(try RunLock.acquire(checkpoint: checkpoint, wait: false), "released with its holder")
    }

    /// A waiting caller (the λ selection, a pre-training) gets the lock once the holder lets go.
    func testAWaitingCallerGetsTheLockWhenItIsReleased() throws {
        let dir = try makeTemporaryDirectory(self)
        let checkpoint = dir.appendingPathComponent("checkpoints/run.safetensors")
        var holder = try RunLock.acquire(checkpoint: checkpoint, wait: false)
        let released = expectation(description: "acquired after release")
        DispatchQueue.global().async {
            let lock = try? RunLock.acquire(checkpoint: checkpoint, wait: true)
            XCTAssertNotNil(lock)
            released.fulfill()
        }
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertNotNil(holder)
        holder = nil
        wait(for: [released], timeout: 5)
    }
}
