import Foundation

/// Dice and IoU of one image.
public struct OverlapScores: Equatable, Sendable {
    public var dice: Double
    public var iou: Double

    public init(dice: Double, iou: Double) {
        self.dice = dice
        self.iou = iou
    }
}

/// Overlap metrics as LViT's evaluation computes them (`test_model.py`), which TMC's numbers follow: per image at
/// the training size, prediction = probability > 0.5, ground truth = mask > 0, then the mean over test images.
///
/// Conventions that matter for empty masks:
/// - Dice = 2·|P∩G| / (|P| + |G| + 1e-5). An image whose mask and prediction are both empty scores **0**, not 1
///   (the 1e-5 is in the denominator only); a correct prediction of nothing is counted as a miss.
/// - IoU = |P∩G| / |P∪G| (scikit-learn's `jaccard_score`, binary). An empty union gives **0** (scikit-learn's
///   `zero_division="warn"` default, which returns 0).
public enum SegmentationMetrics {
    /// LViT's `test_model.py` keeps pixels with `output > 0.5` (strictly greater).
    public static let threshold: Float = 0.5

    /// Binary prediction: 1 where the probability is above the threshold.
    public static func binarize(_ probabilities: [Float], threshold: Float = SegmentationMetrics.threshold) -> [UInt8] {
        probabilities.map { $0 > threshold ? 1 : 0 }
    }

    /// Dice and IoU of one image from predicted probabilities and a 0/1 (or 0/k) mask.
    public static func lvit(probabilities: [Float], mask: [UInt8]) -> OverlapScores {
        scores(prediction: binarize(probabilities), mask: mask)
    }

    /// Dice and IoU of one image from a binary prediction.
    public static func scores(prediction: [UInt8], mask: [UInt8]) -> OverlapScores {
        precondition(prediction.count == mask.count, "SegmentationMetrics: \(prediction.count) predictions for \(mask.count) mask pixels")
        var inter = 0, predicted = 0, truth = 0
        for i in 0..<mask.count {
            let p = prediction[i] > 0, g = mask[i] > 0
            if p { predicted += 1 }
            if g { truth += 1 }
            if p && g { inter += 1 }
        }
        let union = predicted + truth - inter
        let dice = 2 * Double(inter) / (Double(predicted + truth) + 1e-5)
        let iou = union > 0 ? Double(inter) / Double(union) : 0
        return OverlapScores(dice: dice, iou: iou)
    }

    /// Mean Dice and mean IoU over images, the number the tables report (times 100).
    public static func mean(_ perImage: [OverlapScores]) -> OverlapScores {
        guard !perImage.isEmpty else { return OverlapScores(dice: .nan, iou: .nan) }
        let n = Double(perImage.count)
        return OverlapScores(dice: perImage.map(\.dice).reduce(0, +) / n, iou: perImage.map(\.iou).reduce(0, +) / n)
    }
}
