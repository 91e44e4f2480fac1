import XCTest
import Foundation
import Engine
import NN

/// Finite-difference checks of the composite layers and losses (and of the fused normalisation kernels), with
/// `checkGradients` from GradCheck.swift. Smooth functions take a smaller step than the default, since their
/// curvature, not Float32 rounding, dominates the error at eps = 1e-2.
final class NNGradCheckTests: XCTestCase {
    func testLayerNorm() {
        checkGradients([randomTensor([3, 6], seed: 1, std: 2), randomTensor([6], seed: 2), randomTensor([6], seed: 3)],
                       eps: 3e-3, rtol: 1e-2, atol: 1e-3) { t in
            Tensor.layerNorm(t[0], normalizedCount: 6, weight: t[1], bias: t[2], eps: 1e-5)
        }
    }

    func testBatchNormTrainingAndInference() {
        for spatial in [[5], [3, 4], [2, 2, 3]] {
            let shape = [3, 2] + spatial
            checkGradients([randomTensor(shape, seed: 4, std: 2), randomTensor([2], seed: 5), randomTensor([2], seed: 6)],
                           eps: 3e-3, rtol: 1e-2, atol: 1e-3) { t in
                Tensor.batchNormTraining(t[0], weight: t[1], bias: t[2], eps: 1e-5).output
            }
        }
        let mean = Tensor([0.3, -0.2], shape: [2]), variance = Tensor([0.5, 2], shape: [2])
        checkGradients([randomTensor([2, 2, 3, 3], seed: 7), randomTensor([2], seed: 8), randomTensor([2], seed: 9)],
                       eps: 3e-3, rtol: 1e-2, atol: 1e-3) { t in
            Tensor.batchNormInference(t[0], mean: mean, variance: variance, weight: t[1], bias: t[2], eps: 1e-5)
        }
    }

    func testGroupNormAndInstanceNorm() {
        checkGradients([randomTensor([2, 4, 3, 2], seed: 10, std: 2), randomTensor([4], seed: 11), randomTensor([4], seed: 12)],
                       eps: 3e-3, rtol: 1e-2, atol: 1e-3) { t in
            Tensor.groupNorm(t[0], groups: 2, weight: t[1], bias: t[2], eps: 1e-5)
        }
        checkGradients([randomTensor([2, 3, 5], seed: 13, std: 2)], eps: 3e-3, rtol: 1e-2, atol: 1e-3) { t in
            Tensor.groupNorm(t[0], groups: 3, weight: nil, bias: nil, eps: 1e-5)
        }
    }

    /// InstanceNorm with a fused LeakyReLU: finite differences at slopes 0.01 (MONAI's) and 0 (a ReLU), and the
    /// same bits as the norm and the activation one after the other, forward and every gradient. Rows of 5 × 7 × 2
    /// so that the vector loops' scalar tails run too.
    func testInstanceNormWithFusedLeakyReLU() {
        let shape = [2, 3, 5, 7, 2], half = 35
        // Finite differences must not step across the kink: every row holds ±a with a ≥ 0.3, so its mean is 0 and
        // every normalised value is at least 0.3·rstd·|w| from it, far beyond what a step of 3e-3 moves it.
        var rng = RNG(seed: 21)
        var xs = [Float]()
        for _ in 0..<6 {
            let a = (0..<half).map { _ in 0.3 + abs(rng.normal() as Float) }
            let row = a + a.map { -$0 }
            xs += (0..<(2 * half)).map { row[($0 * 11) % (2 * half)] }
        }
        let smooth = [Tensor(xs, shape: shape), Tensor([0.8, -1.1, 0.6], shape: [3]), Tensor([0.02, -0.03, 0.01], shape: [3])]
        for slope: Float in [0.01, 0] {
            checkGradients(smooth, eps: 3e-3, rtol: 1e-2, atol: 1e-3) { t in
                Tensor.groupNorm(t[0], groups: 3, weight: t[1], bias: t[2], eps: 1e-5, negativeSlope: slope)
            }
            let inputs = [randomTensor(shape, seed: 22, std: 2), randomTensor([3], seed: 23), randomTensor([3], seed: 24)]
            func run(fused: Bool) -> [[Float]] {
                let t = inputs.map { Tensor($0.array, shape: $0.shape, requiresGrad: true) }
                let y = fused ? Tensor.groupNorm(t[0], groups: 3, weight: t[1], bias: t[2], eps: 1e-5, negativeSlope: slope)
                              : Tensor.groupNorm(t[0], groups: 3, weight: t[1], bias: t[2], eps: 1e-5).leakyRelu(slope)
                var rng = RNG(seed: 25)
                (y * Tensor.randn(shape, rng: &rng)).sum().backward()
                return [y.array] + t.map { $0.grad!.array }
            }
            let fused = run(fused: true), separate = run(fused: false)
            for (k, name) in ["output", "input gradient", "weight gradient", "bias gradient"].enumerated() {
                XCTAssertEqual(fused[k].map(\.bitPattern), separate[k].map(\.bitPattern), "slope \(slope): \(name)")
            }
        }
    }

    func testSegmentationLosses() {
        let binary = Tensor((0..<18).map { Float(($0 * 7) % 3 == 0 ? 1 : 0) }, shape: [2, 1, 3, 3])
        checkGradients([randomTensor([2, 1, 3, 3], seed: 14, std: 2)], eps: 3e-3, rtol: 1e-2, atol: 1e-3) { t in
            Loss.bceWithLogits(t[0], binary, posWeight: Tensor([3], shape: [1])) + Loss.softDice(t[0], binary, activation: .sigmoid)
        }
        let labels = [0, 2, 1, 1, -100, 2, 0, 0, 1, 2, 2, 1]
        checkGradients([randomTensor([2, 3, 2, 3], seed: 15, std: 2)], eps: 3e-3, rtol: 1e-2, atol: 1e-3) { t in
            Loss.diceCE(t[0], labels, includeBackground: false, classWeights: [0.5, 1, 2])
        }
    }

    func testContrastiveAndMultiLabelLosses() {
        checkGradients([randomTensor([4, 5], seed: 16), randomTensor([4, 5], seed: 17), Tensor([1.2], shape: [])],
                       eps: 3e-3, rtol: 1e-2, atol: 1e-3) { t in
            Loss.infoNCE(t[0], t[1], logScale: t[2])
        }
        checkGradients([randomTensor([4, 5], seed: 18), randomTensor([4, 5], seed: 19), Tensor([0.8], shape: []),
                        Tensor([-1], shape: [])], eps: 3e-3, rtol: 1e-2, atol: 1e-3) { t in
            Loss.sigmoidContrastive(t[0], t[1], logScale: t[2], bias: t[3])
        }
        let targets = Tensor([1, 0, 0, 0, 0, 1, 1, 0, 0], shape: [3, 3])
        checkGradients([randomTensor([3, 3], seed: 20, std: 2)], eps: 3e-3, rtol: 1e-2, atol: 1e-3) { t in
            Loss.weakAssumeNegative(t[0], targets)
        }
    }
}
