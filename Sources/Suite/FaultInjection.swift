import Foundation

/// A real kill at a chosen point, for the tests that prove a killed run resumes to the uninterrupted run's numbers.
/// With `REPRO_KILL_AFTER_EPOCH=N` in the environment, a training run sends itself SIGKILL right after epoch N's
/// checkpoint and progress are written: nothing runs after that point, as with `kill -9` or a pre-empted job.
enum FaultInjection {
    static let killAfterEpoch = ProcessInfo.processInfo.environment["REPRO_KILL_AFTER_EPOCH"].flatMap(Int.init)

    static func killIfRequested(afterEpoch epoch: Int) {
        guard let k = killAfterEpoch, k == epoch else { return }
        FileHandle.standardError.write("REPRO_KILL_AFTER_EPOCH=\(k): killing this process after epoch \(epoch)\n".data(using: .utf8)!)
        kill(getpid(), SIGKILL)
    }
}
