import Engine

/// Non-trainable state that belongs in the state dict (BatchNorm's running statistics).
public final class Buffer {
    public var value: Tensor
    public init(_ value: Tensor) { self.value = value }
}

/// A layer that draws random masks in training (dropout, drop-path). Its stream is a value it owns, placed by the
/// training loop through `Module.placeRandomness`, never a global.
public protocol RandomLayer: AnyObject {
    var randomness: RNG { get set }
}

/// Base class of every layer and model.
///
/// Parameters, buffers and submodules are found by reflection over stored properties, so no layer keeps a hand
/// list that can drift from its fields. A stored `Tensor` is a parameter (trainable while `requiresGrad`), a
/// `Buffer` is state, a `Module` (also inside arrays or optionals) is a child. Names are the property names,
/// dotted, with array indices (`layers.0.weight`), which matches PyTorch's `state_dict` keys. A trailing
/// underscore is dropped so that Swift keywords can name fields (`self_` → `self`, as in Hugging Face's BERT).
open class Module {
    public private(set) var training = true

    public init() {}

    // MARK: Seeds as arguments

    /// torch's `reset_parameters`: gives this module's own parameters their initial values, drawn from `rng`. A
    /// container whose reference re-initialises its descendants (timm's ViT, BERT's `_init_weights`) overrides it
    /// too; `initialize(seed:)` runs it after every descendant's.
    open func resetParameters(_ rng: inout RNG) {}

    /// Initial values for every parameter from `seed`, the one way a model's weights are seeded. Each module draws
    /// from its own stream, `seed` forked by its dotted path, descendants before ancestors, so a weight depends on
    /// (seed, its path) alone: not on the order layers were built in, nor on what else was built before.
    /// Frozen parameters keep their values: they hold pre-trained weights (a frozen text encoder).
    public func initialize(seed: UInt64) {
        // A wholly frozen module (a pre-trained text encoder) is skipped; a frozen tensor inside a module that is
        // reset is put back afterwards.
        let modules = namedModules().reversed().filter { _, m in
            let own = m.namedParameters()
            return own.isEmpty || own.contains { $0.1.requiresGrad }
        }
        let frozen = namedParameters().filter { !$0.1.requiresGrad }.map { ($0.1, $0.1.detached()) }
        let root = RNG(seed: seed).fork("init")
        for (path, m) in modules {
            var rng = root.fork(path)
            m.resetParameters(&rng)
        }
        for (p, saved) in frozen { p.copy(from: saved) }
    }

    /// For constructors: a layer built on its own (a test, a benchmark) starts from its reference initialisation,
    /// drawn from a fixed stream named by its type; a model is then seeded by `initialize(seed:)`.
    public func resetFromDefaultStream() {
        var rng = RNG(seed: RNG.hash(String(describing: type(of: self))))
        resetParameters(&rng)
    }

    /// Places the stream of every dropout and drop-path layer inside: `rng` forked by the layer's path. Training
    /// loops call it at each step with a stream that is a function of (seed, phase, epoch, step), so a resumed run
    /// draws exactly the masks of the uninterrupted one, with no generator state to checkpoint.
    public func placeRandomness(_ rng: RNG) {
        for (path, layer) in randomLayers { layer.randomness = rng.fork(path) }
    }

    /// The training loops' convention: a step's masks are a function of (seed, phase, epoch, step) alone.
    public func placeRandomness(seed: UInt64, phase: String, epoch: Int, step: Int) {
        placeRandomness(RNG(seed: seed).fork("dropout." + phase).fork(UInt64(epoch)).fork(UInt64(step)))
    }

    private lazy var randomLayers: [(String, RandomLayer)] = namedModules().compactMap { path, m in
        (m as? RandomLayer).map { (path, $0) }
    }

    private static func key(_ label: String?) -> String? {
        guard var l = label else { return nil }
        if l.hasPrefix("$__lazy_storage_$_") { return nil }
        if l.hasSuffix("_") { l.removeLast() }
        return l
    }

    /// Stored properties of this instance and of its superclasses, in declaration order.
    private func fields() -> [(String, Any)] {
        var out: [(String, Any)] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        var levels: [[(String, Any)]] = []
        while let m = mirror {
            levels.append(m.children.compactMap { c in Module.key(c.label).map { ($0, c.value) } })
            mirror = m.superclassMirror
        }
        for l in levels.reversed() { out += l }
        return out
    }

    private static func visit(_ value: Any, _ name: String, _ f: (String, Any) -> Void) {
        switch value {
        case is Tensor, is Buffer, is Module: f(name, value)
        case let arr as [Module]: for (i, m) in arr.enumerated() { f("\(name).\(i)", m) }
        case let arr as [Tensor]: for (i, t) in arr.enumerated() { f("\(name).\(i)", t) }
        default:
            let m = Mirror(reflecting: value)
            if m.displayStyle == .optional, let some = m.children.first { visit(some.value, name, f) }
            else if m.displayStyle == .collection { for (i, c) in m.children.enumerated() where c.value is Module { f("\(name).\(i)", c.value) } }
        }
    }

    private func walk(_ prefix: String, _ f: (String, Any) -> Void) {
        for (label, value) in fields() {
            Module.visit(value, prefix.isEmpty ? label : "\(prefix).\(label)") { name, v in
                f(name, v)
                if let m = v as? Module { m.walk(name, f) }
            }
        }
    }

    public func namedParameters() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        walk("") { n, v in if let t = v as? Tensor { out.append((n, t)) } }
        return out
    }
    public func namedBuffers() -> [(String, Buffer)] {
        var out: [(String, Buffer)] = []
        walk("") { n, v in if let b = v as? Buffer { out.append((n, b)) } }
        return out
    }
    public func namedModules() -> [(String, Module)] {
        var out: [(String, Module)] = [("", self)]
        walk("") { n, v in if let m = v as? Module { out.append((n, m)) } }
        return out
    }

    /// Parameters the optimiser updates (frozen ones are skipped).
    public var trainableParameters: [Tensor] { namedParameters().map { $0.1 }.filter { $0.requiresGrad } }
    public var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.1.count } }

    public func train(_ on: Bool = true) { for (_, m) in namedModules() { m.training = on } }
    public func eval() { train(false) }

    /// Frozen parameters get no gradient and are left alone by optimisers (MOSMOS keeps its text encoder fixed).
    public func freeze() { for (_, p) in namedParameters() { p.requiresGrad = false } }
    public func unfreeze() { for (_, p) in namedParameters() { p.requiresGrad = true } }
    public func zeroGrad() { for (_, p) in namedParameters() { p.grad = nil } }

    /// Parameters and buffers by dotted name.
    public func stateDict() -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (n, p) in namedParameters() { d[n] = p }
        for (n, b) in namedBuffers() { d[n] = b.value }
        return d
    }

    /// Copies values by name. `strict` demands an exact key match; otherwise unmatched keys are returned.
    @discardableResult
    public func loadStateDict(_ d: [String: Tensor], strict: Bool = true) throws -> (missing: [String], unexpected: [String]) {
        let mine = stateDict()
        let missing = mine.keys.filter { d[$0] == nil }.sorted()
        let unexpected = d.keys.filter { mine[$0] == nil }.sorted()
        if strict && (!missing.isEmpty || !unexpected.isEmpty) {
            throw ModuleError.stateDictMismatch(missing: missing, unexpected: unexpected)
        }
        for (k, t) in mine {
            guard let src = d[k] else { continue }
            guard src.count == t.count else { throw ModuleError.shapeMismatch(key: k, expected: t.shape, got: src.shape) }
            t.copy(from: src)
        }
        return (missing, unexpected)
    }
}

public enum ModuleError: Error, CustomStringConvertible {
    case stateDictMismatch(missing: [String], unexpected: [String])
    case shapeMismatch(key: String, expected: [Int], got: [Int])
    public var description: String {
        switch self {
        case let .stateDictMismatch(m, u):
            return "state dict does not match the model: missing \(m.prefix(8))\(m.count > 8 ? " (+\(m.count - 8))" : ""), unexpected \(u.prefix(8))\(u.count > 8 ? " (+\(u.count - 8))" : ""). Check that the checkpoint belongs to this architecture and scale."
        case let .shapeMismatch(k, e, g):
            return "parameter \(k): checkpoint has shape \(g), model expects \(e). The checkpoint was made with another configuration."
        }
    }
}

/// A chain of layers applied in order.
public final class Sequential: Module {
    public let layers: [Layer]
    public init(_ layers: [Layer]) { self.layers = layers }
    public func callAsFunction(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }
}

/// A module with a single-tensor forward pass.
open class Layer: Module {
    open func forward(_ x: Tensor) -> Tensor { fatalError("\(type(of: self)) must override forward(_:)") }
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}

/// A parameter-free function used as a layer (activations inside Sequential).
public final class Lambda: Layer {
    let f: (Tensor) -> Tensor
    public init(_ f: @escaping (Tensor) -> Tensor) { self.f = f }
    public override func forward(_ x: Tensor) -> Tensor { f(x) }
}
