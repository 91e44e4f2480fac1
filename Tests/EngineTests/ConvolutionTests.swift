import XCTest
@testable import Engine

/// Convolution forward passes and gradients, each test run twice: on the default path (oneDNN for groups-1 2D and 3D
/// layers where it has a fast kernel) and on the engine's own kernels (im2col + GEMM, Winograd), which run where
/// oneDNN has no fast kernel and for grouped, 1D and transposed convolutions. (A failure names the test, not the
/// path: rerun with REPRO_DNNL=0 to see whether the engine's path fails alone.)
final class ConvolutionTests: XCTestCase {
    /// Runs `body` with oneDNN as configured, then on the engine's own kernels.
    func onBothPaths(_ body: () -> Void) {
        let saved = DNNLConvolution.enabled
        defer { DNNLConvolution.enabled = saved }
        for dnnl in [saved, false] {
            DNNLConvolution.enabled = dnnl
            body()
        }
    }

    // MARK: Hand-computed forward values

    func testConv1dForwardHandComputed() {
        onBothPaths {
            let x = Tensor([1, 2, 3, 4, 5], shape: [1, 1, 5])
            let w = Tensor([1, 0, -1], shape: [1, 1, 3])
            let y = Tensor.conv1d(x, w, bias: Tensor([0.5], shape: [1]), stride: 2, padding: 1)
            XCTAssertEqual(y.shape, [1, 1, 3])
            XCTAssertEqual(y.array, [-1.5, -1.5, 4.5])
            // Dilation 2 reads taps 0, 2, 4: 1·1 + 3·0 + 5·(−1).
            XCTAssertEqual(Tensor.conv1d(x, w, dilation: 2).array, [-4])
        }
    }

    func testConv2dForwardHandComputed() {
        onBothPaths {
            let x = Tensor((1...9).map(Float.init), shape: [1, 1, 3, 3])
            let w = Tensor([1, 2, 3, 4, 0, 0, 0, 1], shape: [2, 1, 2, 2])
            let valid = Tensor.conv2d(x, w)
            XCTAssertEqual(valid.shape, [1, 2, 2, 2])
            XCTAssertEqual(valid.array, [37, 47, 67, 77, 5, 6, 8, 9])
            let strided = Tensor.conv2d(x, w, stride: 2, padding: 1)
            XCTAssertEqual(strided.array, [4, 18, 36, 77, 1, 3, 7, 9])
        }
    }

    func testConvTranspose2dForwardHandComputed() {
        onBothPaths {
            let x = Tensor([1, 2, 3, 4], shape: [1, 1, 2, 2])
            let w = Tensor.ones([1, 1, 2, 2])
            XCTAssertEqual(Tensor.convTranspose2d(x, w).array, [1, 3, 2, 4, 10, 6, 3, 7, 4])
            let up = Tensor.convTranspose2d(x, w, bias: Tensor([1], shape: [1]), stride: 2)
            XCTAssertEqual(up.shape, [1, 1, 4, 4])
            XCTAssertEqual(up.array, [2, 2, 3, 3, 2, 2, 3, 3, 4, 4, 5, 5, 4, 4, 5, 5])
        }
    }

    func testOutputShapes() {
        onBothPaths {
            let x2 = Tensor(zeros: [2, 4, 11, 9])
            XCTAssertEqual(Tensor.conv2d(x2, Tensor(zeros: [6, 2, 3, 5]), stride: [2, 1], padding: [1, 2], dilation: [2, 1],
                                         groups: 2).shape, [2, 6, 5, 9])
            let x3 = Tensor(zeros: [1, 2, 5, 6, 7])
            XCTAssertEqual(Tensor.conv3d(x3, Tensor(zeros: [3, 2, 3, 3, 3]), stride: 2, padding: 1).shape, [1, 3, 3, 3, 4])
            XCTAssertEqual(Tensor.convTranspose3d(x3, Tensor(zeros: [2, 3, 2, 2, 2]), stride: 2).shape, [1, 3, 10, 12, 14])
            XCTAssertEqual(Tensor.convTranspose2d(x2, Tensor(zeros: [4, 1, 3, 3]), stride: [2, 3], padding: [1, 0],
                                                  outputPadding: [1, 2], groups: 2).shape, [2, 2, 22, 29])
        }
    }

    /// A 1×1 convolution is a matrix product over channels (the path that skips im2col).
    func testPointwiseConvolutionIsChannelMatmul() {
        onBothPaths {
            let x = randomTensor([2, 3, 4, 5], seed: 1), w = randomTensor([6, 3, 1, 1], seed: 2)
            let y = Tensor.conv2d(x, w)
            for n in 0..<2 {
                for o in 0..<6 {
                    for p in 0..<20 {
                        var s: Float = 0
                        for c in 0..<3 { s += w.ptr[o * 3 + c] * x.ptr[(n * 3 + c) * 20 + p] }
                        XCTAssertEqual(y.ptr[(n * 6 + o) * 20 + p], s, accuracy: 1e-5)
                    }
                }
            }
        }
    }

    /// ⟨conv(x, w), y⟩ = ⟨x, convT(y, w)⟩: transposed convolution is the adjoint of convolution with the same weight.
    func testTransposedConvolutionIsAdjointOfConvolution() {
        onBothPaths {
            let x = randomTensor([2, 4, 9, 8], seed: 3), w = randomTensor([6, 2, 3, 2], seed: 4)
            let stride = [2, 3], padding = [1, 1], dilation = [1, 2]
            let cx = Tensor.conv2d(x, w, stride: stride, padding: padding, dilation: dilation, groups: 2)
            let y = randomTensor(cx.shape, seed: 5)
            let outputPadding = (0..<2).map { (a: Int) -> Int in
                let reach: Int = dilation[a] * (w.shape[2 + a] - 1) + 1
                return x.shape[2 + a] - ((cx.shape[2 + a] - 1) * stride[a] - 2 * padding[a] + reach)
            }
            let ty = Tensor.convTranspose2d(y, w, stride: stride, padding: padding, outputPadding: outputPadding,
                                            dilation: dilation, groups: 2)
            XCTAssertEqual(ty.shape, x.shape)
            let lhs = (cx * y).sum().item, rhs = (x * ty).sum().item
            XCTAssertEqual(lhs, rhs, accuracy: 1e-3 * max(1, abs(lhs)))
        }
    }

    // MARK: Gradient checks

    func testConv1dGradients() {
        onBothPaths {
            let x = randomTensor([2, 4, 9], seed: 10), w = randomTensor([6, 2, 3], seed: 11), b = randomTensor([6], seed: 12)
            checkGradients([x, w, b]) { Tensor.conv1d($0[0], $0[1], bias: $0[2], stride: 2, padding: 2, dilation: 2, groups: 2) }
        }
    }

    func testConv2dGradients() {
        onBothPaths {
            let x = randomTensor([2, 3, 5, 6], seed: 20), w = randomTensor([4, 3, 3, 3], seed: 21), b = randomTensor([4], seed: 22)
            checkGradients([x, w, b]) { Tensor.conv2d($0[0], $0[1], bias: $0[2], padding: 1) }
        }
    }

    func testConv2dStridedDilatedGroupedGradients() {
        onBothPaths {
            let x = randomTensor([1, 4, 7, 8], seed: 30), w = randomTensor([6, 2, 3, 2], seed: 31), b = randomTensor([6], seed: 32)
            checkGradients([x, w, b]) {
                Tensor.conv2d($0[0], $0[1], bias: $0[2], stride: [2, 3], padding: [1, 2], dilation: [2, 1], groups: 2)
            }
        }
    }

    func testConv2dDepthwiseGradients() {
        onBothPaths {
            let x = randomTensor([2, 3, 5, 5], seed: 35), w = randomTensor([3, 1, 3, 3], seed: 36)
            checkGradients([x, w]) { Tensor.conv2d($0[0], $0[1], stride: 2, padding: 1, groups: 3) }
        }
    }

    func testConv2dPointwiseGradients() {
        onBothPaths {
            let x = randomTensor([2, 4, 3, 5], seed: 40), w = randomTensor([6, 2, 1, 1], seed: 41), b = randomTensor([6], seed: 42)
            checkGradients([x, w, b]) { Tensor.conv2d($0[0], $0[1], bias: $0[2], groups: 2) }
        }
    }

    func testConv3dGradients() {
        onBothPaths {
            let x = randomTensor([1, 4, 4, 5, 4], seed: 50), w = randomTensor([4, 2, 3, 3, 2], seed: 51), b = randomTensor([4], seed: 52)
            checkGradients([x, w, b]) {
                Tensor.conv3d($0[0], $0[1], bias: $0[2], stride: [1, 2, 1], padding: [1, 1, 0], dilation: [1, 1, 2], groups: 2)
            }
        }
    }

    func testConv3dPointwiseStridedGradients() {
        onBothPaths {
            // A 1×1×1 kernel with stride 2 is not pointwise in the im2col sense: it must subsample.
            let x = randomTensor([2, 3, 3, 4, 5], seed: 55), w = randomTensor([2, 3, 1, 1, 1], seed: 56)
            checkGradients([x, w]) { Tensor.conv3d($0[0], $0[1], stride: 2) }
        }
    }

    func testConvTranspose1dGradients() {
        onBothPaths {
            let x = randomTensor([2, 4, 5], seed: 60), w = randomTensor([4, 1, 3], seed: 61), b = randomTensor([2], seed: 62)
            checkGradients([x, w, b]) {
                Tensor.convTranspose1d($0[0], $0[1], bias: $0[2], stride: 3, padding: 1, outputPadding: 2, dilation: 2, groups: 2)
            }
        }
    }

    func testConvTranspose2dGradients() {
        onBothPaths {
            let x = randomTensor([2, 4, 3, 4], seed: 70), w = randomTensor([4, 3, 3, 3], seed: 71), b = randomTensor([6], seed: 72)
            checkGradients([x, w, b]) {
                Tensor.convTranspose2d($0[0], $0[1], bias: $0[2], stride: [2, 2], padding: [1, 1], outputPadding: [1, 0],
                                       dilation: [1, 2], groups: 2)
            }
        }
    }

    func testConvTranspose2dPointwiseGradients() {
        onBothPaths {
            let x = randomTensor([2, 3, 3, 4], seed: 75), w = randomTensor([3, 2, 1, 1], seed: 76)
            checkGradients([x, w]) { Tensor.convTranspose2d($0[0], $0[1]) }
        }
    }

    func testConvTranspose3dGradients() {
        onBothPaths {
            let x = randomTensor([1, 2, 2, 3, 2], seed: 80), w = randomTensor([2, 2, 2, 3, 2], seed: 81), b = randomTensor([2], seed: 82)
            checkGradients([x, w, b]) {
                Tensor.convTranspose3d($0[0], $0[1], bias: $0[2], stride: [2, 1, 2], padding: [0, 1, 1], outputPadding: [1, 0, 0])
            }
        }
    }

    // MARK: Execution strategy

    /// Chunking the batch (several images per im2col pass, a partial last chunk) or tiling one image's output
    /// positions, as the column budget dictates, must not change the results.
    func testColumnChunkingMatchesWholeBatch() {
        onBothPaths {
            let x = randomTensor([3, 2, 6, 7], seed: 90), w = randomTensor([3, 2, 3, 3], seed: 91)
            let saved = (ConvScratch.columnBudget, ConvScratch.minimumTileColumns)
            defer { (ConvScratch.columnBudget, ConvScratch.minimumTileColumns) = saved }
            ConvScratch.columnBudget = 1 << 20
            ConvScratch.minimumTileColumns = 1
            let whole = forwardBackward(x, w)
            // 18 column rows × 24 output positions per image: two images per chunk, then tiles starting and ending mid-row.
            for budget in [2 * 18 * 24, 18 * 5] {
                ConvScratch.columnBudget = budget
                let chunked = forwardBackward(x, w)
                for (a, b) in zip(whole, chunked) { assertClose(a, b, tol: 1e-5, "budget \(budget) vs whole batch") }
            }

            let tx = randomTensor([2, 3, 4, 3], seed: 92), tw = randomTensor([3, 2, 3, 3], seed: 93)
            ConvScratch.columnBudget = 1 << 20
            let wholeT = forwardBackward(tx, tw, transposed: true)
            ConvScratch.columnBudget = 13
            let tiledT = forwardBackward(tx, tw, transposed: true)
            for (a, b) in zip(wholeT, tiledT) { assertClose(a, b, tol: 1e-5, "transposed tiled vs whole") }
        }
    }

    /// Repeated runs are bitwise equal, and so are runs with one and two im2col/col2im threads.
    func testDeterministicAcrossRunsAndThreadCounts() {
        onBothPaths {
            let x = randomTensor([2, 4, 10, 9], seed: 100), w = randomTensor([4, 2, 3, 3], seed: 101)
            let saved = Threads.count
            defer { Threads.count = saved }
            Threads.count = 2
            let a = forwardBackward(x, w, transposed: false, groups: 2)
            let b = forwardBackward(x, w, transposed: false, groups: 2)
            Threads.count = 1
            let c = forwardBackward(x, w, transposed: false, groups: 2)
            XCTAssertEqual(a, b)
            XCTAssertEqual(a, c)
        }
    }

    /// Output, dX and dW (flattened) of a padded convolution (or its transpose) under a fixed projection.
    private func forwardBackward(_ x0: Tensor, _ w0: Tensor, transposed: Bool = false, groups: Int = 1) -> [[Float]] {
        let x = x0.detached(), w = w0.detached()
        x.requiresGrad = true
        w.requiresGrad = true
        let y = transposed
            ? Tensor.convTranspose2d(x, w, stride: 2, padding: 1, outputPadding: 1, groups: groups)
            : Tensor.conv2d(x, w, stride: [1, 2], padding: [1, 1], groups: groups)
        (y * randomTensor(y.shape, seed: 7)).sum().backward()
        return [y.array, x.grad!.array, w.grad!.array]
    }
}

/// The fast paths (Winograd F(2×2, 3×3), the shifted-plane im2col of "same" convolutions, the input gradient as a
/// convolution with the flipped kernel) against a direct sum over taps written out in the test.
/// The engine's own fast paths (Winograd, shifted-plane im2col, tiling), with oneDNN off so that they are reached.
final class ConvolutionFastPathTests: XCTestCase {
    var savedDNNL = true
    override func setUp() { savedDNNL = DNNLConvolution.enabled; DNNLConvolution.enabled = false }
    override func tearDown() { DNNLConvolution.enabled = savedDNNL }

    /// y[n, o, h, w] = Σ_{c, i, j} w[o, c, i, j] · x[n, c, h·s + i·d − p, w·s + j·d − p], zero outside.
    private func directConv2d(_ x: Tensor, _ w: Tensor, stride s: Int, padding p: Int, dilation d: Int) -> [Float] {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, k) = (w.shape[0], w.shape[2])
        let oh = (h + 2 * p - d * (k - 1) - 1) / s + 1, ow = (wd + 2 * p - d * (k - 1) - 1) / s + 1
        let xs = x.array, ws = w.array
        var y = [Float](repeating: 0, count: n * o * oh * ow)
        for b in 0..<n { for oc in 0..<o { for r in 0..<oh { for q in 0..<ow {
            var acc: Double = 0
            for ic in 0..<c { for i in 0..<k { for j in 0..<k {
                let hi = r * s + i * d - p, wi = q * s + j * d - p
                guard hi >= 0, hi < h, wi >= 0, wi < wd else { continue }
                acc += Double(ws[((oc * c + ic) * k + i) * k + j]) * Double(xs[((b * c + ic) * h + hi) * wd + wi])
            } } }
            y[((b * o + oc) * oh + r) * ow + q] = Float(acc)
        } } } }
        return y
    }

    private func assertMatches(_ a: [Float], _ b: [Float], rel: Float, _ what: String) {
        XCTAssertEqual(a.count, b.count, what)
        let scale = b.map(abs).max() ?? 1
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, rel * scale, "\(what): max error \(worst) against scale \(scale)")
    }

    /// The forward against the direct sum, and the gradients through their defining identities: for the loss
    /// ⟨r, conv(x, w)⟩, ⟨dX, v⟩ = ⟨r, conv(v, w)⟩ and ⟨dW, v′⟩ = ⟨r, conv(x, v′)⟩ (the convolution is linear in
    /// each argument), both right sides from the direct sum.
    private func check(n: Int, cin: Int, cout: Int, size: (Int, Int), padding: Int, dilation: Int = 1, kernel: Int = 3,
                       line: UInt = #line) {
        let x = randomTensor([n, cin, size.0, size.1], seed: UInt64(200 + cin)), w = randomTensor([cout, cin, kernel, kernel], seed: UInt64(300 + cout))
        let y = Tensor.conv2d(x, w, padding: padding, dilation: dilation)
        assertMatches(y.array, directConv2d(x, w, stride: 1, padding: padding, dilation: dilation), rel: 2e-5,
                      "forward \(cin)→\(cout) \(size) p\(padding) d\(dilation) (line \(line))")
        let r = randomTensor(y.shape, seed: 400), v = randomTensor(x.shape, seed: 401), vw = randomTensor(w.shape, seed: 402)
        let xg = x.detached(), wg = w.detached()
        xg.requiresGrad = true; wg.requiresGrad = true
        (Tensor.conv2d(xg, wg, padding: padding, dilation: dilation) * r).sum().backward()
        func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        let rs = r.array
        let wantX = dot(rs, directConv2d(v, w, stride: 1, padding: padding, dilation: dilation))
        let wantW = dot(rs, directConv2d(x, vw, stride: 1, padding: padding, dilation: dilation))
        let gotX = dot(xg.grad!.array, v.array), gotW = dot(wg.grad!.array, vw.array)
        XCTAssertEqual(gotX, wantX, accuracy: 1e-4 * max(1, abs(wantX)), "dX \(cin)→\(cout) (line \(line))")
        XCTAssertEqual(gotW, wantW, accuracy: 1e-4 * max(1, abs(wantW)), "dW \(cin)→\(cout) (line \(line))")
    }

    func testWinogradShapesMatchDirectSum() {
        XCTAssertTrue(ConvolutionAlgorithms.winograd)
        // Even and odd sizes (cropped last tile), padding 1 ("same") and 0, one chunk and several.
        check(n: 2, cin: 32, cout: 16, size: (8, 8), padding: 1)
        check(n: 1, cin: 32, cout: 32, size: (7, 5), padding: 1)
        check(n: 3, cin: 40, cout: 17, size: (6, 9), padding: 0)
        let saved = Winograd23.chunkBudget
        defer { Winograd23.chunkBudget = saved }
        // Chunks of ten tile rows (4 chunks, one per weight-gradient part), then of two (12 chunks, 3 per part).
        Winograd23.chunkBudget = 16 * 40 * 64
        check(n: 3, cin: 40, cout: 24, size: (13, 11), padding: 1)
        Winograd23.chunkBudget = 16 * 40 * 6 * 2
        check(n: 3, cin: 40, cout: 24, size: (13, 11), padding: 1)
    }

    func testShapePreservingIm2colMatchesDirectSum() {
        // Below Winograd's channel minimum, so im2col with the shifted-plane rows; a 5×5 and a dilated kernel.
        check(n: 2, cin: 3, cout: 4, size: (6, 7), padding: 1)
        check(n: 2, cin: 2, cout: 3, size: (5, 6), padding: 2, kernel: 5)
        check(n: 1, cin: 2, cout: 2, size: (7, 7), padding: 2, dilation: 2)
        // Tiles of output positions that start and end mid-row.
        let saved = (ConvScratch.columnBudget, ConvScratch.minimumTileColumns)
        defer { (ConvScratch.columnBudget, ConvScratch.minimumTileColumns) = saved }
        (ConvScratch.columnBudget, ConvScratch.minimumTileColumns) = (27 * 5, 1)
        check(n: 1, cin: 3, cout: 2, size: (6, 7), padding: 1)
    }

    /// 3D "same" convolutions in tiles of 7 output positions (crossing rows and depth slices) give what whole
    /// images give; the whole-image path is checked against PyTorch by the conv3d golden case.
    func testShapePreservingIm2col3dTilesMatchWholeImages() {
        let x = randomTensor([2, 2, 4, 5, 6], seed: 600), w = randomTensor([3, 2, 3, 3, 3], seed: 601)
        let r = randomTensor([2, 3, 4, 5, 6], seed: 602)
        func run() -> [[Float]] {
            let xg = x.detached(), wg = w.detached()
            xg.requiresGrad = true; wg.requiresGrad = true
            let y = Tensor.conv3d(xg, wg, padding: 1)
            (y * r).sum().backward()
            return [y.array, xg.grad!.array, wg.grad!.array]
        }
        // The engine's own path: groups-1 3D convolutions otherwise run on oneDNN.
        let dnnl = DNNLConvolution.enabled
        DNNLConvolution.enabled = false
        defer { DNNLConvolution.enabled = dnnl }
        let whole = run()
        let saved = (ConvScratch.columnBudget, ConvScratch.minimumTileColumns)
        defer { (ConvScratch.columnBudget, ConvScratch.minimumTileColumns) = saved }
        (ConvScratch.columnBudget, ConvScratch.minimumTileColumns) = (81 * 7, 1)
        for (a, b) in zip(whole, run()) { assertMatches(b, a, rel: 1e-5, "3D tiles vs whole") }
    }


    func testWinogradAgreesWithIm2col() {
        let x = randomTensor([4, 64, 10, 10], seed: 500), w = randomTensor([48, 64, 3, 3], seed: 501)
        let fast = Tensor.conv2d(x, w, padding: 1).array
        ConvolutionAlgorithms.winograd = false
        defer { ConvolutionAlgorithms.winograd = true }
        assertMatches(fast, Tensor.conv2d(x, w, padding: 1).array, rel: 2e-5, "Winograd vs im2col")
    }
}

/// oneDNN's convolutions against the engine's, and their independence of the thread count.
final class ConvolutionDNNLTests: XCTestCase {
    /// Forward and both gradients of a 3D convolution, `threads` engine threads, oneDNN on or off.
    func conv3dPass(_ x: Tensor, _ w: Tensor, _ b: Tensor, _ r: Tensor, stride: Int, threads: Int, dnnl: Bool) -> [[Float]] {
        let (savedThreads, savedDNNL) = (Threads.count, DNNLConvolution.enabled)
        defer { (Threads.count, DNNLConvolution.enabled) = (savedThreads, savedDNNL) }
        (Threads.count, DNNLConvolution.enabled) = (threads, dnnl)
        let xg = x.detached(), wg = w.detached(), bg = b.detached()
        for t in [xg, wg, bg] { t.requiresGrad = true }
        let y = Tensor.conv3d(xg, wg, bias: bg, stride: stride, padding: 1)
        (y * r).sum().backward()
        return [y.array, xg.grad!.array, wg.grad!.array, bg.grad!.array]
    }

    /// oneDNN and the engine's im2col path agree at UNETR-like channel counts, and oneDNN's results do not depend
    /// on the thread count (the engine's 1-vs-2-thread determinism rests on it).
    func testConv3dOnOneDNNAgreesWithTheEngineAndIsThreadCountIndependent() throws {
        let x = randomTensor([2, 16, 10, 9, 11], seed: 610), w = randomTensor([32, 16, 3, 3, 3], seed: 611)
        let b = randomTensor([32], seed: 612)
        for stride in [1, 2] {
            let probe = Tensor.conv3d(x, w, stride: stride, padding: 1)
            let r = randomTensor(probe.shape, seed: UInt64(613 + stride))
            let engine = conv3dPass(x, w, b, r, stride: stride, threads: 2, dnnl: false)
            let one = conv3dPass(x, w, b, r, stride: stride, threads: 1, dnnl: true)
            let two = conv3dPass(x, w, b, r, stride: stride, threads: 2, dnnl: true)
            for (name, (e, d)) in zip(["y", "dx", "dw", "db"], zip(engine, two)) { assertMatches(d, e, rel: 1e-4, "stride \(stride) \(name)") }
            XCTAssertEqual(one, two, "oneDNN at 1 and 2 threads, stride \(stride)")
        }
        guard CPUInfo.current.avx2 else { throw XCTSkip("oneDNN has no jit kernel on this CPU; the engine's path ran") }
        XCTAssertNotNil(DNNLConvolution.plan(x: x.shape, w: w.shape, stride: [1, 1, 1], padding: [1, 1, 1], dilation: [1, 1, 1],
                                             groups: 1, bias: true))
    }

    private func assertMatches(_ a: [Float], _ b: [Float], rel: Float, _ what: String) {
        let scale = b.map(abs).max() ?? 1
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, rel * scale, "\(what): max error \(worst) against scale \(scale)")
    }
}
