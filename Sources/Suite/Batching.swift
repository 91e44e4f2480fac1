import Foundation
import Engine
import NN
import Models
import Data

/// A mini-batch as tensors: images [B, C, spatial...] and the target in the form the task's criterion reads.
struct Batch {
    let images: Tensor
    /// Binary tasks: 0/1 masks [B, 1, spatial...].
    let masks: Tensor?
    /// Multi-class tasks: class indices, B × spatial, row-major.
    let labels: [Int]
    let texts: [String]
    let ids: [String]
}

enum Batching {
    static func make(_ samples: ArraySlice<LabeledImage>, output: SegmentationTask.Output) -> Batch {
        let first = samples.first!
        let (c, shape) = (first.channels, first.shape)
        let n = first.voxels
        let images = Tensor.empty([samples.count, c] + shape)
        let masks = output == .binary ? Tensor.empty([samples.count, 1] + shape) : nil
        var labels: [Int] = []
        if output == .multiClass { labels.reserveCapacity(samples.count * n) }
        for (i, s) in samples.enumerated() {
            precondition(s.channels == c && s.shape == shape,
                         "sample \(s.id) is \(s.channels)×\(s.shape), batch expects \(c)×\(shape)")
            s.pixels.withUnsafeBufferPointer { (images.ptr + i * c * n).update(from: $0.baseAddress!, count: c * n) }
            if let m = masks {
                for j in 0..<n { m.ptr[i * n + j] = s.labels[j] > 0 ? 1 : 0 }
            } else {
                labels.append(contentsOf: s.labels.lazy.map { Int($0) })
            }
        }
        return Batch(images: images, masks: masks, labels: labels, texts: samples.map(\.text), ids: samples.map(\.id))
    }
}

/// The segmentation criterion a recipe names, for the task's output (the runner checks once, before training, that
/// the task accepts it). Binary criteria honour deep supervision.
func segmentationLoss(_ name: String, _ out: SegOutput, _ batch: Batch, task: SegmentationTask) throws -> Tensor {
    precondition(task.losses.contains(name), "loss \(name) was not checked against the \(task.name) task")
    switch task.output {
    case .binary:
        return out.segmentationLoss(target: batch.masks!) { logits, target in
            // LViT's WeightedDiceBCE with equal weights is "bce+dice", the loss of the code TMC builds on.
            name == "bce" ? Loss.bceWithLogits(logits, target) : Loss.diceBCE(logits, target, diceWeight: 0.5, bceWeight: 0.5)
        }
    case .multiClass:
        guard out.deepSupervision.isEmpty else {
            throw RunError("deep supervision is implemented for binary 2D tasks only; the \(task.name) task's model returned \(out.deepSupervision.count) terms")
        }
        return Loss.unetrDiceCE(out.logits, batch.labels)
    }
}

/// The training cases of one step, as the task's sampling draws them.
enum TrainingBatches {
    /// Whole images as they are; or `augmentation.samples` augmented patches of each case, drawn from a stream
    /// keyed by (seed, epoch, case index) so that a resumed run cuts the same patches.
    static func draw(_ indices: [Int], from cases: [LabeledImage], task: SegmentationTask, seed: UInt64, epoch: Int) -> [LabeledImage] {
        switch task.sampling {
        case .wholeImages:
            return indices.map { cases[$0] }
        case .slices(let augmentation):
            // One patch per slice: the slices are the epoch's items (`items`), each a depth-1 volume.
            return indices.map { i -> LabeledImage in
                var rng = RNG(seed, UInt64(epoch), UInt64(i), 0x736C_6963)   // "slic"
                let c = cases[i]
                let (image, label) = c.volumes
                var one = augmentation
                one.samples = 1
                let p = one.patches(image: image, label: label, rng: &rng)[0]
                let patch = c.replacing(image: p.image, label: p.label)
                var flat = LabeledImage(id: c.id, patient: c.patient, channels: patch.channels, shape: Array(patch.shape.dropFirst()),
                                        spacing: Array(patch.spacing.dropFirst()), pixels: patch.pixels, labels: patch.labels)
                flat.unannotated = c.unannotated
                return flat
            }
        case .patches(let augmentation):
            return indices.flatMap { i -> [LabeledImage] in
                var rng = RNG(seed, UInt64(epoch), UInt64(i), 0x7061_7463)   // "patc"
                let c = cases[i]
                let (image, label) = c.volumes
                return augmentation.patches(image: image, label: label, rng: &rng).enumerated().map { k, p in
                    var patch = c.replacing(image: p.image, label: p.label)
                    patch.id = "\(c.id)#\(k)"
                    return patch
                }
            }
        }
    }

    /// What an epoch iterates over: the cases, or for slice sampling every axial slice of every case as a
    /// depth-1 volume ("<case>@<z>").
    static func items(_ cases: [LabeledImage], task: SegmentationTask) -> [LabeledImage] {
        guard case .slices = task.sampling else { return cases }
        return cases.flatMap { c -> [LabeledImage] in
            let plane = c.shape[1] * c.shape[2], n = c.voxels
            return (0..<c.shape[0]).map { z in
                var pixels: [Float] = []
                pixels.reserveCapacity(c.channels * plane)
                for ch in 0..<c.channels { pixels += c.pixels[(ch * n + z * plane)..<(ch * n + (z + 1) * plane)] }
                var s = LabeledImage(id: "\(c.id)@\(z)", patient: c.patient, channels: c.channels, shape: [1, c.shape[1], c.shape[2]],
                                     spacing: c.spacing, pixels: pixels, labels: Array(c.labels[(z * plane)..<((z + 1) * plane)]))
                s.unannotated = c.unannotated
                return s
            }
        }
    }

    /// One error before training when the cases do not fit the sampling: patches need 3D cases at least as large
    /// as the patch, whole-image batches need one common size.
    static func check(_ cases: [LabeledImage], task: SegmentationTask, dataset: String) throws {
        switch task.sampling {
        case .wholeImages:
            guard let first = cases.first else { return }
            if let odd = cases.first(where: { $0.shape != first.shape || $0.channels != first.channels }) {
                throw RunError("\(dataset): case \(odd.id) is \(odd.channels)×\(odd.shape) but \(first.id) is \(first.channels)×\(first.shape); whole-image batches need one size. Resize the data set, or give the task patch sampling.")
            }
        case .slices(let augmentation):
            if augmentation.patch.count != 3 || augmentation.patch[2] != 1 {
                throw RunError("\(dataset): slice sampling takes a patch of depth 1 (x, y, 1), got \(augmentation.patch)")
            }
            let patch = Array(augmentation.patch.reversed())
            if let bad = cases.first(where: { $0.shape.count != 3 || $0.shape[1] < patch[1] || $0.shape[2] < patch[2] }) {
                throw RunError("\(dataset): training case \(bad.id) is \(bad.shape) (z, y, x); slice sampling needs 3D cases whose slices are at least \(patch.dropFirst()) (y, x). Pad the volumes or choose a smaller patch.")
            }
        case .patches(let augmentation):
            // VolumeAugmentation's patch is (x, y, z); the cases' shapes are row-major (z, y, x).
            let patch = Array(augmentation.patch.reversed())
            if let small = cases.first(where: { $0.shape.count != 3 || zip($0.shape, patch).contains { $0 < $1 } }) {
                throw RunError("\(dataset): training case \(small.id) is \(small.shape) (z, y, x), smaller than the \(patch) patch or not 3D. Pad the volumes to at least the patch (MONAI's SpatialPadd) or choose a smaller patch.")
            }
        }
    }
}
