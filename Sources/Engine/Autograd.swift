import Foundation

/// Whether new operations record the graph. `withoutGrad` turns it off for evaluation.
public enum GradMode {
    nonisolated(unsafe) public static var enabled = true
}

/// Runs `body` without recording the autograd graph (evaluation, EMA updates, optimiser steps).
@discardableResult
public func withoutGrad<T>(_ body: () throws -> T) rethrows -> T {
    let saved = GradMode.enabled
    GradMode.enabled = false
    defer { GradMode.enabled = saved }
    return try body()
}

extension Tensor {
    /// Wires `out` into the graph when any input needs a gradient. Every primitive ends with this call, so the
    /// forward and gradient rules of one op stand side by side in its file.
    @discardableResult
    static func record(_ out: Tensor, _ op: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) -> Void) -> Tensor {
        out.op = op
        guard GradMode.enabled, inputs.contains(where: { $0.requiresGrad }) else { return out }
        out.requiresGrad = true
        out.parents = inputs
        out.backwardFn = backward
        return out
    }

    /// Adds `g` into this tensor's gradient (gradient accumulation across calls is the default, as in PyTorch).
    public func accumulateGrad(_ g: Tensor) {
        guard requiresGrad else { return }
        precondition(g.count == count, "gradient \(g.shape) for tensor \(shape) (op \(op))")
        if let existing = grad {
            Kernels.addInPlace(existing.ptr, g.ptr, count)
        } else {
            // Always a private copy: one gradient tensor is often handed to several parents.
            let copy = Tensor.empty(shape)
            copy.ptr.update(from: g.ptr, count: count)
            grad = copy
        }
    }

    /// `accumulateGrad` for a gradient nobody else holds: a tensor the backward rule has just computed, or the
    /// node's own gradient `g` passed to a single parent (the node drops it after its rule runs). It becomes this
    /// tensor's gradient without `accumulateGrad`'s defensive copy when there is nothing to add it to. A rule that
    /// hands `g` to two parents must let at most one of them take it.
    func takeGradient(_ g: Tensor) {
        guard requiresGrad else { return }
        if grad == nil { grad = g } else { accumulateGrad(g) }
    }

    /// Reverse-mode differentiation from this tensor. A non-scalar root needs an explicit seed gradient.
    public func backward(_ seed: Tensor? = nil) {
        precondition(requiresGrad, "backward() on a tensor that does not require grad (op \(op))")
        let g = seed ?? {
            precondition(count == 1, "backward() without a seed needs a scalar, got \(shape)")
            return Tensor(filled: 1, shape: shape)
        }()
        // Topological order by iterative DFS (deep U-Nets overflow a recursive one).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            if visited.contains(ObjectIdentifier(node)) { continue }
            visited.insert(ObjectIdentifier(node))
            stack.append((node, true))
            for p in node.parents where p.requiresGrad && !visited.contains(ObjectIdentifier(p)) { stack.append((p, false)) }
        }
        accumulateGrad(g)
        withoutGrad {
            for node in order.reversed() {
                guard let fn = node.backwardFn, let ng = node.grad else { continue }
                fn(ng)
                // Interior gradients are not kept (as in PyTorch without retain_grad) and the graph is freed.
                node.grad = nil
                node.backwardFn = nil
                node.parents = []
            }
        }
    }

    public func zeroGrad() { grad = nil }
}
