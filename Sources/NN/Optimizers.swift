import Foundation
import Engine

/// Parameters that share optimiser settings. `weightDecay` overrides the optimiser's (biases and norm weights
/// are often left undecayed); `lrScale` multiplies the learning rate (a smaller rate for a pretrained backbone).
public struct ParameterGroup {
    public var parameters: [Tensor]
    public var weightDecay: Float?
    public var lrScale: Float
    public init(_ parameters: [Tensor], weightDecay: Float? = nil, lrScale: Float = 1) {
        self.parameters = parameters
        self.weightDecay = weightDecay
        self.lrScale = lrScale
    }
}

public enum OptimizerError: Error, CustomStringConvertible {
    case stateMismatch(String)
    public var description: String {
        switch self { case let .stateMismatch(m): return "optimizer state does not fit these parameters: \(m)" }
    }
}

/// An optimiser updates its parameters in place from their gradients. Parameters without a gradient (unused
/// in this step, or frozen) are skipped, as in PyTorch. `learningRate` is the value a schedule sets each step.
public protocol Optimizer: AnyObject {
    var groups: [ParameterGroup] { get }
    var learningRate: Float { get set }
    func step()
    /// Per-parameter state (moments, step counts) by "state.<index>.<name>", for checkpoints.
    func stateDict() -> [String: Tensor]
    func loadStateDict(_ state: [String: Tensor]) throws
}

extension Optimizer {
    public var parameters: [Tensor] { groups.flatMap { $0.parameters } }
    /// Drops every gradient (PyTorch's zero_grad with set_to_none, its default).
    public func zeroGrad() { for p in parameters { p.grad = nil } }
}

/// Rescales all gradients together so that their global L2 norm is at most `maxNorm`
/// (torch.nn.utils.clip_grad_norm_: coefficient maxNorm / (norm + 1e-6), applied only when below 1).
/// Returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Float) -> Float {
    let grads = parameters.compactMap { $0.grad }
    var total = 0.0
    for g in grads {
        var s = 0.0
        for i in 0..<g.count { s += Double(g.ptr[i]) * Double(g.ptr[i]) }
        total += s
    }
    let norm = Float(total.squareRoot())
    let coefficient = maxNorm / (norm + 1e-6)
    if coefficient < 1 { for g in grads { Kernels.scaleInPlace(g.ptr, coefficient, g.count) } }
    return norm
}

/// Shared state handling: one optional state tensor per parameter and slot.
private func slotTensor(_ slots: [Tensor?], _ i: Int, _ like: Tensor) -> Tensor { slots[i] ?? Tensor(zeros: like.shape) }

private func loadSlot(_ state: [String: Tensor], _ key: String, like p: Tensor) throws -> Tensor? {
    guard let t = state[key] else { return nil }
    guard t.count == p.count else { throw OptimizerError.stateMismatch("\(key) has shape \(t.shape), parameter has \(p.shape)") }
    return t.detached().reshaped(p.shape)
}

// MARK: - SGD

/// SGD with momentum, dampening, Nesterov and L2 weight decay, exactly torch.optim.SGD:
/// d = g + λ·p; b = d on the first step, else μ·b + (1 − τ)·d; d = d + μ·b (Nesterov) or b; p −= lr·d.
public final class SGD: Optimizer {
    public let groups: [ParameterGroup]
    public var learningRate: Float
    public let momentum: Float
    public let dampening: Float
    public let weightDecay: Float
    public let nesterov: Bool
    private var momentumBuffers: [Tensor?]

    public init(_ groups: [ParameterGroup], lr: Float, momentum: Float = 0, dampening: Float = 0,
                weightDecay: Float = 0, nesterov: Bool = false) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "Nesterov momentum requires a momentum and zero dampening")
        self.groups = groups
        learningRate = lr
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        momentumBuffers = Array(repeating: nil, count: groups.reduce(0) { $0 + $1.parameters.count })
    }
    public convenience init(_ parameters: [Tensor], lr: Float, momentum: Float = 0, dampening: Float = 0,
                            weightDecay: Float = 0, nesterov: Bool = false) {
        self.init([ParameterGroup(parameters)], lr: lr, momentum: momentum, dampening: dampening,
                  weightDecay: weightDecay, nesterov: nesterov)
    }

    public func step() {
        var index = 0
        for group in groups {
            let lr = learningRate * group.lrScale, wd = group.weightDecay ?? weightDecay
            for p in group.parameters {
                defer { index += 1 }
                guard let g = p.grad else { continue }
                let pp = p.ptr, pg = g.ptr
                let mu = momentum, damp = 1 - dampening, nesterov = self.nesterov
                if mu == 0 {
                    parallelFor(p.count, minChunk: 1 << 15) { r in for i in r { pp[i] -= lr * (pg[i] + wd * pp[i]) } }
                    continue
                }
                let first = momentumBuffers[index] == nil
                let buffer = slotTensor(momentumBuffers, index, p)
                momentumBuffers[index] = buffer
                let pb = buffer.ptr
                parallelFor(p.count, minChunk: 1 << 15) { r in
                    for i in r {
                        let d = pg[i] + wd * pp[i]
                        let b = first ? d : mu * pb[i] + damp * d
                        pb[i] = b
                        pp[i] -= lr * (nesterov ? d + mu * b : b)
                    }
                }
            }
        }
    }

    public func stateDict() -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (i, b) in momentumBuffers.enumerated() { if let b { d["state.\(i).momentum_buffer"] = b } }
        return d
    }

    public func loadStateDict(_ state: [String: Tensor]) throws {
        for (i, p) in parameters.enumerated() { momentumBuffers[i] = try loadSlot(state, "state.\(i).momentum_buffer", like: p) }
    }
}

// MARK: - Adam / AdamW

/// Adam with torch.optim.Adam's exact update, fused into one loop per parameter:
/// m ← m + (1 − β₁)(g − m); v ← β₂v + (1 − β₂)g²; p ← p − (lr/(1 − β₁ᵗ))·m / (√v/√(1 − β₂ᵗ) + ε).
/// Weight decay is L2 (added to g) here and decoupled (p ← p·(1 − lr·λ) first) in `AdamW`.
public class Adam: Optimizer {
    public let groups: [ParameterGroup]
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let eps: Float
    public let weightDecay: Float
    let decoupled: Bool
    private var firstMoments: [Tensor?]
    private var secondMoments: [Tensor?]
    private var steps: [Int]

    init(groups: [ParameterGroup], lr: Float, betas: (Float, Float), eps: Float, weightDecay: Float, decoupled: Bool) {
        self.groups = groups
        learningRate = lr
        beta1 = betas.0
        beta2 = betas.1
        self.eps = eps
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        let n = groups.reduce(0) { $0 + $1.parameters.count }
        firstMoments = Array(repeating: nil, count: n)
        secondMoments = Array(repeating: nil, count: n)
        steps = Array(repeating: 0, count: n)
    }
    public convenience init(_ groups: [ParameterGroup], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                            eps: Float = 1e-8, weightDecay: Float = 0) {
        self.init(groups: groups, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, decoupled: false)
    }
    public convenience init(_ parameters: [Tensor], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                            eps: Float = 1e-8, weightDecay: Float = 0) {
        self.init(groups: [ParameterGroup(parameters)], lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, decoupled: false)
    }

    public func step() {
        var index = 0
        for group in groups {
            let lr = learningRate * group.lrScale, wd = group.weightDecay ?? weightDecay
            for p in group.parameters {
                defer { index += 1 }
                guard let g = p.grad else { continue }
                let m = slotTensor(firstMoments, index, p), v = slotTensor(secondMoments, index, p)
                firstMoments[index] = m; secondMoments[index] = v
                steps[index] += 1
                update(p, g, m, v, step: steps[index], lr: lr, wd: wd)
            }
        }
    }

    private func update(_ p: Tensor, _ g: Tensor, _ m: Tensor, _ v: Tensor, step: Int, lr: Float, wd: Float) {
        // Scalars in Double, then rounded once, as PyTorch computes them in Python floats.
        let t = Double(step)
        let bc1 = 1 - Foundation.pow(Double(beta1), t), bc2 = 1 - Foundation.pow(Double(beta2), t)
        let stepSize = Float(Double(lr) / bc1), bc2Sqrt = Float(bc2.squareRoot())
        let oneMinusB1 = Float(1 - Double(beta1)), oneMinusB2 = Float(1 - Double(beta2)), b2 = beta2, eps = self.eps
        let decay: Float = decoupled ? Float(1 - Double(lr) * Double(wd)) : 1
        let l2: Float = decoupled ? 0 : wd
        let pp = p.ptr, pg = g.ptr, pm = m.ptr, pv = v.ptr
        // One step of the update for 1 or 16 elements; the same operations in the same order either way.
        @inline(__always) func adam<V: SIMD>(_ p: V, _ g: V, _ m: V, _ v: V) -> (V, V, V) where V.Scalar == Float {
            let gi = g + l2 * p
            let mi = m + oneMinusB1 * (gi - m)
            let vi = b2 * v + oneMinusB2 * gi * gi
            return (p - stepSize * (mi / (vi.squareRoot() / bc2Sqrt + eps)), mi, vi)
        }
        parallelFor(p.count, minChunk: 1 << 14) { r in
            // Explicit vectors: Float.squareRoot() in a loop became a libm call with an errno check, which kept the
            // loop scalar (Adam was 4.5 % of a U-Net step at 64²).
            if decay != 1 { for i in r { pp[i] *= decay } }
            var i = r.lowerBound
            while i + 16 <= r.upperBound {
                @inline(__always) func load(_ q: UnsafeMutablePointer<Float>) -> SIMD16<Float> {
                    UnsafeRawPointer(q + i).loadUnaligned(as: SIMD16<Float>.self)
                }
                let (np, nm, nv) = adam(load(pp), load(pg), load(pm), load(pv))
                UnsafeMutableRawPointer(pp + i).storeBytes(of: np, as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(pm + i).storeBytes(of: nm, as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(pv + i).storeBytes(of: nv, as: SIMD16<Float>.self)
                i += 16
            }
            while i < r.upperBound {
                let (np, nm, nv) = adam(SIMD2(pp[i], 0), SIMD2(pg[i], 0), SIMD2(pm[i], 0), SIMD2(pv[i], 0))
                pp[i] = np[0]; pm[i] = nm[0]; pv[i] = nv[0]
                i += 1
            }
        }
    }

    public func stateDict() -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for i in 0..<steps.count where steps[i] > 0 {
            d["state.\(i).step"] = Tensor(scalar: Float(steps[i]))
            d["state.\(i).exp_avg"] = firstMoments[i]
            d["state.\(i).exp_avg_sq"] = secondMoments[i]
        }
        return d
    }

    public func loadStateDict(_ state: [String: Tensor]) throws {
        for (i, p) in parameters.enumerated() {
            firstMoments[i] = try loadSlot(state, "state.\(i).exp_avg", like: p)
            secondMoments[i] = try loadSlot(state, "state.\(i).exp_avg_sq", like: p)
            steps[i] = state["state.\(i).step"].map { Int($0.item) } ?? 0
            if (firstMoments[i] == nil) != (steps[i] == 0) { throw OptimizerError.stateMismatch("parameter \(i) has moments without a step count or the reverse") }
        }
    }
}

/// AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, torch.optim.AdamW's defaults (λ = 0.01).
public final class AdamW: Adam {
    public convenience init(_ groups: [ParameterGroup], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                            eps: Float = 1e-8, weightDecay: Float = 1e-2) {
        self.init(groups: groups, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, decoupled: true)
    }
    public convenience init(_ parameters: [Tensor], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                            eps: Float = 1e-8, weightDecay: Float = 1e-2) {
        self.init(groups: [ParameterGroup(parameters)], lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, decoupled: true)
    }
}
