import XCTest
import Foundation
import CEngineSupport
@testable import Engine

/// The elementwise kernels built per vector width (CEngineSupport/vector_kernels.c): accuracy against Float64, and
/// a value's result does not depend on its position (vector body, interleaved lanes or scalar tail).
final class VectorKernelTests: XCTestCase {
    func testTheKernelsRunAtLeastAtTheBuildsVectorWidth() {
        XCTAssertGreaterThanOrEqual(repro_vector_kernel_bits(), repro_build_simd_bits())
        if CPUInfo.current.avx512 { XCTAssertEqual(repro_vector_kernel_bits(), 512) }
    }

    func testGELUAndItsDerivativeAgainstFloat64() {
        let n = 1 << 16
        let x = (0..<n).map { -10 + 20 * Float($0) / Float(n - 1) }
        var y = [Float](repeating: 0, count: n), cdf = y, dx = y
        let g = [Float](repeating: 1, count: n)
        repro_gelu_forward(x, &y, &cdf, n)
        repro_gelu_backward(g, x, cdf, &dx, n)
        var worstY = 0.0, worstD = 0.0
        for i in 0..<n {
            let v = Double(x[i]), phi = 0.5 * erfc(-v / 2.0.squareRoot())
            worstY = max(worstY, abs(Double(y[i]) - v * phi))
            worstD = max(worstD, abs(Double(dx[i]) - (phi + v * exp(-0.5 * v * v) / (2 * Double.pi).squareRoot())))
        }
        XCTAssertLessThan(worstY, 4e-7)
        XCTAssertLessThan(worstD, 1e-6)
    }

    func testShiftedExpAgainstFloat64() {
        let n = 1 << 16
        let x = (0..<n).map { -87 * Float($0) / Float(n - 1) }
        var y = [Float](repeating: 0, count: n)
        repro_exp_shifted(x, 0, &y, n)
        var worst = 0.0
        for i in 0..<n { worst = max(worst, abs(Double(y[i]) / exp(Double(x[i])) - 1)) }
        XCTAssertLessThan(worst, 2e-7)
        var below = [Float](repeating: 1, count: 3)
        repro_exp_shifted([-90, -200, -.infinity], 0, &below, 3)
        XCTAssertEqual(below, [0, 0, 0])
    }

    func testRectifierValuesAndGradients() {
        let x: [Float] = [-2, -0.0, 0, 1e-30, 3, -1e-30, 5, -7, 2]
        let g: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        var y = [Float](repeating: 9, count: x.count), dx = y
        repro_rectify_forward(x, &y, 0.1, x.count)
        repro_rectify_backward(g, x, &dx, 0.1, x.count)
        XCTAssertEqual(y, x.map { $0 <= 0 ? 0.1 * $0 : $0 })
        XCTAssertEqual(dx, [0.1, 0.2, 0.3, 4, 5, 0.6, 7, 0.8, 9].map { Float($0) })
        repro_rectify_forward(x, &y, 0, x.count)
        XCTAssertEqual(y.map(\.bitPattern), x.map { ($0 <= 0 ? 0 : $0).bitPattern }, "a ReLU gives +0 below the kink")
    }

    /// Arrays of one repeated value, of lengths that end in every kind of loop remainder: every output is the same
    /// bits, so a result does not depend on where in an array its input sits.
    func testResultsDoNotDependOnPosition() {
        var rng = RNG(seed: 5)
        for _ in 0..<200 {
            let v: Float = rng.uniform(-9, 9)
            for n in [1, 15, 16, 17, 63, 64, 67, 131] {
                let x = [Float](repeating: v, count: n), g = [Float](repeating: 0.7, count: n)
                var y = [Float](repeating: 0, count: n), c = y, d = y, e = y
                repro_gelu_forward(x, &y, &c, n)
                repro_gelu_backward(g, x, c, &d, n)
                repro_exp_shifted(x, 9, &e, n)
                for out in [y, c, d, e] { XCTAssertEqual(Set(out.map(\.bitPattern)).count, 1, "value \(v), length \(n)") }
            }
        }
    }
}
