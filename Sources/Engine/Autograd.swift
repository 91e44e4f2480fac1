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

/// Keeps freed tensor memory in the process heap. glibc hands blocks above its mmap threshold (128 KB, adapting up
/// to 32 MB) back to the kernel on free and trims the heap top beyond 128 KB, so every training step faulted its
/// activations and gradients in again page by page: 40% of a U-Net step's CPU time was the kernel zeroing pages
/// (unet16 b8 128², 3.9 s sys of 8.7 s). The cost is that resident memory stays at its high-water mark, which a
/// training loop reaches every step anyway.
enum HeapPolicy {
    static let applied: Bool = {
        #if canImport(Glibc)
        // mallopt is not in Swift's Glibc module; its parameter numbers are glibc's malloc.h values.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3
        guard let sym = dlsym(nil, "mallopt") else { return false }
        let mallopt = unsafeBitCast(sym, to: Mallopt.self)
        _ = mallopt(mmapThreshold, 1 << 30)
        _ = mallopt(trimThreshold, Int32.max)
        return true
        #else
        return false
        #endif
    }()
}

extension Tensor {
    /// Wires `out` into the graph when any input needs a gradient. Every primitive ends with this call, so the
    /// forward and gradient rules of one op stand side by side in its file.
    @discardableResult
    static func record(_ out: Tensor, _ op: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) -> Void) -> Tensor {
        out.op = op
        _ = HeapPolicy.applied
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
