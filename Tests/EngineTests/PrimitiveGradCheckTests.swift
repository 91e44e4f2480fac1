import XCTest
import Engine

/// Finite-difference checks of the engine's own primitives: elementwise math with every broadcasting pattern, the
/// reductions, the shape operations and the matrix product. The layer tests above them (norms, attention, Swin,
/// convolution, pooling) only pass if these are right, but a wrong rule here could hide behind a layer whose other
/// terms dominate, so each primitive is checked on its own, on shapes with no two equal dimensions.
final class PrimitiveGradCheckTests: XCTestCase {

    // MARK: Binary ops and broadcasting

    /// Every broadcasting pattern the models use: equal shapes, a bias row, a column, a scalar, and both operands
    /// broadcast at once ([3,1,5] with [4,1]).
    private let patterns: [([Int], [Int])] = [([3, 4], [3, 4]), ([2, 3, 4], [4]), ([2, 3, 4], [3, 1]),
                                               ([3, 4], [1]), ([3, 1, 5], [4, 1]), ([4], [2, 3, 4])]

    func testAddSubMulGradientsUnderBroadcasting() {
        for (i, (sa, sb)) in patterns.enumerated() {
            let a = randomTensor(sa, seed: UInt64(10 + i)), b = randomTensor(sb, seed: UInt64(20 + i))
            checkGradients([a, b]) { $0[0] + $0[1] }
            checkGradients([a, b]) { $0[0] - $0[1] }
            checkGradients([a, b]) { $0[0] * $0[1] }
        }
    }

    func testDivisionGradientsUnderBroadcasting() {
        for (i, (sa, sb)) in patterns.enumerated() {
            let a = randomTensor(sa, seed: UInt64(30 + i))
            // Denominators kept away from zero, where the finite difference would blow up.
            let b = randomTensor(sb, seed: UInt64(40 + i)).abs() + 0.5
            checkGradients([a, b], eps: 1e-3, rtol: 2e-3) { $0[0] / $0[1] }
        }
    }

    func testMaximumSendsTheGradientToTheLargerOperand() {
        let a = distinctTensor([3, 4], seed: 1, step: 0.1), b = distinctTensor([4], seed: 2, step: 0.13)
        checkGradients([a, b]) { Tensor.maximum($0[0], $0[1]) }
    }

    func testScalarOperatorGradients() {
        let x = randomTensor([2, 5], seed: 3)
        checkGradients([x]) { ($0[0] + 1.5) * 2 - 0.25 }
        checkGradients([x]) { 3 - $0[0] / 4 }
        checkGradients([x]) { -$0[0] }
        let positive = randomTensor([2, 5], seed: 4).abs() + 0.5
        checkGradients([positive], eps: 1e-3, rtol: 2e-3) { 2 / $0[0] }
    }

    // MARK: Unary math

    func testUnaryGradients() {
        let x = randomTensor([3, 7], seed: 5)
        let positive = x.abs() + 0.3
        let unary: [(String, Tensor, (Tensor) -> Tensor)] = [
            ("exp", x, { $0.exp() }), ("log", positive, { $0.log() }), ("sqrt", positive, { $0.sqrt() }),
            ("rsqrt", positive, { $0.rsqrt() }), ("square", x, { $0.square() }), ("pow 3", x, { $0.pow(3) }),
            ("pow 1.5", positive, { $0.pow(1.5) }), ("sigmoid", x, { $0.sigmoid() }), ("tanh", x, { $0.tanh() }),
            ("softplus", x, { $0.softplus() }), ("gelu", x, { $0.gelu() }),
            ("gelu tanh", x, { $0.gelu(tanhApproximation: true) }),
        ]
        for (name, input, f) in unary {
            let worst = checkGradients([input.detached()], eps: 1e-3, rtol: 3e-3, atol: 1e-3) { f($0[0]) }
            XCTAssertLessThan(worst, 1e-2, name)
        }
    }

    func testPiecewiseLinearGradients() {
        // Values at least 0.05 from each kink (0 for relu/abs, the clamp bounds), so ±eps never crosses one.
        let x = distinctTensor([4, 6], seed: 6, step: 0.05) + 0.025
        checkGradients([x]) { $0[0].relu() }
        checkGradients([x]) { $0[0].leakyRelu(0.2) }
        checkGradients([x]) { $0[0].abs() }
        checkGradients([x]) { $0[0].clamp(min: -0.3, max: 0.4) }
    }

    func testMaskedFillAndWhereRouteGradients() {
        let x = randomTensor([2, 3, 4], seed: 7), y = randomTensor([2, 3, 4], seed: 8)
        let mask = randomTensor([2, 1, 4], seed: 9).greater(0)
        checkGradients([x]) { $0[0].maskedFill(mask, -5) }
        checkGradients([x, y]) { Tensor.where(mask.expanded(to: [2, 3, 4]), $0[0], $0[1]) }
        // A filled position gets no gradient at all.
        let z = x.detached(); z.requiresGrad = true
        z.maskedFill(mask, 0).sum().backward()
        let m = mask.expanded(to: [2, 3, 4])
        for i in 0..<z.count { XCTAssertEqual(z.grad!.ptr[i], m.ptr[i] != 0 ? 0 : 1) }
    }

    // MARK: Reductions

    func testSumMeanVarianceGradients() {
        let x = randomTensor([2, 3, 4], seed: 11)
        checkGradients([x]) { $0[0].sum() }
        checkGradients([x]) { $0[0].sum(axis: 1) }
        checkGradients([x]) { $0[0].sum(axes: [0, 2], keepDim: true) }
        checkGradients([x]) { $0[0].mean(axis: -1, keepDim: true) }
        checkGradients([x]) { $0[0].mean(axes: [0, 1]) }
        checkGradients([x], eps: 1e-3, rtol: 3e-3) { $0[0].variance(axes: [1, 2]) }
        checkGradients([x], eps: 1e-3, rtol: 3e-3) { $0[0].variance(axes: [0], keepDim: true, unbiased: true) }
    }

    func testMaxAlongAnAxisGradients() {
        let x = distinctTensor([3, 4, 5], seed: 12, step: 0.05)
        checkGradients([x]) { $0[0].max(axis: 1).values }
        checkGradients([x]) { $0[0].max(axis: -1, keepDim: true).values }
    }

    func testSoftmaxAndLogSoftmaxGradients() {
        let x = randomTensor([3, 4, 6], seed: 13, std: 2)
        checkGradients([x], eps: 1e-3, rtol: 3e-3) { $0[0].softmax() }
        checkGradients([x], eps: 1e-3, rtol: 3e-3) { $0[0].logSoftmax() }
        checkGradients([x], eps: 1e-3, rtol: 3e-3) { $0[0].softmax(axis: 1) }
    }

    // MARK: Shape operations

    func testViewAndCopyGradients() {
        let x = randomTensor([2, 3, 4], seed: 14)
        checkGradients([x]) { $0[0].reshaped([4, 6]) }
        checkGradients([x]) { $0[0].permuted([2, 0, 1]) }
        checkGradients([x]) { $0[0].transposed(0, 2) }
        checkGradients([x]) { $0[0].slice(axis: 2, 1, 3) }
        checkGradients([x]) { $0[0].padded([(0, 0), (1, 2), (2, 0)], value: 0.5) }
        checkGradients([x]) { $0[0].rolled(2, axis: 2) }
        checkGradients([x]) { $0[0].rolled(-1, axis: 1) }
        checkGradients([x]) { $0[0].unsqueezed(1).expanded(to: [2, 5, 3, 4]) }
    }

    func testConcatAndStackGradients() {
        let a = randomTensor([2, 3, 4], seed: 15), b = randomTensor([2, 1, 4], seed: 16), c = randomTensor([2, 3, 4], seed: 17)
        checkGradients([a, b]) { Tensor.concat([$0[0], $0[1]], axis: 1) }
        checkGradients([a, c]) { Tensor.stack([$0[0], $0[1]], axis: 2) }
    }

    func testIndexSelectAndGatherAccumulateRepeatedIndices() {
        let x = randomTensor([5, 3], seed: 18)
        // Row 2 is picked twice: its gradient is the sum of both uses.
        checkGradients([x]) { $0[0].indexSelect(axis: 0, [2, 0, 2, 4]) }
        checkGradients([x]) { $0[0].indexSelect(axis: 1, [1, 1, 0]) }
        checkGradients([x]) { $0[0].gatherLast([0, 2, 2, 1, 0]) }
    }

    // MARK: Matrix product

    func testMatmulGradientsForEveryLayout() {
        let a = randomTensor([3, 4], seed: 19), b = randomTensor([4, 5], seed: 20)
        checkGradients([a, b]) { Tensor.matmul($0[0], $0[1]) }
        checkGradients([a.transposed().detached(), b]) { Tensor.matmul($0[0], $0[1], transA: true) }
        checkGradients([a, b.transposed().detached()]) { Tensor.matmul($0[0], $0[1], transB: true) }
        checkGradients([a.transposed().detached(), b.transposed().detached()]) {
            Tensor.matmul($0[0], $0[1], transA: true, transB: true)
        }
    }

    func testBatchedMatmulGradientsWithBroadcastBatches() {
        // A weight shared over a batch (folded into one GEMM), attention-style batches, and a broadcast batch.
        let x = randomTensor([2, 3, 4], seed: 21), w = randomTensor([5, 4], seed: 22)
        checkGradients([x, w]) { Tensor.matmul($0[0], $0[1], transB: true) }
        let q = randomTensor([2, 3, 4, 5], seed: 23), k = randomTensor([2, 3, 6, 5], seed: 24)
        checkGradients([q, k]) { Tensor.matmul($0[0], $0[1], transB: true) }
        let p = randomTensor([2, 1, 4, 5], seed: 25), v = randomTensor([3, 5, 2], seed: 26)
        checkGradients([p, v]) { Tensor.matmul($0[0], $0[1]) }
    }

    func testLinearGradientsAndAgreementWithMatmulPlusBias() {
        let x = randomTensor([2, 3, 4], seed: 28), w = randomTensor([5, 4], seed: 29), b = randomTensor([5], seed: 30)
        checkGradients([x, w, b]) { Tensor.linear($0[0], $0[1], $0[2]) }
        checkGradients([x, w]) { Tensor.linear($0[0], $0[1], nil) }
        checkGradients([randomTensor([4], seed: 31), w, b]) { Tensor.linear($0[0], $0[1], $0[2]) }
        let fused = Tensor.linear(x, w, b), unfused = Tensor.matmul(x, w, transB: true) + b
        XCTAssertEqual(fused.shape, [2, 3, 5])
        assertClose(fused.array, unfused.array, tol: 1e-6, "fused bias")
    }

    // MARK: Graph mechanics

    func testGradientsAccumulateOverUsesAndBackwardCalls() {
        let x = randomTensor([3, 2], seed: 27)
        // x used three times in one graph: d/dx (x·x + x) = 2x + 1.
        checkGradients([x]) { $0[0] * $0[0] + $0[0] }
        let y = x.detached(); y.requiresGrad = true
        (y * 2).sum().backward()
        (y * 3).sum().backward()
        for i in 0..<y.count { XCTAssertEqual(y.grad!.ptr[i], 5) }
    }
}
