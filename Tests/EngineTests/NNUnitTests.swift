import XCTest
import Foundation
import Engine
import NN

/// Behaviour that has no PyTorch golden value because it depends on our RNG: dropout masks, embeddings,
/// initialiser statistics.
final class NNUnitTests: XCTestCase {
    func testDropoutScalesKeptValuesAndIsIdentityInEvaluation() {
        let drop = Dropout(0.25)
        drop.randomness = RNG(seed: 5)
        let x = Tensor(filled: 2, shape: [100, 100], requiresGrad: true)
        let y = drop(x)
        let values = y.array
        let zeros = values.filter { $0 == 0 }.count
        XCTAssertEqual(Double(zeros) / 10_000, 0.25, accuracy: 0.02)
        XCTAssertTrue(values.allSatisfy { $0 == 0 || abs($0 - 2 / 0.75) < 1e-6 })
        y.sum().backward()
        XCTAssertEqual(x.grad!.array.map { $0 == 0 }, values.map { $0 == 0 }, "gradient flows only through kept elements")
        drop.eval()
        XCTAssertTrue(drop(x) === x)
    }

    func testDropoutIsReproducibleFromItsStream() {
        let x = Tensor(filled: 1, shape: [64])
        let drop = Dropout(0.5)
        drop.randomness = RNG(seed: 9)
        let a = drop(x).array
        XCTAssertNotEqual(drop(x).array, a, "the stream moves on between calls")
        drop.randomness = RNG(seed: 9)
        XCTAssertEqual(drop(x).array, a)
    }

    /// The masks of a training step depend on (seed, phase, epoch, step) and the layer's path only, not on what was
    /// drawn before: this is what lets a resumed run draw the uninterrupted run's masks without saving generator
    /// state. Two layers of one model draw different masks.
    func testDropoutMasksAreAFunctionOfTheTrainingPosition() {
        let x = Tensor(filled: 1, shape: [4, 64])
        let model = Sequential([Dropout(0.5), DropPath(0.5), Dropout(0.5)])
        let first = model.layers[0], path = model.layers[1], last = model.layers[2]
        model.placeRandomness(seed: 3, phase: "fine-tune", epoch: 2, step: 5)
        let a = first(x).array, pa = path(x).array
        XCTAssertNotEqual(last(x).array, a, "each layer has its own stream")
        for _ in 0..<7 { _ = first(x) }   // a different history before the same position
        model.placeRandomness(seed: 3, phase: "fine-tune", epoch: 2, step: 5)
        XCTAssertEqual(first(x).array, a)
        XCTAssertEqual(path(x).array, pa)
        for (seed, epoch, step) in [(4, 2, 5), (3, 3, 5), (3, 2, 6)] {
            model.placeRandomness(seed: UInt64(seed), phase: "fine-tune", epoch: epoch, step: step)
            XCTAssertNotEqual(first(x).array, a, "seed \(seed) epoch \(epoch) step \(step)")
        }
        model.placeRandomness(seed: 3, phase: "pre-train", epoch: 2, step: 5)
        XCTAssertNotEqual(first(x).array, a, "pre-training and fine-tuning draw from separate streams")
    }

    /// `initialize(seed:)` is the one seed of a model's weights: the same seed gives the same weights, another seed
    /// others; a weight depends on its module's path, not on what else the model holds; frozen parameters keep
    /// their (pre-trained) values; every Linear still has PyTorch's bound.
    func testInitializeDrawsEachModuleFromSeedAndPath() {
        func model() -> Sequential { Sequential([Linear(8, 16), Lambda { $0.relu() }, Linear(16, 4)]) }
        let a = model(), b = model(), c = model()
        a.initialize(seed: 1); b.initialize(seed: 1); c.initialize(seed: 2)
        XCTAssertEqual(a.stateDict().mapValues(\.array), b.stateDict().mapValues(\.array))
        XCTAssertNotEqual(a.stateDict()["layers.0.weight"]!.array, c.stateDict()["layers.0.weight"]!.array)
        let first = a.layers[0] as! Linear, second = a.layers[2] as! Linear
        XCTAssertTrue(first.weight.array.allSatisfy { abs($0) <= 1 / Float(8).squareRoot() })
        XCTAssertTrue(second.weight.array.allSatisfy { abs($0) <= 1 / Float(16).squareRoot() })
        XCTAssertGreaterThan(Set(first.weight.array).count, 100, "drawn, not constant")

        // The same path in a model with one more layer in front of it draws the same values.
        let longer = Sequential([Linear(8, 16), Lambda { $0.relu() }, Linear(16, 4), Linear(4, 4)])
        longer.initialize(seed: 1)
        XCTAssertEqual(longer.stateDict()["layers.2.weight"]!.array, second.weight.array)

        let frozen = model()
        (frozen.layers[2] as! Linear).freeze()
        let kept = (frozen.layers[2] as! Linear).weight.array
        frozen.initialize(seed: 1)
        XCTAssertEqual((frozen.layers[2] as! Linear).weight.array, kept, "frozen weights are pre-trained ones")
        XCTAssertEqual((frozen.layers[0] as! Linear).weight.array, first.weight.array)
    }

    func testEmbeddingLookupAndGradientAccumulation() {
        let emb = Embedding(5, 3)
        XCTAssertEqual(emb.namedParameters().map { $0.0 }, ["weight"])
        let out = emb([4, 1, 4, 0], shape: [2, 2])
        XCTAssertEqual(out.shape, [2, 2, 3])
        XCTAssertEqual(Array(out.array[0..<3]), Array(emb.weight.array[12..<15]))
        out.sum().backward()
        XCTAssertEqual(emb.weight.grad!.array, [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 2, 2, 2])
    }

    /// torch.nn.Embedding(padding_idx=): the row starts at zero, lookups return its current value, and it gets no
    /// gradient; a negative index counts from the end.
    func testEmbeddingPaddingIndex() {
        let emb = Embedding(5, 3, paddingIdx: -4)
        emb.initialize(seed: 1)
        XCTAssertEqual(emb.paddingIdx, 1)
        XCTAssertEqual(Array(emb.weight.array[3..<6]), [0, 0, 0])
        emb.weight.ptr[4] = 7   // as a loaded checkpoint might have it
        let out = emb([4, 1, 4, 1], shape: [2, 2])
        XCTAssertEqual(Array(out.array[3..<6]), [0, 7, 0])
        XCTAssertEqual(Array(out.array[0..<3]), Array(emb.weight.array[12..<15]))
        (out * 3).sum().backward()
        XCTAssertEqual(emb.weight.grad!.array, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 6, 6])
    }

    private func moments(_ t: Tensor) -> (mean: Double, std: Double) {
        let v = t.array.map(Double.init)
        let m = v.reduce(0, +) / Double(v.count)
        return (m, (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot())
    }

    func testInitialiserStatistics() {
        var rng = RNG(seed: 21)
        let conv = Tensor(zeros: [64, 32, 3, 3])                  // fan_in 288, fan_out 576
        XCTAssertEqual(Init.fans(conv.shape).fanIn, 288)
        XCTAssertEqual(Init.fans(conv.shape).fanOut, 576)

        Init.kaimingNormal(conv, mode: .fanOut, nonlinearity: .relu, rng: &rng)
        XCTAssertEqual(moments(conv).std, (2.0 / 576).squareRoot(), accuracy: 0.02 * (2.0 / 576).squareRoot())

        Init.kaimingUniform(conv, nonlinearity: .leakyReLU(0.2), rng: &rng)
        let bound = Float((2 / 1.04) * 3 / 288.0).squareRoot()
        XCTAssertLessThanOrEqual(conv.array.map(abs).max()!, bound)
        XCTAssertGreaterThan(conv.array.map(abs).max()!, 0.99 * bound)

        let linear = Tensor(zeros: [300, 200])
        Init.xavierUniform(linear, rng: &rng)
        XCTAssertLessThanOrEqual(linear.array.map(abs).max()!, (6 / Float(500)).squareRoot())
        Init.xavierNormal(linear, gain: 2, rng: &rng)
        XCTAssertEqual(moments(linear).std, 2 * (2.0 / 500).squareRoot(), accuracy: 0.01)
    }

    func testTruncatedNormalMatchesTorchSemantics() {
        var rng = RNG(seed: 22)
        // Absolute bounds as in torch.nn.init.trunc_normal_: N(0, 1) cut at ±2 has std 0.8796.
        let t = Init.truncatedNormal(Tensor(zeros: [40_000]), rng: &rng)
        XCTAssertGreaterThanOrEqual(t.min(), -2)
        XCTAssertLessThanOrEqual(t.max(), 2)
        XCTAssertEqual(moments(t).mean, 0, accuracy: 0.02)
        XCTAssertEqual(moments(t).std, 0.8796, accuracy: 0.01)
        // ViT's usage: std 0.02 with the default bounds ±2 is an untruncated N(0, 0.02²).
        let vit = Init.truncatedNormal(Tensor(zeros: [40_000]), std: 0.02, rng: &rng)
        XCTAssertEqual(moments(vit).std, 0.02, accuracy: 0.0005)
        // A one-sided cut: N(1, 1) on [1, 3] has mean 1 + (φ(0) − φ(2)) / (Φ(2) − Φ(0)) ≈ 1.7228.
        let half = Init.truncatedNormal(Tensor(zeros: [40_000]), mean: 1, std: 1, a: 1, b: 3, rng: &rng)
        XCTAssertGreaterThanOrEqual(half.min(), 1)
        XCTAssertEqual(moments(half).mean, 1.7228, accuracy: 0.01)
    }

    /// Activations far from zero (mean 1000, spread 1) normalise as accurately as centred ones.
    func testBatchNormIsStableForLargeMeans() {
        var rng = RNG(seed: 23)
        let x = Tensor.randn([4, 2, 8, 8], rng: &rng) + 1000
        let y = BatchNorm2d(2)(x)
        for c in 0..<2 {
            var values: [Double] = []
            for n in 0..<4 { for j in 0..<64 { values.append(Double(x.ptr[(n * 2 + c) * 64 + j])) } }
            let mean = values.reduce(0, +) / 256
            let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 256 + 1e-5).squareRoot()
            for n in 0..<4 {
                for j in 0..<64 {
                    let i = (n * 2 + c) * 64 + j
                    XCTAssertEqual(Double(y.ptr[i]), (Double(x.ptr[i]) - mean) / std, accuracy: 2e-3)
                }
            }
        }
    }

    func testGainsMatchCalculateGain() {
        XCTAssertEqual(Nonlinearity.relu.gain, Float(2).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(Nonlinearity.leakyReLU(0.01).gain, Float(2 / 1.0001).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(Nonlinearity.tanh.gain, Float(5) / 3, accuracy: 1e-6)
        XCTAssertEqual(Nonlinearity.selu.gain, 0.75)
    }

    func testParameterGroupsOverrideDecayAndScaleLearningRate() {
        let decayed = Tensor([1, 1], shape: [2], requiresGrad: true), plain = Tensor([1, 1], shape: [2], requiresGrad: true)
        let sgd = SGD([ParameterGroup([decayed]), ParameterGroup([plain], weightDecay: 0, lrScale: 0.5)], lr: 0.1, weightDecay: 0.5)
        decayed.grad = Tensor(zeros: [2]); plain.grad = Tensor(filled: 1, shape: [2])
        sgd.step()
        XCTAssertEqual(decayed.array, [0.95, 0.95])
        XCTAssertEqual(plain.array, [0.95, 0.95])
    }

    func testOptimizerSkipsParametersWithoutGradient() {
        let p = Tensor([1, 2], shape: [2], requiresGrad: true)
        let adam = Adam([p], lr: 0.1)
        adam.step()
        XCTAssertEqual(p.array, [1, 2])
        XCTAssertTrue(adam.stateDict().isEmpty)
    }
}
