import Foundation
import NN
import Data

/// What kind of segmentation a table trains and scores: the runner and the figure code take one of these, so that
/// TMC's binary 2D slices and MOSMOS's multi-organ volumes go through the same training loop.
///
/// A task fixes what the papers fix per data set (the head's activation, the criterion, how whole cases are
/// predicted, how they are scored and which score selects the checkpoint); a `Recipe` holds what a table varies
/// (rates, epochs, batch size). The recipe's `loss` names the criterion and must be one the task accepts.
public struct SegmentationTask: Sendable {
    /// How the network's output is read.
    public enum Output: String, Sendable {
        /// One logit channel, sigmoid, threshold 0.5 (LViT and TMC).
        case binary
        /// One logit channel per class including the background, softmax, argmax (UNETR, MOSMOS).
        case multiClass
    }

    /// How a whole validation or test case is predicted.
    public enum Inference: Sendable {
        /// The network sees the whole image at once, in batches of the recipe's size.
        case whole
        /// MONAI's `sliding_window_inference` over each case (one case at a time).
        case slidingWindow(SlidingWindow)
        /// A 2D network on a 3D case: every axial slice (the first axis) through a 2D sliding window, the slices'
        /// predictions stacked back into the volume (MOSMOS's U-Net rows are scored on whole volumes this way).
        case slicewise(SlidingWindow)
    }

    /// How training batches are drawn from the training cases.
    public enum Sampling: Sendable {
        /// Whole images, shuffled each epoch (all cases share one size).
        case wholeImages
        /// Each batch takes `batchSize` cases and cuts `augmentation.samples` random patches from each (UNETR's
        /// RandCropByPosNegLabeld with its flips, rotations and intensity jitter), so a batch holds
        /// batchSize × samples patches.
        case patches(VolumeAugmentation)
        /// A 2D network on 3D cases: every axial slice of every training case is an item of the epoch, and each
        /// batch cuts one augmented 2D patch from each of its slices (the augmentation's patch has depth 1).
        case slices(VolumeAugmentation)
    }

    /// A structure that is scored: one class, or a named union of classes (BRATS's nested tumour regions).
    public struct Structure: Sendable, Equatable {
        public var name: String
        public var labels: [Int32]
        public init(name: String, labels: [Int32]) { self.name = name; self.labels = labels }
    }

    public var name: String
    /// Class names by label, background first.
    public var classes: [String]
    public var output: Output
    public var inference: Inference
    public var sampling: Sampling
    /// Whether test scoring adds HD95 per class (in mm, from each case's spacing). Validation never does: it only
    /// selects the checkpoint, by Dice.
    public var distances: Bool
    /// What is scored, when not each foreground class: BRATS is trained on its classes and scored on the regions
    /// TC, WT and ET that unite them.
    public var regions: [Structure]

    public init(name: String, classes: [String], output: Output, inference: Inference = .whole,
                sampling: Sampling = .wholeImages, distances: Bool = false, regions: [Structure] = []) {
        precondition(classes.count >= 2, "a task needs the background and at least one class")
        precondition(output == .multiClass || classes.count == 2, "a binary task has exactly two classes")
        precondition(regions.allSatisfy { $0.labels.allSatisfy { (1..<Int32(classes.count)).contains($0) } },
                     "a region unites foreground classes of the task")
        self.name = name; self.classes = classes; self.output = output; self.inference = inference
        self.sampling = sampling; self.distances = distances; self.regions = regions
    }

    /// The structures scored on a multi-class task, in column order: the regions, or every foreground class.
    public var structures: [Structure] {
        regions.isEmpty ? classes.indices.dropFirst().map { Structure(name: classes[$0], labels: [Int32($0)]) } : regions
    }

    /// LViT's binary 2D task, TMC's Tables 1 and 2: whole slices, per-image Dice and IoU at threshold 0.5, the
    /// checkpoint selected by mean validation Dice.
    public static let binaryLViT = SegmentationTask(name: "binary-2d", classes: ["background", "lesion"], output: .binary)

    /// Output channels the network must have.
    public var outputChannels: Int { output == .binary ? 1 : classes.count }

    /// The criteria this task accepts, by the name a recipe gives them.
    public var losses: [String] { output == .binary ? ["bce", "bce+dice"] : ["dice+ce"] }

    /// The summary metric that selects the checkpoint on validation and is reported as the cell's value:
    /// for a binary task the mean per-image Dice (LViT), for a multi-class one the mean over foreground classes of
    /// each class's mean Dice over the cases that contain it (MONAI `DiceMetric(include_background=False,
    /// ignore_empty=True)`, then the average of the per-organ columns as MOSMOS's tables print it).
    public var selectionMetric: String { "Dice" }
}
