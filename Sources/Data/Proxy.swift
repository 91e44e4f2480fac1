@_exported import Common
import Foundation

// Seeded stand-ins for TMC's three data sets. Papers/TMC/datasets.md gives the design and the real-data property
// behind each choice; change a generator only with a reason written there first, never to move a result.

/// Which data set a proxy imitates.
public enum ProxyKind: String, CaseIterable, Sendable {
    case qata, mosmed, duke

    /// The data set's name as the published tables spell it.
    public var datasetName: String {
        switch self {
        case .qata: return "QaTa-COV19"
        case .mosmed: return "MosMedData"
        case .duke: return "Duke-Breast"
        }
    }

    /// The generator's version, part of the data's name and so of every run's id: a run on an earlier version saw
    /// other images. 2 (2026-12-01, datasets.md §3): validation and test sets large enough to measure a 1-Dice
    /// difference (all three), and the MosMed-like lesions' ground-glass contrast and look-alikes.
    public var generatorVersion: Int { 2 }

    var streamCode: UInt64 {
        switch self {
        case .qata: return 0x5141_5441
        case .mosmed: return 0x4D4F_534D
        case .duke: return 0x4455_4B45
        }
    }
}

/// One patient of a proxy: the split it belongs to (0 train, 1 val, 2 test), its global index and slice count.
public struct ProxyPatient: Equatable, Sendable {
    public var split: Int
    public var index: Int
    public var slices: Int

    public init(split: Int, index: Int, slices: Int) {
        self.split = split
        self.index = index
        self.slices = slices
    }
}

/// Patients per split for (kind, scale). Training sets keep the real ratios' size at proxy scale; validation and
/// test sets are larger than those ratios give, so that a difference of about one Dice point is measurable
/// (datasets.md §3); smoke sizes are fixed by the CI budget.
public func proxyPlan(_ kind: ProxyKind, scale: Scale, seed: UInt64) -> [ProxyPatient] {
    func uniform(_ counts: [Int], slices: Int) -> [ProxyPatient] {
        var out: [ProxyPatient] = []
        for (split, n) in counts.enumerated() {
            for _ in 0..<n { out.append(ProxyPatient(split: split, index: out.count, slices: slices)) }
        }
        return out
    }
    switch (kind, scale) {
    case (.qata, .smoke): return uniform([16, 8, 8], slices: 1)
    case (.qata, .proxy): return uniform([222, 250, 1000], slices: 1)
    case (.qata, .paper): return uniform([5716, 1429, 2113], slices: 1)
    case (.mosmed, .smoke), (.duke, .smoke): return uniform([8, 4, 4], slices: 2)
    case (.mosmed, .proxy): return uniform([64, 20, 160], slices: 5)
    case (.duke, .proxy): return uniform([42, 20, 160], slices: 6)
    case (.duke, .paper): return uniform([645, 92, 185], slices: 4)
    case (.mosmed, .paper): return filledPlan(slicesPerSplit: [2183, 273, 273], perPatient: 20...34,
                                              rng: RNG(seed, kind.streamCode, 0x504C_414E))
    }
}

/// Patients with a random number of slices each, the last one of a split trimmed so the split's total is exact.
private func filledPlan(slicesPerSplit: [Int], perPatient: ClosedRange<Int>, rng: RNG) -> [ProxyPatient] {
    var rng = rng
    var out: [ProxyPatient] = []
    for (split, target) in slicesPerSplit.enumerated() {
        var total = 0
        while total < target {
            let n = min(rng.int(perPatient), target - total)
            out.append(ProxyPatient(split: split, index: out.count, slices: n))
            total += n
        }
    }
    return out
}

/// Builds a proxy data set; bit-identical for the same (kind, scale, seed) at any thread count.
public func makeProxy(_ kind: ProxyKind, scale: Scale, seed: UInt64) -> SegDataset {
    let plan = proxyPlan(kind, scale: scale, seed: seed)
    let size = scale.imageSize
    var rendered = [[SegSample]](repeating: [], count: plan.count)
    rendered.withUnsafeMutableBufferPointer { out in
        let base = out.baseAddress!
        DispatchQueue.concurrentPerform(iterations: plan.count) { i in
            base[i] = renderProxyPatient(kind, patient: plan[i], size: size, seed: seed)
        }
    }
    var splits: [[SegSample]] = [[], [], []]
    for (p, samples) in zip(plan, rendered) { splits[p.split] += samples }
    return SegDataset(name: kind.datasetName, train: splits[0], val: splits[1], test: splits[2],
                      source: "proxy:\(kind.rawValue)-\(scale.rawValue)-v\(kind.generatorVersion):seed=\(seed)")
}

/// Renders one patient's slices. Exposed so that a caller can generate a large proxy lazily, patient by patient.
public func renderProxyPatient(_ kind: ProxyKind, patient: ProxyPatient, size: Int, seed: UInt64) -> [SegSample] {
    let rng = RNG(seed, kind.streamCode, UInt64(patient.index))
    switch kind {
    case .qata: return [QaTaProxy.render(index: patient.index, size: size, rng: rng)]
    case .mosmed: return MosMedProxy.render(index: patient.index, slices: patient.slices, size: size, rng: rng)
    case .duke: return DukeProxy.render(index: patient.index, slices: patient.slices, size: size, rng: rng)
    }
}

// MARK: Statistics

/// Summary of one split, for the data sets page and for sanity checks.
public struct SplitStatistics: Equatable, Sendable {
    public var samples: Int
    public var patients: Int
    /// Mean over images of the share of foreground pixels.
    public var meanForeground: Double
    /// Share of images whose mask is empty.
    public var emptyShare: Double
    /// Mean number of 8-connected mask components per image.
    public var meanComponents: Double
    /// Mean and standard deviation of all pixel values.
    public var pixelMean: Double
    public var pixelSD: Double
}

public func splitStatistics(_ samples: [SegSample]) -> SplitStatistics {
    guard !samples.isEmpty else {
        return SplitStatistics(samples: 0, patients: 0, meanForeground: 0, emptyShare: 0, meanComponents: 0, pixelMean: 0, pixelSD: 0)
    }
    var fg = 0.0, empty = 0, components = 0, sum = 0.0, sumSq = 0.0, pixels = 0
    for s in samples {
        let ones = s.mask.reduce(0) { $0 + Int($1) }
        fg += Double(ones) / Double(s.mask.count)
        if ones == 0 { empty += 1 }
        components += connectedComponents(s.mask, width: s.image.width, height: s.image.height).sizes.count
        for p in s.image.pixels { sum += Double(p); sumSq += Double(p) * Double(p) }
        pixels += s.image.pixels.count
    }
    let n = Double(samples.count)
    let mean = sum / Double(pixels)
    return SplitStatistics(samples: samples.count, patients: Set(samples.map(\.patient)).count, meanForeground: fg / n,
                           emptyShare: Double(empty) / n, meanComponents: Double(components) / n, pixelMean: mean,
                           pixelSD: max(0, sumSq / Double(pixels) - mean * mean).squareRoot())
}

/// Statistics of train, validation and test, in that order.
public func datasetStatistics(_ dataset: SegDataset) -> [SplitStatistics] {
    [dataset.train, dataset.val, dataset.test].map(splitStatistics)
}

