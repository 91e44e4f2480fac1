import Foundation
import Data
import Metrics

/// Scores a folder of predicted NIfTI label volumes against a folder of ground-truth ones (`repro evaluate`), per
/// class with `LabelMapMetrics` (MONAI's DiceMetric and HD95, spacing from the ground truth's header).
public struct VolumeEvaluation {
    public struct CaseScores {
        public var name: String
        public var classes: [Int32: LabelMapMetrics.ClassScore]
    }

    public var cases: [CaseScores]
    public var classes: [Int32]

    /// Means over cases of each class's defined values (undefined ones left out, as MONAI's nan-mean does).
    public var mean: [Int32: LabelMapMetrics.ClassScore] {
        Dictionary(uniqueKeysWithValues: classes.map { c in
            (c, LabelMapMetrics.ClassScore(dice: LabelMapMetrics.mean(cases.map { $0.classes[c]?.dice }),
                                           hd95: LabelMapMetrics.mean(cases.map { $0.classes[c]?.hd95 })))
        })
    }

    /// Pairs files by stem (`case.nii.gz` with `case.nii.gz` or `case.nii`). `classes` defaults to every non-zero
    /// label found in the ground truth; when given, a ground-truth label outside it is an error.
    public static func run(predictions: URL, truths: URL, classes declared: [Int32]? = nil) throws -> VolumeEvaluation {
        let fm = FileManager.default
        func listing(_ dir: URL) throws -> [String] {
            guard let names = try? fm.contentsOfDirectory(atPath: dir.path) else {
                throw EvaluationError("folder \(dir.path) does not exist or cannot be listed; pass the folder that holds the .nii/.nii.gz volumes")
            }
            return names.filter(NIfTI.isNIfTI).sorted()
        }
        let truthNames = try listing(truths)
        guard !truthNames.isEmpty else { throw EvaluationError("\(truths.path) holds no .nii or .nii.gz volumes") }
        let predicted = Dictionary(try listing(predictions).map { (NIfTI.stem($0), $0) }, uniquingKeysWith: { a, _ in a })
        var pairs: [(String, Volume, [Int32], [Int32])] = []
        var found = Set<Int32>()
        for name in truthNames {
            let stem = NIfTI.stem(name)
            guard let p = predicted[stem] else {
                throw EvaluationError("no prediction for \(truths.path)/\(name) in \(predictions.path) (looked for \(stem).nii or \(stem).nii.gz)")
            }
            let tURL = truths.appendingPathComponent(name), pURL = predictions.appendingPathComponent(p)
            let truth = try NIfTI.read(tURL), guess = try NIfTI.read(pURL)
            guard truth.shape == guess.shape else {
                throw EvaluationError("\(pURL.path) has shape \(guess.shape) but \(tURL.path) has \(truth.shape); save predictions on the ground truth's grid (undo any resampling or cropping)")
            }
            if let worst = truth.affineMismatch(guess) {
                throw EvaluationError("\(pURL.path) and \(tURL.path) have different voxel-to-world affines (they differ by \(worst)); save predictions with the ground truth's header")
            }
            let t = try labels(truth, tURL), g = try labels(guess, pURL)
            let present = Set(t).subtracting([0])
            if let declared = declared, let stray = present.subtracting(declared).min() {
                throw EvaluationError("\(tURL.path) holds label \(stray), which is not among the declared classes \(declared.map(String.init).joined(separator: ",")); pass --classes with every label the data set uses")
            }
            found.formUnion(present)
            pairs.append((stem, truth, t, g))
        }
        let classes = declared ?? found.sorted()
        let scored = pairs.map { stem, truth, t, g in
            CaseScores(name: stem, classes: LabelMapMetrics.scores(prediction: g, truth: t, shape: truth.rowMajorShape,
                                                                   spacing: truth.rowMajorSpacing, classes: classes))
        }
        return VolumeEvaluation(cases: scored, classes: classes)
    }

    /// Integer labels, or an error naming the first voxel that is not one.
    static func labels(_ v: Volume, _ url: URL) throws -> [Int32] {
        guard v.shape.count == 3 || (v.shape.count == 4 && v.shape[3] == 1) else {
            throw EvaluationError("\(url.path) has shape \(v.shape); a label volume has three dimensions")
        }
        switch v.integerLabels() {
        case .success(let labels): return labels
        case .failure(let bad):
            throw EvaluationError("\(url.path) holds \(bad.value) at voxel \(bad.index), which is not a label; save label maps with integer values (argmax, not probabilities)")
        }
    }

    /// `{"cases": [{"case", "classes": {"1": {"Dice", "HD95"}}}], "mean": {...}}`, null for undefined values.
    public func json() -> String {
        func entry(_ s: [Int32: LabelMapMetrics.ClassScore]) -> [String: Any] {
            Dictionary(uniqueKeysWithValues: classes.map { c in
                (String(c), ["Dice": s[c]?.dice ?? NSNull(), "HD95": s[c]?.hd95 ?? NSNull()] as [String: Any])
            })
        }
        let doc: [String: Any] = ["cases": cases.map { ["case": $0.name, "classes": entry($0.classes)] as [String: Any] },
                                  "mean": entry(mean)]
        let data = try! JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// One line per case and class, then the means: `case,class,dice,hd95_mm`, empty where undefined.
    public func csv() -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "" }
        var lines = ["case,class,dice,hd95_mm"]
        for c in cases { for k in classes { lines.append("\(c.name),\(k),\(f(c.classes[k]?.dice)),\(f(c.classes[k]?.hd95))") } }
        let m = mean
        for k in classes { lines.append("mean,\(k),\(f(m[k]?.dice)),\(f(m[k]?.hd95))") }
        return lines.joined(separator: "\n")
    }
}

public struct EvaluationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
