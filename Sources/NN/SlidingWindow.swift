import Foundation
import Engine

/// Whole-volume prediction from a network trained on patches, as MONAI's `sliding_window_inference` does it:
/// windows of `roi` every ⌊roi·(1 − overlap)⌋ voxels per axis (at least 1; the last window of an axis is moved back
/// to end at the border), the input zero-padded symmetrically where it is smaller than `roi`, each window's output
/// weighted by the importance map and the sum divided by the summed weights.
///
/// MONAI's default overlap is 0.25 with constant blending; UNETR's BTCV evaluation uses overlap 0.5 (its
/// `--infer_overlap`) with constant blending, as does MOSMOS. Gaussian blending weights a window by
/// Π exp(−x²/(2σ²)), x the offset from the window's centre, σ = `sigmaScale`·roi, floored at max(min, 10⁻³).
public struct SlidingWindow: Sendable {
    public enum Blending: String, Sendable { case constant, gaussian }

    public var roi: [Int]
    public var overlap: Double
    public var blending: Blending
    public var sigmaScale: Double
    /// Windows per call of the network (MONAI's sw_batch_size).
    public var batch: Int

    public init(roi: [Int], overlap: Double = 0.25, blending: Blending = .constant, sigmaScale: Double = 0.125, batch: Int = 1) {
        precondition(!roi.isEmpty && roi.allSatisfy { $0 > 0 }, "SlidingWindow: roi \(roi) needs positive sizes")
        precondition(overlap >= 0 && overlap < 1, "SlidingWindow: overlap \(overlap) must be in [0, 1)")
        precondition(batch > 0, "SlidingWindow: batch must be positive")
        self.roi = roi
        self.overlap = overlap
        self.blending = blending
        self.sigmaScale = sigmaScale
        self.batch = batch
    }

    /// Window start offsets per axis for an image of `size` (after padding to at least `roi`).
    public func starts(size: [Int]) -> [[Int]] {
        (0..<roi.count).map { d in
            let interval = roi[d] == size[d] ? roi[d] : Swift.max(1, Int(Double(roi[d]) * (1 - overlap)))
            let count = (0..<Int((Double(size[d]) / Double(interval)).rounded(.up))).first { $0 * interval + roi[d] >= size[d] }
                .map { $0 + 1 } ?? 1
            return (0..<count).map { i in Swift.max(0, Swift.min(i * interval, size[d] - roi[d])) }
        }
    }

    /// The importance map over one window, row-major.
    public var importance: [Float] {
        let total = roi.reduce(1, *)
        guard blending == .gaussian else { return [Float](repeating: 1, count: total) }
        var map = [Float](repeating: 1, count: total)
        var stride = total
        for d in 0..<roi.count {
            let n = roi[d], sigma = Float(Double(n) * sigmaScale)
            stride /= n
            let profile = (0..<n).map { i -> Float in
                let x = Float(i) - Float(n - 1) / 2
                return Foundation.exp(x * x / (-2 * sigma * sigma))
            }
            for i in 0..<total { map[i] *= profile[(i / stride) % n] }
        }
        let floor = Swift.max(map.min()!, 1e-3)
        return map.map { Swift.max($0, floor) }
    }

    /// `predict` maps windows [B, C, roi...] to [B, K, roi...]; the result is [N, K, spatial...] for `input`
    /// [N, C, spatial...]. Runs without recording gradients.
    public func callAsFunction(_ input: Tensor, _ predict: (Tensor) -> Tensor) -> Tensor {
        let rank = roi.count
        precondition(input.rank == rank + 2, "SlidingWindow: input \(input.shape) needs \(rank) spatial axes for roi \(roi)")
        return withoutGrad {
            let original = Array(input.shape[2...])
            let pads = (0..<rank).map { d -> (Int, Int) in
                let diff = Swift.max(roi[d] - original[d], 0)
                return (diff / 2, diff - diff / 2)
            }
            let x = pads.allSatisfy({ $0 == (0, 0) }) ? input : input.padded([(0, 0), (0, 0)] + pads)
            let size = Array(x.shape[2...])
            var windows: [[Int]] = [[]]
            for axis in starts(size: size) { windows = windows.flatMap { w in axis.map { w + [$0] } } }
            let weight = importance
            let n = x.shape[0]
            var out: Tensor? = nil
            var count = [Float](repeating: 0, count: size.reduce(1, *))
            for sample in 0..<n {
                let image = x.slice(axis: 0, sample, sample + 1)
                for first in stride(from: 0, to: windows.count, by: batch) {
                    let group = Array(windows[first..<Swift.min(windows.count, first + batch)])
                    let crops = group.map { w in
                        (0..<rank).reduce(image) { t, d in t.slice(axis: d + 2, w[d], w[d] + roi[d]) }
                    }
                    let y = predict(crops.count == 1 ? crops[0] : Tensor.concat(crops, axis: 0))
                    precondition(y.rank == rank + 2 && Array(y.shape[2...]) == roi && y.shape[0] == group.count,
                                 "SlidingWindow: the network gave \(y.shape) for \(group.count) windows of \(roi)")
                    let k = y.shape[1]
                    if out == nil { out = Tensor(zeros: [n, k] + size) }
                    accumulate(y, at: group, into: out!, sample: sample, weight: weight, count: &count, addCount: sample == 0)
                }
            }
            let result = out!
            let k = result.shape[1], voxels = count.count
            for plane in 0..<(n * k) {
                let p = result.ptr + plane * voxels
                for i in 0..<voxels { p[i] /= count[i] }
            }
            guard pads.contains(where: { $0 != (0, 0) }) else { return result }
            return (0..<rank).reduce(result) { t, d in t.slice(axis: d + 2, pads[d].0, pads[d].0 + original[d]) }
        }
    }

    /// Adds weight·y of each window at its place, and the weights to `count` (once: every sample has the same windows).
    private func accumulate(_ y: Tensor, at group: [[Int]], into out: Tensor, sample: Int, weight: [Float],
                            count: inout [Float], addCount: Bool) {
        let rank = roi.count, k = y.shape[1], size = Array(out.shape[2...])
        let window = roi.reduce(1, *), voxels = size.reduce(1, *)
        var index = [Int](repeating: 0, count: rank)
        for (b, w) in group.enumerated() {
            for i in 0..<window {
                var r = i
                for d in stride(from: rank - 1, through: 0, by: -1) { index[d] = r % roi[d]; r /= roi[d] }
                var flat = 0
                for d in 0..<rank { flat = flat * size[d] + w[d] + index[d] }
                for c in 0..<k {
                    out.ptr[(sample * k + c) * voxels + flat] += weight[i] * y.ptr[(b * k + c) * window + i]
                }
                if addCount { count[flat] += weight[i] }
            }
        }
    }
}
