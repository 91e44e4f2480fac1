import XCTest
import Engine

/// Finite-difference gradient check.
///
/// The scalar checked is a random projection, sum(f(inputs) · R), so every output element carries a distinct
/// weight and a wrong index in a gradient cannot cancel out. Each input element is moved by ±eps and the central
/// difference is taken with the projection accumulated in Float64; the forward pass itself stays Float32, so
/// `eps` should be large enough to swamp Float32 rounding (1e-2 suits ops that are linear or piecewise linear
/// with gaps wider than eps). A pair passes when |analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|).
///
/// Returns the largest absolute difference seen, for tests that want to report it.
@discardableResult
func checkGradients(_ inputs: [Tensor], eps: Float = 1e-2, rtol: Float = 1e-3, atol: Float = 5e-4, seed: UInt64 = 99,
                    file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) -> Float {
    for t in inputs { t.requiresGrad = true; t.zeroGrad() }
    let out = f(inputs)
    var rng = RNG(seed: seed)
    let projection = Tensor.randn(out.shape, rng: &rng)
    (out * projection).sum().backward()

    func projected() -> Double {
        let y = withoutGrad { f(inputs) }
        XCTAssertEqual(y.shape, projection.shape, "forward shape changed under perturbation", file: file, line: line)
        var s = 0.0
        for i in 0..<y.count { s += Double(y.ptr[i]) * Double(projection.ptr[i]) }
        return s
    }

    var worst: Float = 0
    for (k, t) in inputs.enumerated() {
        guard let grad = t.grad else {
            XCTFail("input \(k) received no gradient", file: file, line: line)
            continue
        }
        XCTAssertEqual(grad.shape, t.shape, "input \(k): gradient shape", file: file, line: line)
        var failures = 0
        for i in 0..<t.count {
            let v = t.ptr[i]
            t.ptr[i] = v + eps
            let up = projected()
            t.ptr[i] = v - eps
            let down = projected()
            t.ptr[i] = v
            let numeric = Float((up - down) / (2 * Double(eps)))
            let analytic = grad.ptr[i]
            let diff = abs(analytic - numeric)
            worst = max(worst, diff)
            if diff > atol + rtol * max(abs(analytic), abs(numeric)) {
                failures += 1
                if failures <= 5 {
                    XCTFail("input \(k) \(t.shape) element \(i): autograd \(analytic), finite difference \(numeric)",
                            file: file, line: line)
                }
            }
        }
        if failures > 5 { XCTFail("input \(k): \(failures) elements failed in all", file: file, line: line) }
    }
    return worst
}

/// Random normal tensor for tests.
func randomTensor(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.randn(shape, std: std, rng: &rng)
}

/// A tensor whose values are a shuffled ladder 0, step, 2·step, ... (minus an offset): every pair of values differs
/// by at least `step`, so max pooling keeps its argmax under a finite-difference perturbation smaller than step/2.
func distinctTensor(_ shape: [Int], seed: UInt64, step: Float = 0.05) -> Tensor {
    let n = shape.reduce(1, *)
    var values = (0..<n).map { Float($0) * step - Float(n) * step / 2 }
    var rng = RNG(seed: seed)
    rng.shuffle(&values)
    return Tensor(values, shape: shape)
}

func assertClose(_ a: [Float], _ b: [Float], tol: Float = 1e-5, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(message): lengths differ", file: file, line: line)
    for (i, (x, y)) in zip(a, b).enumerated() where abs(x - y) > tol * max(1, abs(y)) {
        XCTFail("\(message): element \(i) is \(x), expected \(y)", file: file, line: line)
        return
    }
}
