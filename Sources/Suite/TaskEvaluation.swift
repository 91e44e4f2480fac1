import Foundation
import Engine
import NN
import Models
import Data
import Metrics

/// A model's prediction for one whole case.
public enum CasePrediction {
    /// Binary tasks: the sigmoid probability of each pixel.
    case probabilities([Float])
    /// Multi-class tasks: the argmax class of each voxel.
    case labels([Int32])
}

/// Whole-case prediction and per-case scoring, as the task prescribes.
public enum TaskEvaluation {
    /// Predictions of `model` for `cases`, in order. Whole-image inference batches `batchSize` cases (a binary
    /// model's text is padded per batch, so the batches are cut as in training's test pass); sliding windows run one
    /// case at a time.
    public static func predict(_ model: SegmentationModel, _ cases: [LabeledImage], task: SegmentationTask, batchSize: Int,
                               encodeText: (([String]) -> TextInput)?, texts: [String]? = nil) -> [CasePrediction] {
        model.eval()
        defer { model.train() }
        var out: [CasePrediction] = []
        withoutGrad {
            var i = 0
            let step: Int = { if case .whole = task.inference { return batchSize } else { return 1 } }()
            while i < cases.count {
                let j = min(i + step, cases.count)
                let b = Batching.make(cases[i..<j], output: task.output)
                let text = encodeText?(texts.map { Array($0[i..<j]) } ?? b.texts)
                let logits: Tensor
                switch task.inference {
                case .whole:
                    logits = model.forward(image: b.images, text: text).logits
                case .slidingWindow(let window):
                    logits = window(b.images) { model.forward(image: $0, text: text).logits }
                case .slicewise(let window):
                    logits = slicewise(b.images, window) { model.forward(image: $0, text: text).logits }
                }
                out.append(contentsOf: decode(logits, count: j - i, output: task.output))
                i = j
            }
        }
        return out
    }

    /// A 2D network's logits for a volume [1, C, D, H, W]: the slices as a batch the window walks one by one
    /// (each slice's windows in one forward), [1, K, D, H, W] back.
    static func slicewise(_ volume: Tensor, _ window: SlidingWindow, _ net: (Tensor) -> Tensor) -> Tensor {
        precondition(volume.rank == 5 && volume.shape[0] == 1, "slice-wise inference takes one volume, got \(volume.shape)")
        let (c, d, h, w) = (volume.shape[1], volume.shape[2], volume.shape[3], volume.shape[4])
        let slices = volume.reshaped([c, d, h, w]).permuted(1, 0, 2, 3)
        let logits = window(slices, net)   // [D, K, H, W]
        return logits.permuted(1, 0, 2, 3).reshaped([1, logits.shape[1], d, h, w])
    }

    static func decode(_ logits: Tensor, count: Int, output: SegmentationTask.Output) -> [CasePrediction] {
        switch output {
        case .binary:
            let p = logits.sigmoid()
            let n = p.count / count
            return (0..<count).map { .probabilities(Array(UnsafeBufferPointer(start: p.ptr + $0 * n, count: n))) }
        case .multiClass:
            let k = logits.shape[1], n = logits.count / (count * k)
            return (0..<count).map { b in
                let base = logits.ptr + b * k * n
                var labels = [Int32](repeating: 0, count: n)
                for v in 0..<n {
                    var best = base[v], arg: Int32 = 0
                    // torch.argmax keeps the first maximum, as this strict comparison does.
                    for c in 1..<k where base[c * n + v] > best { best = base[c * n + v]; arg = Int32(c) }
                    labels[v] = arg
                }
                return .labels(labels)
            }
        }
    }

    /// Per-case scores in percent (Dice, IoU) and mm (HD95).
    ///
    /// Binary: LViT's per-image Dice and IoU at threshold 0.5 ("Dice", "mIoU"). Multi-class: per foreground class c,
    /// "Dice:c" and, when `distances`, "HD95:c" as MONAI computes them (LabelMapMetrics); an undefined value (the
    /// class absent from the case's ground truth or not annotated in the case, or for HD95 absent from either map)
    /// is left out rather than stored as a number. "Dice" is then the case's mean over its defined classes.
    public static func score(_ predictions: [CasePrediction], _ cases: [LabeledImage], task: SegmentationTask,
                             distances: Bool) -> [CaseMetric] {
        var rows: [CaseMetric] = []
        for (p, s) in zip(predictions, cases) {
            switch p {
            case .probabilities(let probs):
                let m = SegmentationMetrics.lvit(probabilities: probs, mask: s.labels.map { $0 > 0 ? 1 : 0 })
                rows.append(CaseMetric(caseId: s.id, metric: "Dice", value: Double(m.dice) * 100))
                rows.append(CaseMetric(caseId: s.id, metric: "mIoU", value: Double(m.iou) * 100))
            case .labels(let labels):
                var dices: [Double] = []
                for structure in task.structures where !structure.labels.contains(where: s.unannotated.contains) {
                    let name = structure.name
                    // A region is scored as the class 1 of its indicator maps.
                    let (p, t, l): ([Int32], [Int32], Int32) = structure.labels.count == 1 ? (labels, s.labels, structure.labels[0])
                        : (labels.map { structure.labels.contains($0) ? 1 : 0 }, s.labels.map { structure.labels.contains($0) ? 1 : 0 }, 1)
                    guard let d = LabelMapMetrics.dice(prediction: p, truth: t, label: l) else { continue }
                    dices.append(d * 100)
                    rows.append(CaseMetric(caseId: s.id, metric: "Dice:" + name, value: d * 100))
                    if distances, let h = LabelMapMetrics.hd95(prediction: p, truth: t, shape: s.shape, spacing: s.spacing, label: l) {
                        rows.append(CaseMetric(caseId: s.id, metric: "HD95:" + name, value: h))
                    }
                }
                if !dices.isEmpty { rows.append(CaseMetric(caseId: s.id, metric: "Dice", value: dices.reduce(0, +) / Double(dices.count))) }
            }
        }
        return rows
    }

    /// The run's summary from its case rows. Binary: means over cases. Multi-class: each class's mean over the
    /// cases where it is defined ("Dice:c", "HD95:c"), and "Dice" / "HD95" as the mean of those class means (the
    /// Avg column of MOSMOS's tables), over the classes defined anywhere.
    public static func summarize(_ rows: [CaseMetric], task: SegmentationTask) -> [String: Double] {
        switch task.output {
        case .binary:
            return ["Dice": mean(rows, "Dice"), "mIoU": mean(rows, "mIoU")]
        case .multiClass:
            var out: [String: Double] = [:]
            for metric in ["Dice", "HD95"] {
                var classMeans: [Double] = []
                for name in task.structures.map(\.name) {
                    let m = mean(rows, metric + ":" + name)
                    guard !m.isNaN else { continue }
                    out[metric + ":" + name] = m
                    classMeans.append(m)
                }
                if !classMeans.isEmpty { out[metric] = classMeans.reduce(0, +) / Double(classMeans.count) }
            }
            return out
        }
    }

    /// Mean of one metric over the rows that have it; NaN when none does.
    static func mean(_ rows: [CaseMetric], _ metric: String) -> Double {
        let v = rows.filter { $0.metric == metric }.map(\.value)
        return v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count)
    }
}
