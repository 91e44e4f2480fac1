import Foundation
import CEngineSupport

// Elementwise primitives. Each op: forward loop, then its gradient rule, in one place.

extension Tensor {
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let out = binaryForward(a, b, AddFunction())
        return record(out, "add", [a, b]) { g in
            // g is this node's own gradient, dropped after this closure: one parent may keep it; a broadcast parent
            // gets a fresh sum instead (a bias), so only two full-size parents cost a copy.
            let ga = unbroadcast(g, to: a.shape), gb = unbroadcast(g, to: b.shape)
            if ga === gb { a.accumulateGrad(ga) } else { a.takeGradient(ga) }
            b.takeGradient(gb)
        }
    }
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let out = binaryForward(a, b, SubFunction())
        return record(out, "sub", [a, b]) { g in
            if b.requiresGrad { b.takeGradient(unbroadcast(-g, to: b.shape)) }
            a.takeGradient(unbroadcast(g, to: a.shape))
        }
    }
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let out = binaryForward(a, b, MulFunction())
        return record(out, "mul", [a, b]) { g in
            if a.requiresGrad { a.takeGradient(unbroadcast(g * b, to: a.shape)) }
            if b.requiresGrad { b.takeGradient(unbroadcast(g * a, to: b.shape)) }
        }
    }
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let out = binaryForward(a, b, DivFunction())
        let y = out.data  // the output's values without a reference cycle through its own closure
        return record(out, "div", [a, b]) { g in
            if a.requiresGrad { a.takeGradient(unbroadcast(g / b, to: a.shape)) }
            if b.requiresGrad { b.takeGradient(unbroadcast(-(g * y) / b, to: b.shape)) }
        }
    }
    /// Elementwise maximum; the gradient goes to `a` where a >= b (PyTorch splits ties; we do not).
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
        let out = binaryForward(a, b) { Swift.max($0, $1) }
        return record(out, "maximum", [a, b]) { g in
            let m = binaryForward(a, b) { $0 >= $1 ? 1 : 0 }
            if a.requiresGrad { a.takeGradient(unbroadcast(g * m, to: a.shape)) }
            if b.requiresGrad { b.takeGradient(unbroadcast(g * (1 - m), to: b.shape)) }
        }
    }

    public static func + (a: Tensor, s: Float) -> Tensor { a.map("addScalar", { $0 + s }) { _, _ in 1 } }
    public static func + (s: Float, a: Tensor) -> Tensor { a + s }
    public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
    public static func - (s: Float, a: Tensor) -> Tensor { a.map("rsubScalar", { s - $0 }) { _, _ in -1 } }
    public static func * (a: Tensor, s: Float) -> Tensor { a.map("mulScalar", { $0 * s }) { _, _ in s } }
    public static func * (s: Float, a: Tensor) -> Tensor { a * s }
    public static func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
    public static func / (s: Float, a: Tensor) -> Tensor { a.map("rdivScalar", { s / $0 }) { _, y in -y * y / s } }
    public static prefix func - (a: Tensor) -> Tensor { a.map("neg", { -$0 }) { _, _ in -1 } }

    /// A unary primitive: `f` forward, `df(x, y)` its derivative from the input and the output.
    @inline(__always)
    public func map(_ name: String, _ f: (Float) -> Float, _ df: @escaping (Float, Float) -> Float) -> Tensor {
        let out = Tensor.empty(shape)
        let pi = ptr, po = out.ptr
        parallelFor(count, minChunk: 1 << 14) { r in for i in r { po[i] = f(pi[i]) } }
        let ys = out.storage
        return Tensor.record(out, name, [self]) { [unowned self] g in
            let gi = Tensor.empty(self.shape)
            let pg = g.ptr, pgi = gi.ptr, px = self.ptr, py = ys.ptr
            parallelFor(self.count, minChunk: 1 << 14) { r in for i in r { pgi[i] = pg[i] * df(px[i], py[i]) } }
            self.takeGradient(gi)
        }
    }

    public func exp() -> Tensor { map("exp", { Foundation.exp($0) }) { _, y in y } }
    public func log() -> Tensor { map("log", { Foundation.log($0) }) { x, _ in 1 / x } }
    public func sqrt() -> Tensor { map("sqrt", { $0.squareRoot() }) { _, y in 0.5 / y } }
    public func rsqrt() -> Tensor { map("rsqrt", { 1 / $0.squareRoot() }) { _, y in -0.5 * y * y * y } }
    public func square() -> Tensor { map("square", { $0 * $0 }) { x, _ in 2 * x } }
    public func pow(_ p: Float) -> Tensor { map("pow", { Foundation.pow($0, p) }) { x, _ in p * Foundation.pow(x, p - 1) } }
    public func abs() -> Tensor { map("abs", { Swift.abs($0) }) { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) } }
    public func relu() -> Tensor { rectifier("relu", slope: 0) }
    public func leakyRelu(_ slope: Float = 0.01) -> Tensor { rectifier("leakyRelu", slope: slope) }
    public func sigmoid() -> Tensor { map("sigmoid", { 1 / (1 + Foundation.exp(-$0)) }) { _, y in y * (1 - y) } }
    public func tanh() -> Tensor { map("tanh", { Foundation.tanh($0) }) { _, y in 1 - y * y } }
    /// log(1 + exp(x)), stable for large |x|.
    public func softplus() -> Tensor {
        map("softplus", { $0 > 20 ? $0 : Foundation.log1p(Foundation.exp($0)) }) { x, _ in 1 / (1 + Foundation.exp(-x)) }
    }
    public func clamp(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        map("clamp", { Swift.min(Swift.max($0, lo), hi) }) { x, _ in x >= lo && x <= hi ? 1 : 0 }
    }

    /// GELU with the exact erf form (PyTorch's default) or the tanh approximation (`approximate: "tanh"`).
    public func gelu(tanhApproximation: Bool = false) -> Tensor {
        if tanhApproximation {
            let c: Float = 0.7978845608028654, k: Float = 0.044715
            return map("geluTanh", { x in 0.5 * x * (1 + Foundation.tanh(c * (x + k * x * x * x))) }) { x, _ in
                let u = c * (x + k * x * x * x), t = Foundation.tanh(u)
                return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * k * x * x)
            }
        }
        return geluExact()
    }

    /// x for x > 0, else slope·x (0 for a ReLU); the gradient is 1 or slope by the sign of x. Its own primitive
    /// rather than a `map`, whose closures are a call per element, on the vector-width kernels of CEngineSupport.
    private func rectifier(_ name: String, slope: Float) -> Tensor {
        let out = Tensor.empty(shape)
        let pi = ptr, po = out.ptr
        parallelFor(count, minChunk: 1 << 14) { r in repro_rectify_forward(pi + r.lowerBound, po + r.lowerBound, slope, r.count) }
        return Tensor.record(out, name, [self]) { [unowned self] g in
            let gi = Tensor.empty(self.shape)
            let pg = g.ptr, pgi = gi.ptr, px = self.ptr
            parallelFor(self.count, minChunk: 1 << 14) { r in
                repro_rectify_backward(pg + r.lowerBound, px + r.lowerBound, pgi + r.lowerBound, slope, r.count)
            }
            self.takeGradient(gi)
        }
    }

    /// x·Φ(x), dy/dx = Φ(x) + x·φ(x). Its own primitive rather than a `map`: Φ(x) from the forward is kept for the
    /// backward, and both loops run on CEngineSupport's vector-width kernels (exp and erfc polynomials, where
    /// libm's erff and expf were 13% of a ViT step).
    private func geluExact() -> Tensor {
        let out = Tensor.empty(shape)
        let cdf = GradMode.enabled && requiresGrad ? Tensor.empty(shape) : nil
        let pi = ptr, po = out.ptr, pc = cdf?.ptr
        parallelFor(count, minChunk: 1 << 14) { r in
            repro_gelu_forward(pi + r.lowerBound, po + r.lowerBound, pc.map { $0 + r.lowerBound }, r.count)
        }
        return Tensor.record(out, "gelu", [self]) { [unowned self] g in
            let gi = Tensor.empty(self.shape)
            let pg = g.ptr, pgi = gi.ptr, px = self.ptr, pc = cdf!.ptr
            parallelFor(self.count, minChunk: 1 << 14) { r in
                let o = r.lowerBound
                repro_gelu_backward(pg + o, px + o, pc + o, pgi + o, r.count)
            }
            self.takeGradient(gi)
        }
    }

    // Comparisons and masks: results are 0/1 tensors outside the graph.
    public func greater(_ s: Float) -> Tensor { withoutGrad { map("gt", { $0 > s ? 1 : 0 }) { _, _ in 0 } } }
    public func less(_ s: Float) -> Tensor { withoutGrad { map("lt", { $0 < s ? 1 : 0 }) { _, _ in 0 } } }
    public func equal(_ s: Float) -> Tensor { withoutGrad { map("eq", { $0 == s ? 1 : 0 }) { _, _ in 0 } } }
    public static func equal(_ a: Tensor, _ b: Tensor) -> Tensor { binaryForward(a, b) { $0 == $1 ? 1 : 0 } }

    /// mask ? a : b, with `mask` a 0/1 tensor broadcastable to both.
    public static func `where`(_ mask: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let m = mask.data
        return a * m + b * (1 - m)
    }
    /// Replaces entries where `mask` is 1 by `value` (attention masks use -inf or a large negative).
    public func maskedFill(_ mask: Tensor, _ value: Float) -> Tensor {
        let m = mask.data
        let out = Tensor.binaryForward(self, m) { x, k in k != 0 ? value : x }
        return Tensor.record(out, "maskedFill", [self]) { [unowned self] g in
            self.takeGradient(Tensor.unbroadcast(Tensor.binaryForward(g, m) { x, k in k != 0 ? 0 : x }, to: self.shape))
        }
    }

    public var hasNonFinite: Bool {
        for i in 0..<count where !ptr[i].isFinite { return true }
        return false
    }
}
