import Foundation
#if canImport(Glibc)
import Glibc
import COpenBLAS
#endif

/// glibc returns freed multi-megabyte blocks to the kernel (mmap threshold, heap trimming), so every fresh
/// activation tensor of a training step faults its pages in again: about a third of the time of a 1×1 convolution's
/// backward in a profile. Keeping freed memory in the process makes the next step reuse it. Set once, on the first
/// allocation.
private let mallocTuned: Bool = {
    #if canImport(Glibc)
    _ = mallopt(M_MMAP_THRESHOLD, 1 << 30)
    _ = mallopt(M_TRIM_THRESHOLD, 1 << 30)
    #endif
    return true
}()

/// Contiguous Float32 storage owned by one allocation. A class so that `reshape` can share it, and a raw
/// pointer so that hot loops carry no bounds, copy-on-write or retain/release checks.
public final class Storage {
    public let ptr: UnsafeMutablePointer<Float>
    public let count: Int
    public init(count: Int, zeroed: Bool = true) {
        _ = mallocTuned
        self.count = count
        ptr = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        if zeroed { ptr.initialize(repeating: 0, count: max(count, 1)) }
    }
    deinit { ptr.deallocate() }
}

/// A dense, row-major Float32 tensor with reverse-mode autograd.
///
/// Every tensor is contiguous: `reshape` shares storage, every other layout change (permute, slice, ...)
/// copies. That keeps each kernel to one indexing scheme; the copies are cheap beside the GEMMs.
/// A non-leaf tensor remembers its parents and one closure that turns its gradient into theirs.
public final class Tensor {
    public let shape: [Int]
    public let storage: Storage
    public var requiresGrad: Bool
    public var grad: Tensor?
    /// Parents in the autograd graph and the rule that propagates this tensor's gradient to them.
    var parents: [Tensor] = []
    var backwardFn: ((Tensor) -> Void)?
    /// Op name, for error messages and graph debugging.
    public var op: String = "leaf"

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    public var ptr: UnsafeMutablePointer<Float> { storage.ptr }
    public var isLeaf: Bool { backwardFn == nil }

    public init(storage: Storage, shape: [Int], requiresGrad: Bool = false) {
        precondition(shape.reduce(1, *) == storage.count, "shape \(shape) does not match storage of \(storage.count)")
        self.storage = storage
        self.shape = shape
        self.requiresGrad = requiresGrad
    }

    /// Zero-filled tensor.
    public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.init(storage: Storage(count: shape.reduce(1, *)), shape: shape, requiresGrad: requiresGrad)
    }

    /// Uninitialised storage; the caller must write every element.
    public static func empty(_ shape: [Int]) -> Tensor {
        Tensor(storage: Storage(count: shape.reduce(1, *), zeroed: false), shape: shape)
    }

    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(storage: Storage(count: values.count, zeroed: false), shape: shape, requiresGrad: requiresGrad)
        values.withUnsafeBufferPointer { storage.ptr.update(from: $0.baseAddress!, count: values.count) }
    }

    public convenience init(scalar: Float) { self.init([scalar], shape: []) }

    public convenience init(filled value: Float, shape: [Int], requiresGrad: Bool = false) {
        self.init(storage: Storage(count: shape.reduce(1, *), zeroed: false), shape: shape, requiresGrad: requiresGrad)
        storage.ptr.update(repeating: value, count: count)
    }

    public static func ones(_ shape: [Int]) -> Tensor { Tensor(filled: 1, shape: shape) }
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(zeros: shape) }

    public var array: [Float] { Array(UnsafeBufferPointer(start: ptr, count: count)) }
    public var item: Float {
        precondition(count == 1, "item() needs one element, tensor has shape \(shape)")
        return ptr[0]
    }
    public subscript(flat i: Int) -> Float {
        get { ptr[i] }
        set { ptr[i] = newValue }
    }

    /// A copy that is not part of any graph.
    public func detached() -> Tensor {
        let t = Tensor.empty(shape)
        t.ptr.update(from: ptr, count: count)
        return t
    }

    /// The same storage, cut from the graph (no copy). Use only for read-only access.
    public var data: Tensor { Tensor(storage: storage, shape: shape) }

    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy: \(other.shape) into \(shape)")
        ptr.update(from: other.ptr, count: count)
    }

    public func fill(_ v: Float) { ptr.update(repeating: v, count: count) }

    public var strides: [Int] { Tensor.strides(for: shape) }
    public static func strides(for shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
        return s
    }

    /// Normalises a possibly negative axis.
    @inline(__always) public func axis(_ a: Int) -> Int {
        let r = a < 0 ? a + rank : a
        precondition(r >= 0 && r < rank, "axis \(a) out of range for shape \(shape)")
        return r
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = array.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 8 ? ", ..." : "")], op: \(op))"
    }
}
