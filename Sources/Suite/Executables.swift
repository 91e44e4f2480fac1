import Foundation

/// The suite's executables, built side by side: `repro` starts the table and figure targets, and a figure starts
/// its table target to retrain weights a clone lacks.
public enum Executables {
    /// The running executable, symbolic links resolved.
    public static var current: URL { URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath() }
    /// Its folder, where the others are.
    public static var directory: URL { current.deletingLastPathComponent() }

    /// Runs `url` with `arguments`, its output passed through; returns its exit status.
    public static func run(_ url: URL, _ arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = url
        p.arguments = arguments
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}
