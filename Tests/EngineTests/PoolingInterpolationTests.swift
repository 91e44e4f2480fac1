import XCTest
import Engine
import NN

final class PoolingInterpolationTests: XCTestCase {
    private let grid = Tensor([1, 5, 2, 0,
                               3, 4, 8, 1,
                               0, 9, 2, 2,
                               7, 1, 3, 6], shape: [1, 1, 4, 4])

    // MARK: Max pooling

    func testMaxPool2dForwardHandComputed() {
        XCTAssertEqual(Tensor.maxPool2d(grid, kernel: 2).array, [5, 8, 9, 6])
        let padded = Tensor.maxPool2d(grid, kernel: 3, stride: 2, padding: 1)
        XCTAssertEqual(padded.shape, [1, 1, 2, 2])
        XCTAssertEqual(padded.array, [5, 8, 9, 9])
    }

    func testMaxPoolGradientGoesToFirstMaximum() {
        let x = Tensor.ones([1, 1, 2, 2])
        x.requiresGrad = true
        Tensor.maxPool2d(x, kernel: 2).sum().backward()
        XCTAssertEqual(x.grad!.array, [1, 0, 0, 0])
        // Overlapping windows that share a maximum add their gradients on it.
        let y = grid.detached()
        y.requiresGrad = true
        Tensor.maxPool2d(y, kernel: 3, stride: 2, padding: 1).sum().backward()
        XCTAssertEqual(y.grad!.array, [0, 1, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0])
    }

    func testMaxPool2dGradients() {
        checkGradients([distinctTensor([2, 3, 7, 6], seed: 1)]) {
            Tensor.maxPool2d($0[0], kernel: [3, 2], stride: [2, 1], padding: [1, 1])
        }
    }

    func testMaxPool3dGradients() {
        checkGradients([distinctTensor([1, 2, 5, 4, 5], seed: 2)]) { Tensor.maxPool3d($0[0], kernel: 3, stride: 2, padding: 1) }
        checkGradients([distinctTensor([2, 1, 4, 4, 4], seed: 3)]) { Tensor.maxPool3d($0[0], kernel: 2) }
    }

    // MARK: Average pooling

    func testAvgPool2dForwardDivisors() {
        let x = Tensor([1, 2, 3, 4], shape: [1, 1, 2, 2])
        assertClose(Tensor.avgPool2d(x, kernel: 2, stride: 1, padding: 1).array,
                    [0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1], "count_include_pad")
        assertClose(Tensor.avgPool2d(x, kernel: 2, stride: 1, padding: 1, countIncludePad: false).array,
                    [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4], "exclude pad")
        assertClose(Tensor.avgPool2d(grid, kernel: 2).array, [13 / 4, 11 / 4, 17 / 4, 13 / 4], "plain")
    }

    func testAvgPool2dGradients() {
        let x = randomTensor([2, 3, 7, 6], seed: 4)
        checkGradients([x]) { Tensor.avgPool2d($0[0], kernel: [3, 2], stride: [2, 1], padding: [1, 1]) }
        checkGradients([x]) {
            Tensor.avgPool2d($0[0], kernel: [3, 2], stride: [2, 1], padding: [1, 1], countIncludePad: false)
        }
    }

    func testAvgPool3dGradients() {
        let x = randomTensor([1, 2, 5, 4, 5], seed: 5)
        checkGradients([x]) { Tensor.avgPool3d($0[0], kernel: 3, stride: 2, padding: 1) }
        checkGradients([x]) { Tensor.avgPool3d($0[0], kernel: [2, 3, 2], stride: [1, 1, 2], padding: [1, 1, 0], countIncludePad: false) }
    }

    /// The convenience initialiser keeps `ceilMode`: a 5-wide axis pooled by 2 gives 3 outputs with it, 2 without.
    func testAvgPool3dConvenienceInitialiserKeepsCeilMode() {
        let x = randomTensor([1, 1, 5, 4, 5], seed: 6)
        XCTAssertEqual(AvgPool3d(2, ceilMode: true)(x).shape, [1, 1, 3, 2, 3])
        XCTAssertEqual(AvgPool3d(2)(x).shape, [1, 1, 2, 2, 2])
    }

    // MARK: Adaptive average pooling

    func testAdaptiveAvgPool2dForwardBins() {
        let x = Tensor([1, 2, 3, 4, 5], shape: [1, 1, 1, 5])
        // Bins 0..<2, 1..<4, 3..<5.
        assertClose(Tensor.adaptiveAvgPool2d(x, outputSize: [1, 3]).array, [1.5, 3, 4.5], "5 → 3")
        // Upsampling bins repeat inputs: 0..<1, 0..<2, 1..<2 for 2 → 3.
        let y = Tensor([2, 4], shape: [1, 1, 1, 2])
        assertClose(Tensor.adaptiveAvgPool2d(y, outputSize: [1, 3]).array, [2, 3, 4], "2 → 3")
        assertClose(Tensor.adaptiveAvgPool2d(grid, outputSize: [1, 1]).array, [54 / 16], "global")
    }

    func testAdaptiveAvgPool2dGradients() {
        checkGradients([randomTensor([2, 2, 5, 7], seed: 6)]) { Tensor.adaptiveAvgPool2d($0[0], outputSize: [3, 4]) }
        checkGradients([randomTensor([1, 2, 3, 2], seed: 7)]) { Tensor.adaptiveAvgPool2d($0[0], outputSize: [5, 3]) }
    }

    func testAdaptiveAvgPool3dGradients() {
        checkGradients([randomTensor([1, 2, 5, 4, 3], seed: 8)]) { Tensor.adaptiveAvgPool3d($0[0], outputSize: [2, 3, 2]) }
    }

    // MARK: Interpolation

    func testInterpolateForwardHandComputed() {
        XCTAssertEqual(Tensor.interpolate(Tensor([1, 2, 3], shape: [1, 1, 3]), size: [5]).array, [1, 1, 2, 2, 3])
        XCTAssertEqual(Tensor.interpolate(Tensor([1, 2, 3, 4, 5], shape: [1, 1, 5]), size: [2]).array, [1, 3])
        let pair = Tensor([1, 3], shape: [1, 1, 2])
        assertClose(Tensor.interpolate(pair, size: [4], mode: .linear).array, [1, 1.5, 2.5, 3], "linear")
        assertClose(Tensor.interpolate(pair, size: [4], mode: .linear, alignCorners: true).array,
                    [1, 5.0 / 3, 7.0 / 3, 3], "linear, align corners")
        let square = Tensor([0, 1, 2, 3], shape: [1, 1, 2, 2])
        assertClose(Tensor.interpolate(square, size: [3, 3], mode: .linear, alignCorners: true).array,
                    [0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3], "bilinear, align corners")
        XCTAssertEqual(Tensor.interpolate(square, scaleFactor: 2).array,
                       [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3])
    }

    /// A scale factor sets source coordinates by 1/factor, not by in/out (PyTorch without recompute_scale_factor).
    func testInterpolateScaleFactorUsesGivenScale() {
        let ramp = Tensor([0, 1, 2, 3, 4], shape: [1, 1, 5])
        let byFactor = Tensor.interpolate(ramp, scaleFactor: 1.5, mode: .linear)
        XCTAssertEqual(byFactor.shape, [1, 1, 7])
        assertClose(byFactor.array, [0, 0.5, 7.0 / 6, 11.0 / 6, 2.5, 19.0 / 6, 23.0 / 6], "scale factor 1.5")
        let bySize = Tensor.interpolate(ramp, size: [7], mode: .linear)
        XCTAssertEqual(bySize.ptr[1], 4.0 / 7, accuracy: 1e-6)
        let x = randomTensor([1, 2, 3, 4], seed: 9)
        XCTAssertEqual(Tensor.interpolate(x, scaleFactor: 2, mode: .linear).array,
                       Tensor.interpolate(x, size: [6, 8], mode: .linear).array)
    }

    func testInterpolate1dGradients() {
        let x = randomTensor([2, 3, 5], seed: 10)
        for align in [false, true] {
            checkGradients([x]) { Tensor.interpolate($0[0], size: [9], mode: .linear, alignCorners: align) }
            checkGradients([x]) { Tensor.interpolate($0[0], size: [3], mode: .linear, alignCorners: align) }
        }
        checkGradients([x]) { Tensor.interpolate($0[0], size: [7]) }
    }

    func testInterpolate2dGradients() {
        let x = randomTensor([2, 2, 3, 4], seed: 11)
        checkGradients([x]) { Tensor.interpolate($0[0], size: [7, 5], mode: .linear, alignCorners: false) }
        checkGradients([x]) { Tensor.interpolate($0[0], size: [7, 5], mode: .linear, alignCorners: true) }
        checkGradients([x]) { Tensor.interpolate($0[0], size: [2, 9], mode: .linear, alignCorners: false) }
        checkGradients([x]) { Tensor.interpolate($0[0], size: [5, 3]) }
        checkGradients([x]) { Tensor.interpolate($0[0], scaleFactor: 2, mode: .nearest) }
    }

    func testInterpolate3dGradients() {
        let x = randomTensor([1, 2, 2, 3, 3], seed: 12)
        checkGradients([x]) { Tensor.interpolate($0[0], size: [4, 5, 2], mode: .linear, alignCorners: false) }
        checkGradients([x]) { Tensor.interpolate($0[0], size: [3, 5, 4], mode: .linear, alignCorners: true) }
        checkGradients([x]) { Tensor.interpolate($0[0], size: [4, 2, 5]) }
    }
}
