import Foundation

/// The epoch budget an epoch-budget pilot supports (`--epoch-pilot`): the first epoch by which every method's
/// validation curve has come within `tolerance` of the best it reached in the whole pilot. The rule is fixed before
/// the pilot runs (Papers/TMC/Table1.md, "Epoch budget") so that the budget cannot be picked to favour a method.
public struct EpochBudget: Sendable {
    /// One pilot run's reading.
    public struct Reading: Sendable {
        public var label: String
        public var epochs: Int
        public var best: Double
        /// The first epoch whose best-so-far validation score is within the tolerance of `best`.
        public var flattenedAt: Int
        /// Whether the curve gained more than the tolerance in its last fifth: the pilot was too short for it.
        public var stillRising: Bool
    }

    public var tolerance: Double
    public var readings: [Reading]

    /// - Parameter curves: per run, its validation scores by epoch (the selection metric, in report units).
    public init(curves: [(label: String, values: [(epoch: Int, value: Double)])], tolerance: Double = 1) {
        self.tolerance = tolerance
        readings = curves.compactMap { c in
            let points = c.values.filter { $0.value.isFinite }.sorted { $0.epoch < $1.epoch }
            guard let last = points.last else { return nil }
            let best = points.map(\.value).max()!
            var runningMax = -Double.infinity
            var flattened = last.epoch
            for p in points {
                runningMax = max(runningMax, p.value)
                if runningMax >= best - tolerance { flattened = p.epoch; break }
            }
            let tailStart = last.epoch - max(1, last.epoch / 5)
            let before = points.filter { $0.epoch <= tailStart }.map(\.value).max() ?? -Double.infinity
            return Reading(label: c.label, epochs: last.epoch, best: best, flattenedAt: flattened,
                           stillRising: best - before > tolerance)
        }
    }

    /// The budget: the latest flattening epoch over all runs, rounded up to a multiple of `step`.
    public func budget(step: Int = 5) -> Int? {
        guard let latest = readings.map(\.flattenedAt).max() else { return nil }
        return (latest + step - 1) / step * step
    }
}
