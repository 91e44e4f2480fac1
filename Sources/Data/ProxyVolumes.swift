import Foundation

// Seeded 3D stand-ins for MOSMOS's four fine-tuning sets (Papers/MOSMOS/datasets.md): how many cases each split
// holds at each scale, and the deterministic preprocessing the real sets get (UNETR's CT window and foreground
// crop; the MRI z-score over the body or brain). The phantoms are drawn on the proxy grid directly, so the
// resampling step of the real pipeline has nothing to do.

public enum VolumeProxyKind: String, CaseIterable, Sendable {
    case btcv = "BTCV", mmwhs = "MMWHS", brats = "BRATS", amos = "AMOS"

    /// Bumped whenever a kind's generator changes, so that runs on the old images keep their own data name.
    /// BTCV and AMOS 2: unlabelled structures painted over an organ (duodenum, iliac arteries, AMOS's veins) had
    /// kept the organ's label (datasets.md §1).
    public var generatorVersion: Int {
        switch self {
        case .btcv, .amos: return 2
        case .mmwhs, .brats: return 1
        }
    }

    var streamCode: UInt64 {
        switch self {
        case .btcv: return 0x4254_4356
        case .mmwhs: return 0x4D4D_5748
        case .brats: return 0x4252_4154
        case .amos: return 0x414D_4F53
        }
    }

    public var classes: [String] {
        switch self {
        case .btcv: return AbdomenProxy.classes(.btcv)
        case .amos: return AbdomenProxy.classes(.amos)
        case .mmwhs: return HeartProxy.classes
        case .brats: return BrainProxy.classes
        }
    }

    /// Cases per split (train, val, test). Proxy: the real training and validation counts of MOSMOS's 70/10/20
    /// split, and a test split three times the real one (BTCV 6 → 18, MMWHS 4 → 12), because evaluation is
    /// forward-only and cheap and the real test sets are too small to rank methods; BRATS keeps 40/6/24 of its
    /// 484 cases, as many as the hour allows. Smoke: 4 / 1 / 2.
    public func counts(_ scale: Scale) -> [Int] {
        switch (self, scale) {
        case (_, .smoke): return [4, 1, 2]
        case (.btcv, _): return [21, 3, 18]
        case (.mmwhs, _): return [14, 2, 12]
        case (.brats, _): return [40, 6, 24]
        case (.amos, _): return [30, 5, 15]
        }
    }

    /// The preprocessing of the real set, minus resampling (the phantoms are drawn at the proxy's spacing).
    public var preprocessing: VolumePreprocessing {
        switch self {
        case .btcv, .amos: return VolumePreprocessing(spacing: nil, intensity: .window(lower: -175, upper: 250), cropForeground: true)
        case .mmwhs, .brats: return VolumePreprocessing(spacing: nil, intensity: .zScoreNonzero, cropForeground: false)
        }
    }
}

/// Builds a proxy; bit-identical for the same (kind, scale, seed) at any thread count.
public func makeVolumeProxy(_ kind: VolumeProxyKind, scale: Scale, seed: UInt64) -> LabeledSplits {
    let counts = kind.counts(scale)
    let total = counts.reduce(0, +)
    var cases = [LabeledImage?](repeating: nil, count: total)
    cases.withUnsafeMutableBufferPointer { out in
        let base = out.baseAddress!
        DispatchQueue.concurrentPerform(iterations: total) { i in
            base[i] = renderVolumeProxyCase(kind, index: i, total: total, seed: seed)
        }
    }
    let all = cases.map { $0! }
    let train = Array(all[0..<counts[0]]), val = Array(all[counts[0]..<(counts[0] + counts[1])])
    let test = Array(all[(counts[0] + counts[1])...])
    return LabeledSplits(name: kind.rawValue, classes: kind.classes, train: train, val: val, test: test,
                         source: "proxy:\(kind.rawValue)-v\(kind.generatorVersion)-\(scale.rawValue):seed=\(seed)")
}

/// One case, rendered and preprocessed. AMOS's cases are MRI for one in six, as in its release (40 of 240).
public func renderVolumeProxyCase(_ kind: VolumeProxyKind, index: Int, total: Int, seed: UInt64) -> LabeledImage {
    let rng = RNG(seed, kind.streamCode, UInt64(index))
    let id = String(format: "%@_%03d", kind.rawValue.lowercased(), index)
    let raw: LabeledImage
    switch kind {
    case .btcv: raw = AbdomenProxy.render(.btcv, id: id, modality: .ct, rng: rng)
    case .amos: raw = AbdomenProxy.render(.amos, id: id, modality: index % 6 == 5 ? .mri : .ct, rng: rng)
    case .mmwhs: raw = HeartProxy.render(id: id, rng: rng)
    case .brats: raw = BrainProxy.render(id: id, rng: rng)
    }
    var pre = kind.preprocessing
    // AMOS's MRI cases get the MRI normalisation; its CT cases the CT window.
    if kind == .amos, raw.unannotated.contains(14) { pre = VolumePreprocessing(spacing: nil, intensity: .zScoreNonzero, cropForeground: true) }
    let (image, label) = raw.volumes
    let (im, lb) = pre.apply(image: image, label: raw.labels.isEmpty ? nil : label.values.map { Int32($0) })
    var out = LabeledImage(id: id, image: im, labels: lb!)
    out.unannotated = raw.unannotated
    return out
}

/// One class of a volume data set, over the cases of a split: what Papers/MOSMOS/datasets.md checks the design by.
public struct VolumeClassStatistics: Equatable, Sendable {
    public var label: Int32
    public var name: String
    /// Cases whose label map holds the class.
    public var present: Int
    public var cases: Int
    /// Mean and standard deviation over the cases that hold it of its volume in mL.
    public var meanVolume: Double
    public var sdVolume: Double
    /// Mean of the first channel inside the class, after preprocessing.
    public var meanIntensity: Double
}

public func volumeClassStatistics(_ cases: [LabeledImage], classes: [String]) -> [VolumeClassStatistics] {
    (1..<classes.count).map { k in
        var volumes: [Double] = [], sum = 0.0, count = 0
        for c in cases {
            let voxel = c.spacing.reduce(1, *) / 1000
            var n = 0
            for (i, l) in c.labels.enumerated() where l == Int32(k) { n += 1; sum += Double(c.pixels[i]) }
            count += n
            if n > 0 { volumes.append(Double(n) * voxel) }
        }
        let m = volumes.isEmpty ? 0 : volumes.reduce(0, +) / Double(volumes.count)
        let sd = volumes.count < 2 ? 0 : (volumes.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(volumes.count - 1)).squareRoot()
        return VolumeClassStatistics(label: Int32(k), name: classes[k], present: volumes.count, cases: cases.count,
                                     meanVolume: m, sdVolume: sd, meanIntensity: count > 0 ? sum / Double(count) : .nan)
    }
}
